//! Monthly rentals and numbers given back (SPEC §2, §6).
//!
//! An assigned order carries the listing's monthly rental. The first
//! month — the calendar month (UTC) of the purchase — is charged with the
//! price when the order is paid ([`Orders::pay_order_from_balance`] takes
//! both or nothing); every later month is charged by the rental run
//! ([`Rentals::run_rentals`]), once per order and [`BillingMonth`]: the
//! `rentals` table's key (order, month) makes a second run, or two at once
//! on two nodes, charge nothing more. A whole month is charged, never a
//! part (no proration), as for a phone line.
//!
//! A rental is a `rental` transaction in the double-entry ledger ("rental
//! of 02-6200-6200-082 for 2026-12"). When the balance cannot cover it, it
//! is charged all the same: the debt is recorded, the balance goes below
//! zero, and the member is listed in [`Rentals::arrears`] until a top-up
//! covers it. A purchase still needs the money on the balance.
//!
//! An owner gives a number back with [`Rentals::release_number`]: the grant
//! goes (with its SIP credentials, directory entries and claims), the
//! registrar's bindings of it go, its rental stops, and the number returns
//! to the inventory after a quarantine ([`DEFAULT_QUARANTINE_MS`], 90 days,
//! unless configured; 0 puts it on sale at once) so that callers of the
//! previous holder do not reach the next one. [`Rentals::end_quarantines`]
//! puts numbers whose quarantine ended back on sale. Every release is kept
//! with who and when ([`Rentals::number_releases`]).
//!
//! [`Orders::pay_order_from_balance`]: crate::Orders::pay_order_from_balance

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::{Result, StoreError};
use crate::model::{excerpt, MemberId, UnixMillis};
use crate::orders::Actor;
use crate::{Backend, Store};

const DAY_MS: i64 = 86_400_000;

/// How long a number given back stays out of sale unless configured: 90
/// days, what operators commonly give recycled numbers.
pub const DEFAULT_QUARANTINE_MS: i64 = 90 * DAY_MS;

/// A calendar month in UTC, written `YYYY-MM`: what a rental is charged
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingMonth {
    year: i32,
    /// 1 to 12.
    month: u32,
}

impl BillingMonth {
    /// The month `millis` falls in.
    pub fn of(millis: UnixMillis) -> BillingMonth {
        let (year, month, _) = civil_from_days(millis.div_euclid(DAY_MS));
        BillingMonth { year, month }
    }

    /// Its first millisecond.
    pub fn start(self) -> UnixMillis {
        days_from_civil(self.year, self.month, 1) * DAY_MS
    }

    /// The first millisecond of the month after.
    pub fn end(self) -> UnixMillis {
        self.next().start()
    }

    pub fn next(self) -> BillingMonth {
        if self.month == 12 {
            BillingMonth {
                year: self.year + 1,
                month: 1,
            }
        } else {
            BillingMonth {
                month: self.month + 1,
                ..self
            }
        }
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingMonth {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<BillingMonth> {
        let bad = || {
            StoreError::invalid(
                "month",
                format!(
                    "{:?} is not a month written YYYY-MM (e.g. 2026-12)",
                    excerpt(text)
                ),
            )
        };
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(BillingMonth { year, month })
    }
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm).
pub(crate) fn civil_from_days(day: i64) -> (i32, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Within i32 and 1..=12 / 1..=31 for any day a UnixMillis can name.
    (y as i32, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (the inverse).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A number given back by its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRelease {
    pub id: i64,
    pub number: String,
    /// Who held it.
    pub member_id: MemberId,
    /// The order it was bought with, if it came from the marketplace.
    pub order_id: Option<i64>,
    /// "member 7", "operator".
    pub actor: String,
    pub at: UnixMillis,
    /// Out of sale until then.
    pub quarantine_until: UnixMillis,
    /// When it went back on sale (`None`: still in quarantine, or never
    /// listed).
    pub returned_at: Option<UnixMillis>,
}

/// One rental charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RentalCharge {
    pub order_id: i64,
    pub member_id: MemberId,
    pub number: String,
    pub amount: Decimal,
    pub currency: String,
    pub transaction_id: i64,
    /// The member's balance in that currency afterwards (below zero: in
    /// arrears).
    pub balance: Decimal,
}

/// A member whose balance in a currency is below zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrear {
    pub member_id: MemberId,
    pub currency: String,
    /// Negative.
    pub balance: Decimal,
}

/// What a rental run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RentalRun {
    pub month: BillingMonth,
    /// Charged by this run.
    pub charged: Vec<RentalCharge>,
    /// Assigned numbers whose month was charged before (by an earlier
    /// run, another node, or at purchase).
    pub already_charged: u64,
    /// Every member in arrears after the run.
    pub arrears: Vec<Arrear>,
}

/// Rentals, releases and arrears.
pub trait Rentals {
    /// `member` gives `number` (a store key) back at `now`, `by` whom: the
    /// grant, its SIP credentials, directory entries, claims and registrar
    /// bindings go, its rental stops, and a listed number returns to sale
    /// after `quarantine_ms` (at once when 0). `NotFound` when the member
    /// does not hold the number.
    fn release_number(
        &self,
        member: MemberId,
        number: &str,
        by: Actor,
        now: UnixMillis,
        quarantine_ms: i64,
    ) -> impl Future<Output = Result<NumberRelease>> + Send;

    /// The releases of `number`, oldest first.
    fn number_releases(
        &self,
        number: &str,
    ) -> impl Future<Output = Result<Vec<NumberRelease>>> + Send;

    /// Puts numbers whose quarantine ended by `now` back on sale; how many.
    fn end_quarantines(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;

    /// Charges `month`'s rental of every number assigned before the month
    /// ended and not given back before it began, once per number and
    /// month, at `now`. A month that has not begun by `now` is `Invalid`.
    fn run_rentals(
        &self,
        month: BillingMonth,
        now: UnixMillis,
    ) -> impl Future<Output = Result<RentalRun>> + Send;

    /// Members whose balance is below zero, by member and currency.
    fn arrears(&self) -> impl Future<Output = Result<Vec<Arrear>>> + Send;
}

/// Calls the same method on whichever engine the store is.
macro_rules! on_engine {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(store) => store.$method($($arg),*).await,
            Backend::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

impl Rentals for Store {
    async fn release_number(
        &self,
        member: MemberId,
        number: &str,
        by: Actor,
        now: UnixMillis,
        quarantine_ms: i64,
    ) -> Result<NumberRelease> {
        on_engine!(self.release_number(member, number, by, now, quarantine_ms))
    }
    async fn number_releases(&self, number: &str) -> Result<Vec<NumberRelease>> {
        on_engine!(self.number_releases(number))
    }
    async fn end_quarantines(&self, now: UnixMillis) -> Result<u64> {
        on_engine!(self.end_quarantines(now))
    }
    async fn run_rentals(&self, month: BillingMonth, now: UnixMillis) -> Result<RentalRun> {
        on_engine!(self.run_rentals(month, now))
    }
    async fn arrears(&self) -> Result<Vec<Arrear>> {
        on_engine!(self.arrears())
    }
}

/// A month is charged once it has begun, never ahead.
pub(crate) fn check_month_begun(month: BillingMonth, now: UnixMillis) -> Result<()> {
    if month.start() > now {
        return Err(StoreError::invalid(
            "month",
            format!("{month} has not begun; rentals are charged from the month's first day"),
        ));
    }
    Ok(())
}

pub(crate) fn check_quarantine(quarantine_ms: i64) -> Result<()> {
    if quarantine_ms < 0 {
        return Err(StoreError::invalid(
            "quarantine",
            format!("{quarantine_ms} ms: a quarantine cannot be negative"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_as_yyyy_mm_and_bound_by_their_first_milliseconds() {
        let december: BillingMonth = "2026-12".parse().unwrap();
        assert_eq!(december.to_string(), "2026-12");
        // 2026-12-01 00:00 UTC and 2027-01-01 00:00 UTC.
        assert_eq!(december.start(), 1_796_083_200_000);
        assert_eq!(december.end(), 1_798_761_600_000);
        assert_eq!(BillingMonth::of(december.start()), december);
        assert_eq!(BillingMonth::of(december.end() - 1), december);
        assert_eq!(BillingMonth::of(december.end()).to_string(), "2027-01");
        assert_eq!(
            BillingMonth::of(days_from_civil(2028, 2, 29) * DAY_MS).to_string(),
            "2028-02"
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-12",
            "2026/12",
            "",
            "２０２６-12",
            "2026-12-01",
        ] {
            assert!(
                matches!(
                    bad.parse::<BillingMonth>(),
                    Err(StoreError::Invalid { field: "month", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for day in [-800_000, -1, 0, 1, 10_957, 20_788, 2_000_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }
}
