//! The operator's commands, on the same store `callex serve` uses: members,
//! numbers and their SIP passwords, API tokens. Numbers go through
//! `web::operator`, the same code as the API's, so both behave alike.

use clap::{Args, Subcommand, ValueEnum};
use store::prelude::*;
use store::Member;
use web::operator::{self, GrantedNumber};

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Register a member and print its id.
    Add(MemberAdd),
    /// List every member, with the numbers each holds.
    List(MemberList),
}

#[derive(Debug, Args)]
pub struct MemberAdd {
    #[command(flatten)]
    store: StoreArgs,
    /// The member's name as shown to others.
    #[arg(long)]
    name: String,
    /// Unique across members, ignoring case.
    #[arg(long)]
    email: Option<String>,
    /// ISO 3166-1 alpha-2 country code (KR, US).
    #[arg(long, value_name = "CC")]
    country: String,
    /// A company rather than an individual.
    #[arg(long)]
    company: bool,
}

#[derive(Debug, Args)]
pub struct MemberList {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum NumberCommand {
    /// Grant a number to a member and set its SIP password. The number in
    /// digits is the member's SIP username.
    Grant(NumberGrant),
    /// Replace a number's SIP password; the old one stops working at once.
    Password(NumberPassword),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Pin,
    Vns,
    E164,
}

impl From<KindArg> for NumberKind {
    fn from(kind: KindArg) -> NumberKind {
        match kind {
            KindArg::Pin => NumberKind::Pin,
            KindArg::Vns => NumberKind::Vns,
            KindArg::E164 => NumberKind::E164,
        }
    }
}

/// `--sip-password`, shared by `number grant` and `number password`.
#[derive(Debug, Args)]
struct SipPasswordArg {
    /// The SIP password; without it a strong one is generated and printed
    /// once. Only its digests are stored.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "CALLEX_SIP_PASSWORD",
        hide_env_values = true
    )]
    sip_password: Option<String>,
}

#[derive(Debug, Args)]
pub struct NumberGrant {
    #[command(flatten)]
    store: StoreArgs,
    /// Digits, with - . ( ) or spaces between them if you like
    /// (02-6200-6200-082); a leading + for E.164.
    number: String,
    /// The member's id (`callex member list`).
    #[arg(long, value_name = "ID")]
    member: i64,
    /// [default: pin, or e164 for a + number]
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    #[command(flatten)]
    password: SipPasswordArg,
}

#[derive(Debug, Args)]
pub struct NumberPassword {
    #[command(flatten)]
    store: StoreArgs,
    /// The number whose SIP password to replace.
    number: String,
    #[command(flatten)]
    password: SipPasswordArg,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an operator API token and print it once.
    Create(TokenCreate),
}

#[derive(Debug, Args)]
pub struct TokenCreate {
    #[command(flatten)]
    store: StoreArgs,
    /// What the token is for (unique), e.g. "billing-export".
    name: String,
}

impl MemberCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            MemberCommand::Add(add) => {
                let store = open(add.store).await?;
                let member = store
                    .add_member(&NewMember {
                        kind: if add.company {
                            MemberKind::Company
                        } else {
                            MemberKind::Individual
                        },
                        display_name: add.name,
                        email: add.email,
                        country: add.country,
                    })
                    .await;
                store.close().await;
                announce(&member?.id.to_string());
            }
            MemberCommand::List(list) => {
                let store = open(list.store).await?;
                let rows = member_rows(&store).await;
                store.close().await;
                let rows = rows?;
                if rows.len() == 1 {
                    announce("no members yet: add one with `callex member add`");
                } else {
                    for line in table(&rows) {
                        announce(&line);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The header and one row per member, in id order.
async fn member_rows(store: &Store) -> Result<Vec<[String; 6]>, StoreError> {
    let mut rows = vec![["ID", "KIND", "COUNTRY", "NAME", "EMAIL", "NUMBERS"].map(String::from)];
    let mut after = 0;
    loop {
        let page: Vec<Member> = store
            .members(Page::after(after, store::limits::PAGE))
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id.0;
        for member in page {
            let numbers = store.numbers_of(member.id).await?;
            let numbers: Vec<&str> = numbers.iter().map(|n| n.number.as_str()).collect();
            rows.push([
                member.id.to_string(),
                member.kind.to_string(),
                member.country,
                member.display_name,
                member.email.unwrap_or_default(),
                numbers.join(" "),
            ]);
        }
    }
    Ok(rows)
}

/// Columns padded to their widest cell, two spaces apart.
fn table<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

impl NumberCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            NumberCommand::Grant(grant) => {
                let config = grant.store.resolve(Layer::default())?;
                let store = open_store(&config).await?;
                let granted = operator::grant_number(
                    &store,
                    &config.realm,
                    &grant.number,
                    grant.kind.map(NumberKind::from),
                    MemberId(grant.member),
                    grant.password.sip_password.as_deref(),
                )
                .await;
                store.close().await;
                let granted = granted?;
                announce(&format!(
                    "number {} granted to member {} as {}",
                    granted.held.number, granted.held.member_id, granted.held.kind
                ));
                print_credentials(&granted, &config.realm);
            }
            NumberCommand::Password(reset) => {
                let config = reset.store.resolve(Layer::default())?;
                let store = open_store(&config).await?;
                let reset = operator::reset_sip_password(
                    &store,
                    &config.realm,
                    &reset.number,
                    reset.password.sip_password.as_deref(),
                )
                .await;
                store.close().await;
                let reset = reset?;
                announce(&format!(
                    "SIP password of number {} replaced; the old one no longer works",
                    reset.held.number
                ));
                print_credentials(&reset, &config.realm);
            }
        }
        Ok(())
    }
}

fn print_credentials(granted: &GrantedNumber, realm: &str) {
    announce(&format!("SIP username: {}", granted.sip_username));
    announce(&format!("SIP realm: {realm}"));
    if granted.password.generated {
        announce(&format!("SIP password: {}", granted.password.secret));
        announce("keep the password: it is not shown again (only its digests are stored)");
    } else {
        announce("SIP password: as given");
    }
}

impl TokenCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            TokenCommand::Create(create) => {
                let store = open(create.store).await?;
                let token = store.create_token(&create.name).await;
                store.close().await;
                announce(&token?.plaintext);
            }
        }
        Ok(())
    }
}

async fn open(args: StoreArgs) -> anyhow::Result<Store> {
    open_store(&args.resolve(Layer::default())?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_columns_to_their_widest_cell() {
        let rows = [
            ["ID", "NAME", "EMAIL"].map(String::from),
            ["1", "Alice Kim", ""].map(String::from),
            ["12", "Bo", "bo@example.com"].map(String::from),
        ];
        assert_eq!(
            table(&rows),
            [
                "ID  NAME       EMAIL",
                "1   Alice Kim",
                "12  Bo         bo@example.com"
            ]
        );
    }
}
