//! The number inventory (SPEC §2): the numbers the operator offers for
//! sale, with their prices, and the search buyers run over them.
//!
//! A listing's number is a store key ([`numbering::Number::key`]); reading
//! written forms, checking that a country exists and that a number belongs
//! to it, and classifying premium numbers ([`numbering::golden`]) happen
//! before a listing reaches the store (`web::inventory` does it for the API
//! and the CLI). The store checks shapes and keeps the batch whole.
//!
//! Prices are exact: [`Decimal`] amounts with an ISO 4217 currency, at most
//! four decimal places (every ISO 4217 minor unit fits), stored as integer
//! ten-thousandths so that both engines compare and index them as numbers
//! (see migration 0005).

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::{Result, StoreError};
use crate::model::{
    check_number_of_kind, country_code, excerpt, text_enum, NumberKind, UnixMillis,
};
use crate::{Backend, Store};

/// The most listings one search returns.
pub const MAX_SEARCH_LIMIT: u32 = 100;
/// The most decimal places a price may have.
pub const PRICE_SCALE: u32 = 4;
/// The longest area code, in digits.
pub const MAX_AREA_CODE: usize = 8;
/// The longest "contains" pattern, in digits.
pub const MAX_CONTAINS: usize = 15;

text_enum! {
    /// What is for sale: a PIN, a VNS, a PSTN number, or a virtual
    /// business number (SPEC §5: an E.164 DID from the operator's ranges,
    /// bought by a company for its employees' pool).
    pub enum ListingKind ("kind") {
        Pin = "pin",
        Vns = "vns",
        E164 = "e164",
        Did = "did",
    }
}

text_enum! {
    /// Where a listed number is in its sale. Only `available` numbers are
    /// found by search; the purchase flow moves them on.
    pub enum ListingState ("state") {
        Available = "available",
        Held = "held",
        Sold = "sold",
        Withdrawn = "withdrawn",
    }
}

text_enum! {
    /// Why a number is premium ("golden"): numbering's [`numbering::Golden`]
    /// class.
    pub enum Premium ("premium") {
        Repeating = "repeating",
        Sequential = "sequential",
        Repeated = "repeated",
    }
}

impl ListingKind {
    /// The kind of number the key is: a DID is an E.164 number.
    pub fn number_kind(self) -> NumberKind {
        match self {
            ListingKind::Pin => NumberKind::Pin,
            ListingKind::Vns => NumberKind::Vns,
            ListingKind::E164 | ListingKind::Did => NumberKind::E164,
        }
    }
}

impl From<numbering::Golden> for Premium {
    fn from(golden: numbering::Golden) -> Premium {
        match golden {
            numbering::Golden::Repeating { .. } => Premium::Repeating,
            numbering::Golden::Sequential { .. } => Premium::Sequential,
            numbering::Golden::Repeated { .. } => Premium::Repeated,
        }
    }
}

/// A number to put on sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewListing {
    /// The store key ([`numbering::Number::key`]) of a `kind` number.
    pub number: String,
    pub kind: ListingKind,
    /// ISO 3166-1 alpha-2, any case; stored upper case.
    pub country: String,
    /// Digits, at most [`MAX_AREA_CODE`].
    pub area_code: Option<String>,
    /// The one-off price.
    pub price: Decimal,
    /// The monthly rental.
    pub monthly: Decimal,
    /// ISO 4217: three letters, any case; stored upper case.
    pub currency: String,
    pub premium: Option<Premium>,
}

/// A listed number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub number: String,
    pub kind: ListingKind,
    pub country: String,
    pub area_code: Option<String>,
    pub price: Decimal,
    pub monthly: Decimal,
    pub currency: String,
    pub premium: Option<Premium>,
    pub state: ListingState,
    pub created_at: UnixMillis,
}

impl NewListing {
    /// Every check the store makes, without writing.
    pub fn validate(&self) -> Result<()> {
        check_number_of_kind(&self.number, self.kind.number_kind())?;
        country_code(&self.country)?;
        if let Some(area) = &self.area_code {
            check_digits("area code", area, MAX_AREA_CODE)?;
        }
        amount_e4("price", self.price)?;
        amount_e4("monthly rental", self.monthly)?;
        currency_code(&self.currency)?;
        Ok(())
    }
}

/// What a search asks for. Every filter is optional; results are available
/// numbers in key order, after the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySearch {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub kind: Option<ListingKind>,
    /// Area codes starting with these digits.
    pub area_prefix: Option<String>,
    /// Numbers whose key contains these digits anywhere.
    pub contains: Option<String>,
    /// One-off price at least this (in the listing's currency).
    pub min_price: Option<Decimal>,
    /// One-off price at most this.
    pub max_price: Option<Decimal>,
    /// Premium numbers only.
    pub premium_only: bool,
    /// The last number of the previous page (its `next_cursor`).
    pub after: Option<String>,
    /// 1 to [`MAX_SEARCH_LIMIT`].
    pub limit: u32,
}

impl Default for InventorySearch {
    fn default() -> Self {
        InventorySearch {
            country: None,
            kind: None,
            area_prefix: None,
            contains: None,
            min_price: None,
            max_price: None,
            premium_only: false,
            after: None,
            limit: 20,
        }
    }
}

impl InventorySearch {
    pub fn validate(&self) -> Result<()> {
        if let Some(country) = &self.country {
            country_code(country)?;
        }
        if let Some(area) = &self.area_prefix {
            check_digits("area code", area, MAX_AREA_CODE)?;
        }
        if let Some(contains) = &self.contains {
            check_digits("contains", contains, MAX_CONTAINS)?;
        }
        let min = self
            .min_price
            .map(|p| amount_e4("min_price", p))
            .transpose()?;
        let max = self
            .max_price
            .map(|p| amount_e4("max_price", p))
            .transpose()?;
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(StoreError::invalid(
                    "price range",
                    format!(
                        "min_price {} is above max_price {}",
                        self.min_price.unwrap_or_default(),
                        self.max_price.unwrap_or_default()
                    ),
                ));
            }
        }
        if let Some(after) = &self.after {
            if after.is_empty() || after.chars().count() > crate::limits::NUMBER {
                return Err(StoreError::invalid(
                    "cursor",
                    "a cursor is the next_cursor of a previous page",
                ));
            }
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&self.limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("{} is out of range: 1 to {MAX_SEARCH_LIMIT}", self.limit),
            ));
        }
        Ok(())
    }
}

/// What an import did. When any number was already listed, nothing was
/// imported: `imported` is 0 and `already_listed` holds the positions (in
/// the batch given) of the numbers that were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub imported: u64,
    pub already_listed: Vec<usize>,
}

/// The marketplace's stock.
pub trait Inventory {
    /// Lists every number of `listings` in one transaction: all of them or
    /// none. Every listing is checked first (`Invalid` names the position
    /// of the first bad one, as does a number given twice); numbers already
    /// in the inventory are reported in the outcome, and nothing is
    /// written. `progress` is told how many listings have been written so
    /// far, every thousand or so.
    fn import_listings(
        &self,
        listings: &[NewListing],
        progress: &(dyn Fn(usize) + Sync),
    ) -> impl Future<Output = Result<ImportOutcome>> + Send;

    /// Available numbers matching `search`, in key order, at most
    /// `search.limit`.
    fn search_inventory(
        &self,
        search: &InventorySearch,
    ) -> impl Future<Output = Result<Vec<Listing>>> + Send;

    /// One listed number, in whatever state.
    fn listing(&self, number: &str) -> impl Future<Output = Result<Option<Listing>>> + Send;
}

impl Inventory for Store {
    async fn import_listings(
        &self,
        listings: &[NewListing],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<ImportOutcome> {
        match &self.backend {
            Backend::Sqlite(store) => store.import_listings(listings, progress).await,
            Backend::Postgres(store) => store.import_listings(listings, progress).await,
        }
    }

    async fn search_inventory(&self, search: &InventorySearch) -> Result<Vec<Listing>> {
        match &self.backend {
            Backend::Sqlite(store) => store.search_inventory(search).await,
            Backend::Postgres(store) => store.search_inventory(search).await,
        }
    }

    async fn listing(&self, number: &str) -> Result<Option<Listing>> {
        match &self.backend {
            Backend::Sqlite(store) => store.listing(number).await,
            Backend::Postgres(store) => store.listing(number).await,
        }
    }
}

// ---------------------------------------------------------------- checks

/// Checks a whole batch: each listing, and no number twice.
pub(crate) fn validate_batch(listings: &[NewListing]) -> Result<()> {
    let mut seen = std::collections::HashMap::with_capacity(listings.len());
    for (i, listing) in listings.iter().enumerate() {
        listing.validate().map_err(|err| match err {
            StoreError::Invalid { field, reason } => StoreError::Invalid {
                field,
                reason: format!("listing {}: {reason}", i + 1),
            },
            other => other,
        })?;
        if let Some(first) = seen.insert(listing.number.as_str(), i) {
            return Err(StoreError::invalid(
                "number",
                format!(
                    "listing {}: {} is also listing {}",
                    i + 1,
                    listing.number,
                    first + 1
                ),
            ));
        }
    }
    Ok(())
}

fn check_digits(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::invalid(
            field,
            format!("{:?} is not 1 to {max} digits", excerpt(value)),
        ));
    }
    Ok(())
}

/// An amount as stored: ten-thousandths, as an integer. Negative amounts,
/// more than four decimal places and amounts too large to store are
/// refused.
pub(crate) fn amount_e4(field: &'static str, amount: Decimal) -> Result<i64> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(StoreError::invalid(field, format!("{amount} is negative")));
    }
    let normal = amount.normalize();
    if normal.scale() > PRICE_SCALE {
        return Err(StoreError::invalid(
            field,
            format!("{amount} has more than {PRICE_SCALE} decimal places"),
        ));
    }
    let mut scaled = normal;
    scaled.rescale(PRICE_SCALE);
    i64::try_from(scaled.mantissa())
        .map_err(|_| StoreError::invalid(field, format!("{amount} is too large")))
}

/// An amount read back from its ten-thousandths.
pub(crate) fn amount_from_e4(units: i64) -> Decimal {
    Decimal::new(units, PRICE_SCALE).normalize()
}

/// ISO 4217: three letters, stored upper case. Whether the code is
/// assigned is for the layer above.
pub(crate) fn currency_code(currency: &str) -> Result<String> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(currency.to_ascii_uppercase())
    } else {
        Err(StoreError::invalid(
            "currency",
            format!(
                "{:?} is not an ISO 4217 code (three letters, e.g. KRW)",
                excerpt(currency)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_stored_exactly_in_ten_thousandths() {
        let amount = |text: &str| amount_e4("price", text.parse().unwrap());
        assert_eq!(amount("12.5").unwrap(), 125_000);
        assert_eq!(amount("0.0001").unwrap(), 1);
        assert_eq!(amount("3.10000").unwrap(), 31_000);
        assert_eq!(amount("0").unwrap(), 0);
        assert!(amount("0.00001").is_err());
        assert!(amount("-1").is_err());
        assert!(amount("10000000000000000").is_err());
        assert_eq!(amount_from_e4(125_000).to_string(), "12.5");
    }
}
