// The number inventory's repository, written once and `include!`d by
// `sqlite.rs` and `postgres.rs` inside a `mod inventory` of each that sees
// the engine's names through `use super::*`: `Db`, `ThisStore` (with
// `reader()` and `begin_write()`), and the imports and row helpers of
// `repositories.rs` (`QueryBuilder`, `Row`, `Result`, `StoreError`,
// `violation`, `corrupt`, `now_millis`).

use crate::inventory::{
    amount_e4, ListingKind, amount_from_e4, currency_code, validate_batch, ImportOutcome, InventorySearch,
    Listing, NewListing,
};

/// Listings per INSERT: 10 values a row, well under both engines' limit
/// on bound values (SQLite 32,766, PostgreSQL 65,535), and large enough
/// that a million rows are a thousand statements.
const LISTING_CHUNK: usize = 1000;

/// Numbers per look-up when finding which were already listed.
const LOOKUP_CHUNK: usize = 1000;

/// SQLite's page cache during an import (256 MiB), and its default.
const IMPORT_CACHE: &str = "PRAGMA cache_size = -262144";
const DEFAULT_CACHE: &str = "PRAGMA cache_size = -2000";

/// Imports of at least this many listings refresh the table's statistics.
const ANALYZE_AFTER: usize = 10_000;
const SQLITE_ANALYZE: &[&str] = &["PRAGMA analysis_limit = 1000", "ANALYZE inventory"];
const PG_ANALYZE: &[&str] = &["ANALYZE inventory"];

const LISTING_COLUMNS: &str =
    "number, kind, country, area_code, price_e4, monthly_e4, currency, premium, state, created_at";

fn listing_from_row(row: &DbRow) -> Result<Listing> {
    Ok(Listing {
        number: row.try_get("number")?,
        kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        country: row.try_get("country")?,
        area_code: row.try_get("area_code")?,
        price: amount_from_e4(row.try_get("price_e4")?),
        monthly: amount_from_e4(row.try_get("monthly_e4")?),
        currency: row.try_get("currency")?,
        premium: row
            .try_get::<Option<String>, _>("premium")?
            .map(|p| p.parse())
            .transpose()
            .map_err(corrupt)?,
        state: row.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
    })
}

/// A listing's values as the columns want them, checked.
struct ListingRow<'a> {
    listing: &'a NewListing,
    country: String,
    currency: String,
    price_e4: i64,
    monthly_e4: i64,
}

impl<'a> ListingRow<'a> {
    fn new(listing: &'a NewListing) -> Result<Self> {
        Ok(ListingRow {
            listing,
            country: listing.country.to_ascii_uppercase(),
            currency: currency_code(&listing.currency)?,
            price_e4: amount_e4("price", listing.price)?,
            monthly_e4: amount_e4("monthly rental", listing.monthly)?,
        })
    }
}

/// The positions in `listings` of the numbers the inventory already has.
async fn already_listed(pool: &sqlx::Pool<Db>, listings: &[NewListing]) -> Result<Vec<usize>> {
    let mut found = std::collections::HashSet::new();
    for chunk in listings.chunks(LOOKUP_CHUNK) {
        let mut lookup = QueryBuilder::<Db>::new("SELECT number FROM inventory WHERE number IN (");
        let mut list = lookup.separated(", ");
        for listing in chunk {
            list.push_bind(&listing.number);
        }
        lookup.push(")");
        for row in lookup.build().fetch_all(pool).await? {
            found.insert(row.try_get::<String, _>("number")?);
        }
    }
    Ok(listings
        .iter()
        .enumerate()
        .filter(|(_, listing)| found.contains(&listing.number))
        .map(|(i, _)| i)
        .collect())
}

/// Inserts `rows` in statements of [`LISTING_CHUNK`]; how many.
async fn write_listings(
    conn: &mut DbConnection,
    rows: &[ListingRow<'_>],
    progress: &(dyn Fn(usize) + Sync),
) -> std::result::Result<usize, sqlx::Error> {
    let now = now_millis();
    let mut written = 0;
    for chunk in rows.chunks(LISTING_CHUNK) {
        let mut insert = QueryBuilder::<Db>::new("INSERT INTO inventory (");
        insert.push(LISTING_COLUMNS).push(") ");
        insert.push_values(chunk, |mut values, row| {
            let premium = row.listing.premium.map(|p| p.as_str());
            values
                .push_bind(&row.listing.number)
                .push_bind(row.listing.kind.as_str())
                .push_bind(&row.country)
                .push_bind(&row.listing.area_code)
                .push_bind(row.price_e4)
                .push_bind(row.monthly_e4)
                .push_bind(&row.currency)
                .push_bind(premium)
                .push_bind("available")
                .push_bind(now);
        });
        insert.build().execute(&mut *conn).await?;
        written += chunk.len();
        progress(written);
    }
    Ok(written)
}

/// Where an area's numbers are among the keys, when the search names a
/// country: an area code begins the national part, so its E.164 numbers
/// (and DIDs) are the keys from `+<country code><area>`, and its PINs the
/// keys from `<area>` (a PIN's key is its national part, then the country
/// code). A range of keys is a range of the index, in the order the
/// results are given, where filtering the country's numbers by area would
/// read every number of the areas that sort before it. `None`: no such
/// ranges (no area or no country asked), the area is then a filter only.
fn area_key_ranges(search: &InventorySearch) -> Option<Vec<(String, String)>> {
    let area = search.area_prefix.as_ref()?;
    let country = search.country.as_ref()?.to_ascii_uppercase();
    let code = numbering::dialing_rules(&country)?.code.value();
    let range = |start: String| {
        let mut end = start.clone();
        // Digits are followed by ':' in ASCII (and in "C" collation).
        end.push(':');
        (start, end)
    };
    let e164 = range(format!("+{code}{area}"));
    let pin = range(area.clone());
    Some(match search.kind {
        Some(ListingKind::E164 | ListingKind::Did) => vec![e164],
        Some(ListingKind::Pin) => vec![pin],
        Some(ListingKind::Vns) => Vec::new(),
        None => vec![e164, pin],
    })
}

/// The available numbers matching `search`, within `keys` if given, at
/// most `limit`.
async fn search_range(
    pool: &sqlx::Pool<Db>,
    search: &InventorySearch,
    keys: Option<(String, String)>,
    limit: u32,
) -> Result<Vec<Listing>> {
    let mut query = QueryBuilder::<Db>::new("SELECT ");
    query.push(LISTING_COLUMNS);
    // A literal, not a bound value: the partial indexes are for exactly
    // this condition.
    query.push(" FROM inventory WHERE state = 'available'");
    if let Some(country) = &search.country {
        query
            .push(" AND country = ")
            .push_bind(country.to_ascii_uppercase());
    }
    if let Some(kind) = search.kind {
        query.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some((start, end)) = keys {
        query
            .push(" AND number >= ")
            .push_bind(start)
            .push(" AND number < ")
            .push_bind(end);
    }
    if let Some(area) = &search.area_prefix {
        // The area itself still decides (a number's area code is the
        // operator's to give); as a range, digits then ':'.
        let mut upper = area.clone();
        upper.push(':');
        query
            .push(" AND area_code >= ")
            .push_bind(area.clone())
            .push(" AND area_code < ")
            .push_bind(upper);
    }
    if let Some(contains) = &search.contains {
        query
            .push(" AND number LIKE ")
            .push_bind(format!("%{contains}%"));
    }
    if let Some(min) = search.min_price {
        query
            .push(" AND price_e4 >= ")
            .push_bind(amount_e4("min_price", min)?);
    }
    if let Some(max) = search.max_price {
        query
            .push(" AND price_e4 <= ")
            .push_bind(amount_e4("max_price", max)?);
    }
    if search.premium_only {
        query.push(" AND premium IS NOT NULL");
    }
    if let Some(after) = &search.after {
        query.push(" AND number > ").push_bind(after.clone());
    }
    query
        .push(" ORDER BY number LIMIT ")
        .push_bind(i64::from(limit));
    // Planned for these values each time: a plan PostgreSQL caches for a
    // prepared statement is made for any value, and for a search, where
    // one country or pattern matches a thousand times more numbers than
    // another, it sorts a whole area where reading the index in order
    // would stop after a page (87 ms instead of 1.3 ms on 10M numbers).
    let query = query.build().persistent(false);
    if <Db as sqlx::Database>::NAME != "PostgreSQL" {
        let rows = query.fetch_all(pool).await?;
        return rows.iter().map(listing_from_row).collect();
    }
    // PostgreSQL multiplies the selectivities of the area, key range and
    // "contains" conditions as if they were independent, expects a handful
    // of matches, and then collects them all with a bitmap scan and sorts
    // them, where reading the index in key order stops after a page (160 ms
    // instead of 1 ms on 10M numbers). Bitmap scans and JIT are off for this
    // one read-only statement.
    let mut tx = pool.begin().await?;
    for setting in PG_SEARCH_SETTINGS {
        sqlx::query(setting).execute(&mut *tx).await?;
    }
    let rows = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    rows.iter().map(listing_from_row).collect()
}

const PG_SEARCH_SETTINGS: [&str; 2] = ["SET LOCAL enable_bitmapscan = off", "SET LOCAL jit = off"];

impl crate::inventory::Inventory for ThisStore {
    async fn import_listings(
        &self,
        listings: &[NewListing],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<ImportOutcome> {
        validate_batch(listings)?;
        let rows = listings
            .iter()
            .map(ListingRow::new)
            .collect::<Result<Vec<_>>>()?;
        if rows.is_empty() {
            return Ok(ImportOutcome::default());
        }
        // In key order, every index of the table grows at a few places at
        // a time instead of at random pages all over it.
        let mut rows = rows;
        rows.sort_unstable_by(|a, b| a.listing.number.cmp(&b.listing.number));
        let sqlite = <Db as sqlx::Database>::NAME == "SQLite";
        let mut tx = self.begin_write().await?;
        if sqlite {
            // A large import touches more index pages than SQLite's default
            // 2 MB page cache holds. The connection is the store's only
            // writer; it gets its default back below, whatever happens.
            sqlx::query(IMPORT_CACHE).execute(&mut *tx).await?;
        }
        let written = write_listings(&mut tx, &rows, progress).await;
        let committed = match written {
            Ok(written) => tx.commit().await.map(|()| Some(written)),
            // Nothing is kept; which numbers were there is read below (the
            // batch itself has no duplicates: validated above).
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                tx.rollback().await.map(|()| None)
            }
            Err(err) => Err(err),
        };
        if sqlite {
            sqlx::query(DEFAULT_CACHE).execute(self.writer()).await?;
        }
        if let Some(written) = committed? {
            // Fresh statistics after a large import, so the planner picks
            // the right index for each search over what is now in the table
            // (sampled: quick even on millions of rows; small imports leave
            // it to PostgreSQL's autovacuum, or to the next large one).
            if written >= ANALYZE_AFTER {
                for statement in if sqlite { SQLITE_ANALYZE } else { PG_ANALYZE } {
                    sqlx::query(statement).execute(self.writer()).await?;
                }
            }
            return Ok(ImportOutcome {
                imported: written as u64,
                already_listed: Vec::new(),
            });
        }
        let listed = already_listed(self.reader(), listings).await?;
        if listed.is_empty() {
            return Err(StoreError::conflict(
                "some of these numbers were listed by someone else during the import; \
                 nothing was imported, try again",
            ));
        }
        Ok(ImportOutcome {
            imported: 0,
            already_listed: listed,
        })
    }

    async fn search_inventory(&self, search: &InventorySearch) -> Result<Vec<Listing>> {
        search.validate()?;
        let ranges = area_key_ranges(search);
        let Some(ranges) = ranges else {
            return search_range(self.reader(), search, None, search.limit).await;
        };
        // The ranges are in key order ('+' sorts before digits): the first
        // one's numbers all come before the second one's.
        let mut found = Vec::new();
        for range in ranges {
            let wanted = search.limit - found.len() as u32;
            if wanted == 0 {
                break;
            }
            found.extend(search_range(self.reader(), search, Some(range), wanted).await?);
        }
        Ok(found)
    }

    async fn listing(&self, number: &str) -> Result<Option<Listing>> {
        let mut query = QueryBuilder::<Db>::new("SELECT ");
        query
            .push(LISTING_COLUMNS)
            .push(" FROM inventory WHERE number = ")
            .push_bind(number);
        let row = query.build().fetch_optional(self.reader()).await?;
        row.as_ref().map(listing_from_row).transpose()
    }
}
