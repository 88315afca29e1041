//! The number inventory from the operator's side: reading listings as an
//! operator writes them (a CSV file, a JSON object) into what the store
//! keeps, with one reason per bad listing — shared by `callex numbers
//! import`, the portal's inventory page and `POST /api/v1/inventory` so all
//! accept and refuse the same things — and the public search,
//! `GET /api/v1/numbers/available`.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use numbering::{golden, Number, NumberKind as Kind, E164};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use store::inventory::{MAX_SEARCH_LIMIT, PRICE_SCALE};
use store::{
    ImportOutcome, Inventory, InventorySearch, Listing, ListingKind, NewListing, Premium,
    StoreError,
};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, ApiJson, ApiQuery, Problem};
use crate::AppState;

/// A listing as the operator writes it: the CSV columns
/// `number,kind,country,area_code,price,monthly,currency,premium`, or the
/// same names in JSON. Amounts are decimal strings (`"12.50"`), never
/// binary floating point.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingInput {
    /// Any written form of a `kind` number: `02-6200-6200-082`,
    /// `6200-6200#082`, `+82 70 4000 1234`; an E.164 number or DID may also
    /// be written nationally (`070-4000-1234`), relative to `country`.
    #[schema(example = "+82 70 4000 1234")]
    pub number: String,
    /// `pin`, `vns`, `e164`, or `did` (a virtual business number).
    #[schema(example = "did")]
    pub kind: String,
    /// ISO 3166-1 alpha-2, a country with a numbering plan.
    #[schema(example = "KR")]
    pub country: String,
    /// Digits the number's national part starts with (`70`); none for a
    /// VNS.
    #[schema(example = "70")]
    pub area_code: Option<String>,
    /// The one-off price, at most four decimal places.
    #[schema(example = "5000")]
    pub price: String,
    /// The monthly rental.
    #[schema(example = "1100")]
    pub monthly: String,
    /// ISO 4217.
    #[schema(example = "KRW")]
    pub currency: String,
    /// `repeating`, `sequential`, `repeated` or `none`; left out or empty,
    /// it is what the number's digits make it (numbering's golden
    /// classification).
    pub premium: Option<String>,
}

/// Why one listing of a batch was refused: its position (0-based) and a
/// sentence saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadListing {
    pub index: usize,
    pub reason: String,
}

/// Reads one listing; the reason it is refused otherwise.
pub fn read_listing(input: &ListingInput) -> Result<NewListing, String> {
    let kind = ListingKind::from_str(input.kind.trim()).map_err(|_| {
        format!(
            "kind {:?} is not one of pin, vns, e164, did",
            cut(&input.kind)
        )
    })?;
    let country = input.country.trim().to_ascii_uppercase();
    let rules = numbering::dialing_rules(&country)
        .filter(|_| country.len() == 2)
        .ok_or_else(|| {
            format!(
                "unknown country {:?}: an ISO 3166-1 alpha-2 code with a numbering plan (KR, US)",
                cut(&input.country)
            )
        })?;
    let number = read_number(input.number.trim(), kind, &country)?;
    let number_code = match &number {
        Number::Pin(pin) => Some(pin.code()),
        Number::Vns(vns) => vns.branch(),
        Number::E164(e164) => Some(e164.code()),
    };
    if let Some(code) = number_code.filter(|&code| code != rules.code) {
        return Err(format!(
            "number {number} is in country code {code}, and {country} is {}",
            rules.code
        ));
    }
    let area_code = match input.area_code.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(area) => {
            let national = match &number {
                Number::Pin(pin) => pin.national(),
                Number::E164(e164) => e164.national(),
                Number::Vns(_) => return Err("a VNS number has no area code".to_owned()),
            };
            if !national.starts_with(area) || !area.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "area code {:?} does not begin the number's national part {national}",
                    cut(area)
                ));
            }
            Some(area.to_owned())
        }
    };
    let premium = match input.premium.as_deref().map(str::trim) {
        None | Some("") => golden(&number).map(Premium::from),
        Some("none") => None,
        Some(class) => Some(Premium::from_str(class).map_err(|_| {
            format!(
                "premium {:?} is not one of repeating, sequential, repeated, none (or empty: \
                 computed from the digits)",
                cut(class)
            )
        })?),
    };
    let listing = NewListing {
        number: number.key(),
        kind,
        country,
        area_code,
        price: amount("price", &input.price)?,
        monthly: amount("monthly", &input.monthly)?,
        currency: input.currency.trim().to_ascii_uppercase(),
        premium,
    };
    listing.validate().map_err(|err| match err {
        StoreError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    })?;
    Ok(listing)
}

/// Reads the listings of one batch in turn, refusing a number given twice
/// (however it is written). `unit` is what the positions count, in
/// messages: `line` for a CSV file, `listing` for a JSON array.
#[derive(Debug)]
pub struct BatchReader {
    unit: &'static str,
    first_seen: HashMap<String, usize>,
}

impl BatchReader {
    pub fn new(unit: &'static str) -> BatchReader {
        BatchReader {
            unit,
            first_seen: HashMap::new(),
        }
    }

    /// Reads the listing at `position` ([`read_listing`], and not a number
    /// seen before in the batch).
    pub fn read(&mut self, position: usize, input: &ListingInput) -> Result<NewListing, String> {
        let listing = read_listing(input)?;
        if let Some(first) = self.first_seen.get(&listing.number) {
            return Err(format!(
                "number {} is listed twice: also at {} {first}",
                listing.number, self.unit
            ));
        }
        self.first_seen.insert(listing.number.clone(), position);
        Ok(listing)
    }
}

/// Reads a whole batch: either every listing, or every bad one (0-based
/// index) with its reason.
pub fn read_listings<'a>(
    inputs: impl IntoIterator<Item = &'a ListingInput>,
) -> Result<Vec<NewListing>, Vec<BadListing>> {
    let mut reader = BatchReader::new("listing");
    let mut listings = Vec::new();
    let mut bad = Vec::new();
    for (index, input) in inputs.into_iter().enumerate() {
        match reader.read(index + 1, input) {
            Ok(listing) => listings.push(listing),
            Err(reason) => bad.push(BadListing { index, reason }),
        }
    }
    if bad.is_empty() {
        Ok(listings)
    } else {
        Err(bad)
    }
}

/// The CSV columns, in the order the operator usually writes them;
/// `premium` may be left out.
pub const CSV_COLUMNS: [&str; 8] = [
    "number",
    "kind",
    "country",
    "area_code",
    "price",
    "monthly",
    "currency",
    "premium",
];

/// A CSV row refused: the line it starts on (the header is line 1) and a
/// sentence saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// The listings of a CSV file, each with the line it starts on.
#[derive(Debug, Default)]
pub struct CsvListings {
    pub listings: Vec<NewListing>,
    pub lines: Vec<u64>,
}

impl CsvListings {
    /// The rows of the numbers an import found already listed.
    pub fn already_listed(&self, outcome: &ImportOutcome) -> Vec<BadRow> {
        outcome
            .already_listed
            .iter()
            .map(|&i| BadRow {
                line: self.lines[i],
                reason: format!(
                    "number {} is already in the inventory",
                    self.listings[i].number
                ),
            })
            .collect()
    }
}

/// Reads listings from CSV text with a header line naming the columns
/// ([`CSV_COLUMNS`]): every listing with its line, or every bad row (a bad
/// header is line 1). `progress` is told the bytes read so far, every few
/// thousand rows.
pub fn read_csv(
    input: impl std::io::Read,
    progress: &mut dyn FnMut(u64),
) -> Result<CsvListings, Vec<BadRow>> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(Lines::new(input));
    let headers = csv
        .headers()
        .map_err(|err| {
            vec![BadRow {
                line: 1,
                reason: format!("cannot read the header line: {}", csv_reason(&err)),
            }]
        })?
        .clone();
    check_header(&headers).map_err(|reason| vec![BadRow { line: 1, reason }])?;

    let mut reader = BatchReader::new("line");
    let mut read = CsvListings::default();
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        // Where the record starts: a quoted field may span lines, and
        // blank lines before it are skipped.
        let outcome = csv.read_record(&mut record);
        let after = match &outcome {
            Ok(_) => record.position(),
            Err(err) => err.position(),
        };
        let line = match after {
            Some(after) => csv.get_mut().record_line(after.byte()),
            None => csv.position().line(),
        };
        match outcome {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                bad.push(BadRow {
                    line,
                    reason: csv_reason(&err),
                });
                continue;
            }
        }
        if read.lines.len() % 4096 == 0 {
            progress(csv.position().byte());
        }
        let position = usize::try_from(line).unwrap_or(usize::MAX);
        let listing = record
            .deserialize::<ListingInput>(Some(&headers))
            .map_err(|err| csv_reason(&err))
            .and_then(|input| reader.read(position, &input));
        match listing {
            Ok(listing) => {
                read.listings.push(listing);
                read.lines.push(line);
            }
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    if bad.is_empty() {
        Ok(read)
    } else {
        Err(bad)
    }
}

/// The CSV input, keeping what the reader has taken but no record has
/// passed yet, to tell the line a record starts on: the csv crate puts a
/// record's position at the end of the record before it, blank lines
/// included, so its own line numbers drift after a blank line.
struct Lines<R> {
    inner: R,
    /// The bytes read from `window_start` on, after the first `head`
    /// (already passed, dropped now and then rather than at every record).
    window: Vec<u8>,
    head: usize,
    window_start: u64,
    /// Line breaks before `window_start`.
    breaks_before: u64,
}

impl<R> Lines<R> {
    /// How many passed bytes are kept before they are dropped.
    const COMPACT_AT: usize = 64 * 1024;

    fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            window: Vec::new(),
            head: 0,
            window_start: 0,
            breaks_before: 0,
        }
    }

    /// The line (from 1) of a record the reader placed at `byte`: the
    /// first line from there that is not blank. What is before `byte` is
    /// forgotten; records come in order.
    fn record_line(&mut self, byte: u64) -> u64 {
        let live = &self.window[self.head..];
        let passed = usize::try_from(byte.saturating_sub(self.window_start))
            .unwrap_or(usize::MAX)
            .min(live.len());
        self.breaks_before += line_breaks(&live[..passed]);
        self.head += passed;
        self.window_start += passed as u64;
        if self.head >= Self::COMPACT_AT {
            self.window.drain(..self.head);
            self.head = 0;
        }
        let live = &self.window[self.head..];
        let blank = live
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r'))
            .unwrap_or(live.len());
        self.breaks_before + line_breaks(&live[..blank]) + 1
    }
}

fn line_breaks(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<R: std::io::Read> std::io::Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.window.extend_from_slice(&buf[..read]);
        Ok(read)
    }
}

fn check_header(headers: &csv::StringRecord) -> Result<(), String> {
    for name in headers {
        if !CSV_COLUMNS.contains(&name) {
            return Err(format!(
                "unknown column {:?}; the columns are {}",
                cut(name),
                CSV_COLUMNS.join(",")
            ));
        }
    }
    let missing: Vec<&str> = CSV_COLUMNS[..7]
        .iter()
        .copied()
        .filter(|&column| !headers.iter().any(|name| name == column))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header lacks {}; the columns are {} (premium optional)",
            missing.join(", "),
            CSV_COLUMNS.join(",")
        ));
    }
    Ok(())
}

fn csv_reason(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(field) => format!("column {}: {}", field + 1, err.kind()),
            None => err.kind().to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        _ => err.to_string(),
    }
}

fn read_number(written: &str, kind: ListingKind, country: &str) -> Result<Number, String> {
    let national_e164 = || {
        E164::from_national(written, country)
            .map(Number::E164)
            .map_err(|err| format!("bad number {:?}: {err}", cut(written)))
    };
    match kind {
        ListingKind::E164 | ListingKind::Did if !written.starts_with('+') => national_e164(),
        _ => crate::operator::read_number(written, Some(kind_of(kind).into()))
            .map_err(|err| format!("bad number: {}", reason(err))),
    }
}

fn kind_of(kind: ListingKind) -> Kind {
    match kind {
        ListingKind::Pin => Kind::Pin,
        ListingKind::Vns => Kind::Vns,
        ListingKind::E164 | ListingKind::Did => Kind::E164,
    }
}

fn reason(err: StoreError) -> String {
    match err {
        StoreError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// A decimal amount as written: digits with an optional point, never
/// negative, at most [`PRICE_SCALE`] decimal places.
pub fn amount(field: &str, written: &str) -> Result<Decimal, String> {
    let written = written.trim();
    let shape_ok = !written.is_empty()
        && written.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && written.bytes().filter(|&b| b == b'.').count() <= 1
        && written.bytes().any(|b| b.is_ascii_digit());
    let decimal = Decimal::from_str(written)
        .ok()
        .filter(|_| shape_ok)
        .ok_or_else(|| {
            format!(
                "bad decimal in {field}: {:?} (write digits with an optional point: 12.50)",
                cut(written)
            )
        })?;
    if decimal.normalize().scale() > PRICE_SCALE {
        return Err(format!(
            "bad decimal in {field}: {written} has more than {PRICE_SCALE} decimal places"
        ));
    }
    Ok(decimal)
}

/// `text` cut short for a message: it may be anything a client sent.
fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

// ---------------------------------------------------------------- API

/// A number for sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingView {
    /// The store key: digits, `#` before a company branch, `+` before an
    /// E.164 number.
    #[schema(example = "+827040001234")]
    pub number: String,
    /// As people write it.
    #[schema(example = "+82 70-4000-1234")]
    pub written: String,
    #[schema(example = "did")]
    pub kind: String,
    #[schema(example = "KR")]
    pub country: String,
    pub area_code: Option<String>,
    /// The one-off price, a decimal string.
    #[schema(example = "5000")]
    pub price: String,
    /// The monthly rental, a decimal string.
    #[schema(example = "1100")]
    pub monthly: String,
    #[schema(example = "KRW")]
    pub currency: String,
    /// The golden class, absent for an ordinary number.
    #[schema(example = "sequential")]
    pub premium: Option<String>,
}

impl From<Listing> for ListingView {
    fn from(listing: Listing) -> ListingView {
        let written = Number::from_key(kind_of(listing.kind), &listing.number)
            .map(|number| match number {
                Number::E164(e164) => e164.international(),
                other => other.to_string(),
            })
            // Every stored key reads back (the store checks it on write).
            .unwrap_or_else(|_| listing.number.clone());
        ListingView {
            number: listing.number,
            written,
            kind: listing.kind.as_str().to_owned(),
            country: listing.country,
            area_code: listing.area_code,
            price: listing.price.to_string(),
            monthly: listing.monthly.to_string(),
            currency: listing.currency,
            premium: listing.premium.map(|p| p.as_str().to_owned()),
        }
    }
}

/// One page of available numbers, in number order.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailablePage {
    pub items: Vec<ListingView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What to search for. Every filter is optional.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AvailableQuery {
    /// ISO 3166-1 alpha-2 (`KR`).
    pub country: Option<String>,
    /// `pin`, `vns`, `e164` or `did`.
    pub kind: Option<String>,
    /// Area codes starting with these digits.
    pub area: Option<String>,
    /// Numbers containing these digits anywhere.
    pub contains: Option<String>,
    /// One-off price at least this (a decimal).
    pub min_price: Option<String>,
    /// One-off price at most this.
    pub max_price: Option<String>,
    /// `true` for premium ("golden") numbers only.
    pub premium: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100; 20 by default.
    pub limit: Option<String>,
}

impl AvailableQuery {
    /// The parameters given, as a query string carries them.
    pub fn as_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("country", &self.country),
            ("kind", &self.kind),
            ("area", &self.area),
            ("contains", &self.contains),
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
            ("premium", &self.premium),
            ("cursor", &self.cursor),
            ("limit", &self.limit),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref().filter(|v| !v.is_empty())?)))
        .collect()
    }

    /// The search this query asks for, or why it is not one.
    pub fn search(&self) -> Result<InventorySearch, String> {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let digits = |name: &str, value: Option<String>, max: usize| match value {
            Some(v) if v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) => {
                Err(format!("{name}={:?} is not 1 to {max} digits", cut(&v)))
            }
            other => Ok(other),
        };
        let country = match given(&self.country) {
            Some(c) => Some(
                crate::operator::known_country(&c).map_err(|reason| format!("country={reason}"))?,
            ),
            None => None,
        };
        let kind = given(&self.kind)
            .map(|k| {
                ListingKind::from_str(&k)
                    .map_err(|_| format!("kind={:?} is not one of pin, vns, e164, did", cut(&k)))
            })
            .transpose()?;
        let price =
            |name: &str, value: &Option<String>| given(value).map(|v| amount(name, &v)).transpose();
        let min_price = price("min_price", &self.min_price)?;
        let max_price = price("max_price", &self.max_price)?;
        if let (Some(min), Some(max)) = (min_price, max_price) {
            if min > max {
                return Err(format!("min_price {min} is above max_price {max}"));
            }
        }
        let premium_only = match given(&self.premium).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("premium={:?} is not true or false", cut(other))),
        };
        let limit = match given(&self.limit) {
            None => 20,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_SEARCH_LIMIT).contains(l))
                .ok_or_else(|| {
                    format!(
                        "limit={:?} is not a whole number from 1 to {MAX_SEARCH_LIMIT}",
                        cut(&l)
                    )
                })?,
        };
        let after = given(&self.cursor);
        if after
            .as_ref()
            .is_some_and(|c| c.len() > store::limits::NUMBER)
        {
            return Err("cursor is not one this API gave: pass a page's next_cursor".to_owned());
        }
        Ok(InventorySearch {
            country,
            kind,
            area_prefix: digits("area", given(&self.area), store::inventory::MAX_AREA_CODE)?,
            contains: digits(
                "contains",
                given(&self.contains),
                store::inventory::MAX_CONTAINS,
            )?,
            min_price,
            max_price,
            premium_only,
            after,
            limit,
        })
    }
}

/// Searches the numbers for sale. Public: no token needed.
#[utoipa::path(
    get, path = "/api/v1/numbers/available", tag = "numbers",
    params(AvailableQuery),
    responses(
        (status = 200, body = AvailablePage),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "A query parameter is invalid"),
    )
)]
pub async fn available(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AvailableQuery>,
) -> Result<Json<AvailablePage>, ApiError> {
    let search = query.search().map_err(|detail| ApiError::Rejected {
        status: StatusCode::BAD_REQUEST,
        detail,
    })?;
    let found = state.store.search_inventory(&search).await?;
    let full = found.len() == search.limit as usize;
    let next_cursor = found
        .last()
        .filter(|_| full)
        .map(|listing| listing.number.clone());
    Ok(Json(AvailablePage {
        items: found.into_iter().map(ListingView::from).collect(),
        next_cursor,
    }))
}

/// How many numbers an import listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    pub imported: u64,
}

/// Lists numbers for sale: all of the array or, if any is refused, none.
#[utoipa::path(
    post, path = "/api/v1/inventory", tag = "numbers",
    request_body = Vec<ListingInput>,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = Imported),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not a JSON array of listings"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Numbers already listed; nothing imported"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Bad listings, each with its position; nothing imported"),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    ApiJson(inputs): ApiJson<Vec<ListingInput>>,
) -> Result<(StatusCode, Json<Imported>), ApiError> {
    let listings = read_listings(&inputs).map_err(|bad| {
        ApiError::Invalid(summary(
            bad.iter()
                .map(|b| format!("listing {}: {}", b.index + 1, b.reason)),
        ))
    })?;
    let outcome = state.store.import_listings(&listings, &|_| {}).await?;
    if !outcome.already_listed.is_empty() {
        return Err(StoreError::Conflict {
            what: summary(outcome.already_listed.iter().map(|&i| {
                format!(
                    "listing {}: number {} is already in the inventory",
                    i + 1,
                    listings[i].number
                )
            })),
        }
        .into());
    }
    Ok((
        StatusCode::CREATED,
        Json(Imported {
            imported: outcome.imported,
        }),
    ))
}

/// Problems in one sentence each, the first twenty, and how many more.
fn summary(problems: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = problems.collect();
    let mut text = format!("nothing imported; {}", all[..all.len().min(20)].join("; "));
    if all.len() > 20 {
        text.push_str(&format!("; and {} more", all.len() - 20));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_file_is_read_whole_or_its_bad_rows_are_named_by_line() {
        let good = "number,kind,country,area_code,price,monthly,currency\r\n\
                    +82 2 6185 3091,e164,KR,2,5000,1100,KRW\r\n\
                    \r\n\
                    6200-6200#082,vns,KR,,990000,1100,KRW\n\
                    \n\
                    \n\
                    +82 2 6185 3092,e164,KR,\"\n2\",5000,1100,KRW\n\
                    +82 2 6185 3093,e164,KR,2,5000,1100,KRW";
        let read = read_csv(good.as_bytes(), &mut |_| {}).expect("good rows");
        // Blank lines count, as does the line break inside a quoted field.
        assert_eq!(read.lines, [2, 4, 7, 9]);
        assert_eq!(read.listings[1].number, "62006200#082");

        let bad = "number,kind,country,area_code,price,monthly,currency\n\
                   +82 2 6185 3091,e164,KR,2,5000,1100,KRW\n\
                   +82 2 6185 3092,e164,XX,2,5000,1100,KRW\n\
                   \"+82 2 6185\n3091\",e164,KR,2,5000,1100,KRW\n\
                   +82 2 6185 3093,e164,KR,2,5000\n";
        let rows = read_csv(bad.as_bytes(), &mut |_| {}).unwrap_err();
        let lines: Vec<u64> = rows.iter().map(|row| row.line).collect();
        assert_eq!(lines, [3, 4, 6], "{rows:?}");
        assert!(rows[0].reason.contains("unknown country"));
        assert!(rows[2].reason.contains("5 fields where the header has 7"));

        for header in [
            "number,kind,country,price,monthly,currency",
            "number,colour",
        ] {
            let rows = read_csv(header.as_bytes(), &mut |_| {}).unwrap_err();
            assert_eq!(rows[0].line, 1, "{header}");
        }
    }
}
