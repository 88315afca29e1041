//! `callex claim add|verify|list|revoke`: members' claims of e-mail
//! addresses and domains, through `web::claims` — the same checks as the
//! API's — on the same store `callex serve` uses.

use std::net::SocketAddr;

use clap::{Args, Subcommand, ValueEnum};
use store::prelude::*;
use store::{Claim, ClaimKind};
use web::claims::ClaimChecks;

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

/// Where claims' proofs are checked; for `callex serve` (the API) and the
/// `claim` commands alike.
#[derive(Debug, Clone, Args)]
pub struct ClaimCheckArgs {
    /// The DNS server that domain challenges (`_callex-challenge.<domain>`
    /// TXT records) are looked up through. [default: the system's resolver]
    #[arg(long, value_name = "IP:PORT", env = "CALLEX_CLAIM_RESOLVER")]
    claim_resolver: Option<SocketAddr>,

    /// The SMTP relay (HOST:PORT) that e-mail claims' codes are sent
    /// through (plain SMTP, e.g. a local MTA). Without it, only the operator
    /// can verify an address.
    #[arg(long, value_name = "HOST:PORT", env = "CALLEX_SMTP_RELAY")]
    smtp_relay: Option<String>,

    /// The sender of code mails. [default: callex@localhost]
    #[arg(long, value_name = "ADDRESS", env = "CALLEX_SMTP_FROM")]
    smtp_from: Option<String>,
}

impl ClaimCheckArgs {
    /// These settings as a configuration layer, under the other flags'.
    pub fn layer(self) -> Layer {
        Layer {
            claim_resolver: self.claim_resolver,
            smtp_relay: self.smtp_relay,
            smtp_from: self.smtp_from,
            ..Layer::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ClaimCommand {
    /// Claim an e-mail address or a domain for a member; prints the claim
    /// id and, for a domain, the TXT record to publish (an address gets its
    /// code by mail).
    Add(ClaimAdd),
    /// Verify a claim: a domain by its TXT record, an address by the
    /// mailed code (--code), or any claim by the operator's word
    /// (--operator).
    Verify(ClaimVerify),
    /// List a member's claims.
    List(ClaimList),
    /// Revoke a claim: the address or domain stops reaching the member.
    Revoke(ClaimRevoke),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Email,
    Domain,
}

#[derive(Debug, Args)]
pub struct ClaimAdd {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    checks: ClaimCheckArgs,
    /// The claiming member's id.
    #[arg(long, value_name = "ID")]
    member: i64,
    #[arg(long, value_enum)]
    kind: Kind,
    /// The address (alice@example.com) or domain (example.com).
    value: String,
    /// The number it reaches, held by the member: a PIN for an address, a
    /// VNS for a domain; written any way.
    #[arg(long, value_name = "NUMBER")]
    number: String,
}

#[derive(Debug, Args)]
pub struct ClaimVerify {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    checks: ClaimCheckArgs,
    /// The claim's id.
    id: i64,
    /// The code mailed to the address.
    #[arg(long, conflicts_with = "operator")]
    code: Option<String>,
    /// Verify it on the operator's word, without a proof.
    #[arg(long)]
    operator: bool,
}

#[derive(Debug, Args)]
pub struct ClaimList {
    #[command(flatten)]
    store: StoreArgs,
    /// The member's id.
    #[arg(long, value_name = "ID")]
    member: i64,
}

#[derive(Debug, Args)]
pub struct ClaimRevoke {
    #[command(flatten)]
    store: StoreArgs,
    /// The claim's id.
    id: i64,
}

impl ClaimCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            ClaimCommand::Add(add) => {
                let (store, checks) = open_with_checks(add.store, add.checks).await?;
                let kind = match add.kind {
                    Kind::Email => ClaimKind::Email,
                    Kind::Domain => ClaimKind::Domain,
                };
                let claimed = checks
                    .claim(&store, MemberId(add.member), kind, &add.value, &add.number)
                    .await;
                store.close().await;
                let claimed = claimed?;
                announce(&line(&claimed.claim));
                if let Some((name, text)) = claimed.publish {
                    announce(&format!(
                        "publish: {name}. TXT \"{text}\", then: callex claim verify {}",
                        claimed.claim.id
                    ));
                } else if claimed.code_sent {
                    announce(&format!(
                        "a code was mailed to {}; then: callex claim verify {} --code CODE",
                        claimed.claim.value, claimed.claim.id
                    ));
                } else {
                    announce(
                        "no --smtp-relay: no code was sent; the operator may verify it \
                         (callex claim verify ID --operator)",
                    );
                }
            }
            ClaimCommand::Verify(verify) => {
                let (store, checks) = open_with_checks(verify.store, verify.checks).await?;
                let verified = if verify.operator {
                    store
                        .verify_claim_as_operator(verify.id)
                        .await
                        .map_err(anyhow::Error::from)
                } else {
                    match store.claim(verify.id).await {
                        Ok(Some(claim)) => checks
                            .verify(&store, claim.member_id, claim.id, verify.code.as_deref())
                            .await
                            .map_err(anyhow::Error::from),
                        Ok(None) => Err(anyhow::anyhow!("there is no claim {}", verify.id)),
                        Err(e) => Err(e.into()),
                    }
                };
                store.close().await;
                announce(&line(&verified?));
            }
            ClaimCommand::List(list) => {
                let store = open(list.store).await?;
                let claims = store.claims_of(MemberId(list.member)).await;
                store.close().await;
                for claim in claims? {
                    announce(&line(&claim));
                }
            }
            ClaimCommand::Revoke(revoke) => {
                let store = open(revoke.store).await?;
                let revoked = store.revoke_claim(None, revoke.id).await;
                store.close().await;
                announce(&line(&revoked?));
            }
        }
        Ok(())
    }
}

/// One claim on one line: id, state, kind, value → number.
fn line(claim: &Claim) -> String {
    let by = claim
        .verified_by
        .map(|by| format!(" (by {by})"))
        .unwrap_or_default();
    format!(
        "claim {}\t{}{by}\t{} {} -> {}\tmember {}",
        claim.id, claim.state, claim.kind, claim.value, claim.number, claim.member_id
    )
}

async fn open(args: StoreArgs) -> anyhow::Result<Store> {
    open_store(&args.resolve(Layer::default())?).await
}

/// The store and where claims are checked, from the flags, the
/// environment and the configuration file.
async fn open_with_checks(
    args: StoreArgs,
    checks: ClaimCheckArgs,
) -> anyhow::Result<(Store, ClaimChecks)> {
    let config = args.resolve(checks.layer())?;
    Ok((open_store(&config).await?, config.claim_checks))
}
