//! `callex numbers`: the number inventory, the numbers for sale.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use store::{Inventory, NewListing};
use web::inventory::{BatchReader, ListingInput};

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// List numbers for sale from a CSV file, all of them or none.
    ///
    /// The header names the columns:
    /// number,kind,country,area_code,price,monthly,currency,premium
    /// (premium may be left out or empty: it is then what the digits make
    /// it, repeating, sequential or repeated, or none). Every bad row is
    /// reported with its line number and nothing is imported (exit 1).
    Import(NumbersImport),
    /// Take a number back from its holder: its SIP credentials,
    /// registrations and directory entries go, its monthly rental stops,
    /// and it is for sale again after the quarantine.
    Release(crate::rent::NumbersRelease),
    /// The times a number was given back: by whom, from whom, when, and
    /// until when it was out of sale.
    History(crate::rent::NumbersHistory),
}

#[derive(Debug, Args)]
pub struct NumbersImport {
    #[command(flatten)]
    store: StoreArgs,
    /// The CSV file.
    file: PathBuf,
}

impl NumbersCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            NumbersCommand::Import(import) => import.run().await,
            NumbersCommand::Release(release) => release.run().await,
            NumbersCommand::History(history) => history.run().await,
        }
    }
}

/// A row refused, where it is in the file.
struct BadRow {
    line: u64,
    reason: String,
}

impl NumbersImport {
    async fn run(self) -> anyhow::Result<()> {
        let started = Instant::now();
        let (listings, lines) = read_file(&self.file)?;
        let config = self.store.resolve(Layer::default())?;
        let store = open_store(&config).await?;
        let bar = progress_bar(listings.len() as u64, "importing");
        let outcome = store
            .import_listings(&listings, &|done| bar.set_position(done as u64))
            .await;
        bar.finish_and_clear();
        store.close().await;
        let outcome = outcome?;
        if !outcome.already_listed.is_empty() {
            let bad: Vec<BadRow> = outcome
                .already_listed
                .iter()
                .map(|&i| BadRow {
                    line: lines[i],
                    reason: format!("number {} is already in the inventory", listings[i].number),
                })
                .collect();
            return refuse(&self.file, &bad);
        }
        announce(&format!(
            "{} numbers imported from {} in {:.1} s",
            outcome.imported,
            self.file.display(),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

/// Every listing of `file` with the line it is on, or every bad row
/// reported and an error.
fn read_file(file: &Path) -> anyhow::Result<(Vec<NewListing>, Vec<u64>)> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let headers = csv
        .headers()
        .with_context(|| format!("{}: cannot read the header line", file.display()))?
        .clone();
    check_header(file, &headers)?;

    let bar = progress_bar(size, "checking");
    let mut reader = BatchReader::new("line");
    let mut listings = Vec::new();
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        // Where the record starts (a quoted field may span lines).
        let line = csv.position().line();
        let read = csv.read_record(&mut record);
        match read {
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
        if lines.len() % 4096 == 0 {
            bar.set_position(csv.position().byte());
        }
        let position = usize::try_from(line).unwrap_or(usize::MAX);
        let listing = record
            .deserialize::<ListingInput>(Some(&headers))
            .map_err(|err| csv_reason(&err))
            .and_then(|input| reader.read(position, &input));
        match listing {
            Ok(listing) => {
                listings.push(listing);
                lines.push(line);
            }
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    bar.finish_and_clear();
    if !bad.is_empty() {
        return refuse(file, &bad).map(|()| (Vec::new(), Vec::new()));
    }
    if listings.is_empty() {
        bail!("{}: no numbers to import", file.display());
    }
    Ok((listings, lines))
}

const COLUMNS: [&str; 8] = [
    "number",
    "kind",
    "country",
    "area_code",
    "price",
    "monthly",
    "currency",
    "premium",
];

fn check_header(file: &Path, headers: &csv::StringRecord) -> anyhow::Result<()> {
    for name in headers {
        if !COLUMNS.contains(&name) {
            bail!(
                "{}:1: unknown column {name:?}; the columns are {}",
                file.display(),
                COLUMNS.join(",")
            );
        }
    }
    let missing: Vec<&str> = COLUMNS[..7]
        .iter()
        .copied()
        .filter(|&column| !headers.iter().any(|name| name == column))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}:1: the header lacks {}; the columns are {} (premium optional)",
            file.display(),
            missing.join(", "),
            COLUMNS.join(",")
        );
    }
    Ok(())
}

/// Reports every bad row on standard error and fails.
fn refuse(file: &Path, bad: &[BadRow]) -> anyhow::Result<()> {
    for row in bad {
        eprintln!("{}:{}: {}", file.display(), row.line, row.reason);
    }
    bail!(
        "{}: {} bad row{}; nothing imported",
        file.display(),
        bad.len(),
        if bad.len() == 1 { "" } else { "s" }
    )
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

/// A progress bar on a terminal; nothing otherwise (logs and pipes get the
/// final line only).
fn progress_bar(length: u64, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    let style = ProgressStyle::with_template(
        "{prefix:>9} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
    )
    // The template is a constant that parses.
    .expect("a valid progress template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
