//! `callex numbers`: the number inventory, the numbers for sale.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use store::Inventory;
use web::inventory::{read_csv, BadRow, CsvListings};

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

impl NumbersImport {
    async fn run(self) -> anyhow::Result<()> {
        let started = Instant::now();
        let read = read_file(&self.file)?;
        let config = self.store.resolve(Layer::default())?;
        let store = open_store(&config).await?;
        let bar = progress_bar(read.listings.len() as u64, "importing");
        let outcome = store
            .import_listings(&read.listings, &|done| bar.set_position(done as u64))
            .await;
        bar.finish_and_clear();
        store.close().await;
        let outcome = outcome?;
        if !outcome.already_listed.is_empty() {
            return refuse(&self.file, &read.already_listed(&outcome));
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
fn read_file(file: &Path) -> anyhow::Result<CsvListings> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bar = progress_bar(size, "checking");
    let read = read_csv(std::io::BufReader::new(opened), &mut |byte| {
        bar.set_position(byte)
    });
    bar.finish_and_clear();
    let read = match read {
        Ok(read) => read,
        Err(bad) => return refuse(file, &bad).map(|()| CsvListings::default()),
    };
    if read.listings.is_empty() {
        bail!("{}: no numbers to import", file.display());
    }
    Ok(read)
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
