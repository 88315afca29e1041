//! `callex rent run` and `callex numbers release`: the monthly rental run
//! and a number given back, on the same store and through the same store
//! functions as `callex serve`'s hourly run and the API's
//! `DELETE /api/v1/members/{id}/numbers/{number}`.

use clap::{Args, Subcommand};
use store::prelude::*;
use store::{now_millis, Actor, BillingMonth, Rentals};

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

#[derive(Debug, Subcommand)]
pub enum RentCommand {
    /// Charge a month's rental of every assigned number not charged for it
    /// yet (run twice, it charges once), and put numbers whose quarantine
    /// ended back on sale. Prints every charge and the members in arrears.
    Run(RentRun),
}

#[derive(Debug, Args)]
pub struct RentRun {
    #[command(flatten)]
    store: StoreArgs,
    /// The billing month, YYYY-MM (UTC). [default: the current month]
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
}

/// `callex numbers release NUMBER`.
#[derive(Debug, Args)]
pub struct NumbersRelease {
    #[command(flatten)]
    store: StoreArgs,
    /// The number, written any way (02-6200-6200-082, +82 2 6200 6200).
    number: String,
    /// Days it stays out of sale before it is for sale again (0: at once).
    /// [default: number_quarantine of the configuration, 90]
    #[arg(long, value_name = "DAYS", env = "CALLEX_NUMBER_QUARANTINE")]
    quarantine: Option<u64>,
}

/// `callex numbers history NUMBER`.
#[derive(Debug, Args)]
pub struct NumbersHistory {
    #[command(flatten)]
    store: StoreArgs,
    /// The number, written any way.
    number: String,
}

impl RentCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            RentCommand::Run(run) => {
                // Read before the store opens: a bad month changes nothing.
                let month = match &run.month {
                    Some(month) => month.parse::<BillingMonth>()?,
                    None => BillingMonth::of(now_millis()),
                };
                let store = open_store(&run.store.resolve(Layer::default())?).await?;
                let outcome = web::rentals::run_once(&store, month).await;
                store.close().await;
                let (run, returned) = outcome?;
                for charge in &run.charged {
                    announce(&format!(
                        "charged\tmember {}\t{}\t{} {}\torder {}\tbalance {} {}",
                        charge.member_id,
                        store::orders::shown(&charge.number),
                        charge.amount,
                        charge.currency,
                        charge.order_id,
                        charge.balance,
                        charge.currency
                    ));
                }
                announce(&format!(
                    "rental run for {}: {} charged, {} charged before",
                    run.month,
                    run.charged.len(),
                    run.already_charged
                ));
                for arrear in &run.arrears {
                    announce(&format!(
                        "in arrears\tmember {}\t{} {}",
                        arrear.member_id, arrear.balance, arrear.currency
                    ));
                }
                if returned > 0 {
                    announce(&format!(
                        "{returned} numbers out of quarantine, for sale again"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl NumbersRelease {
    pub async fn run(self) -> anyhow::Result<()> {
        let config = self.store.resolve(Layer {
            number_quarantine: self.quarantine,
            ..Layer::default()
        })?;
        let store = open_store(&config).await?;
        let released = release(&store, &self.number, &config).await;
        store.close().await;
        let release = released?;
        let until = if release.returned_at.is_some() {
            "for sale again".to_owned()
        } else {
            format!(
                "out of sale until {}",
                store::orders::clock_utc(release.quarantine_until, 0)
            )
        };
        announce(&format!(
            "released {} of member {}: SIP credentials and registrations removed, rental \
             stopped; {until}",
            store::orders::shown(&release.number),
            release.member_id
        ));
        Ok(())
    }
}

impl NumbersHistory {
    pub async fn run(self) -> anyhow::Result<()> {
        let keys = web::rentals::readings(&self.number)?;
        let store = open_store(&self.store.resolve(Layer::default())?).await?;
        let mut releases = Vec::new();
        for key in &keys {
            match store.number_releases(key).await {
                Ok(found) => releases.extend(found),
                Err(err) => {
                    store.close().await;
                    return Err(err.into());
                }
            }
        }
        store.close().await;
        for release in releases {
            let order = release
                .order_id
                .map(|id| format!(" (order {id})"))
                .unwrap_or_default();
            let sale = match release.returned_at {
                Some(at) => format!("for sale again {}", store::orders::clock_utc(at, 0)),
                None => format!(
                    "out of sale until {}",
                    store::orders::clock_utc(release.quarantine_until, 0)
                ),
            };
            announce(&format!(
                "{}\treleased by {} from member {}{order}\t{sale}",
                store::orders::clock_utc(release.at, 0),
                release.actor,
                release.member_id
            ));
        }
        Ok(())
    }
}

async fn release(
    store: &Store,
    written: &str,
    config: &crate::config::Config,
) -> anyhow::Result<store::NumberRelease> {
    let (holder, key) = web::rentals::holder_of(store, written).await?;
    let quarantine = web::rentals::quarantine_ms(config.number_quarantine);
    Ok(store
        .release_number(holder, &key, Actor::Operator, now_millis(), quarantine)
        .await?)
}
