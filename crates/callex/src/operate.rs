//! The operator's commands, on the same store `callex serve` uses: members,
//! numbers and their SIP passwords, API tokens, call records. Numbers go through
//! `web::operator`, the same code as the API's, so both behave alike.

use clap::{Args, Subcommand, ValueEnum};
use store::prelude::*;
use store::{Cdr, Member, MemberProfile, Role};
use switch::dialplan::{self, DialPlan};
use web::operator::{self, GrantedNumber};
use web::provisioning;

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Register a member and print its id.
    Add(MemberAdd),
    /// List every member, with the numbers each holds.
    List(MemberList),
    /// Set a member's portal password, read from standard input; their
    /// portal sessions end.
    Password(MemberPassword),
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
    /// An operator: sees every member and the operator's pages of the
    /// portal (`/operator`).
    #[arg(long, conflicts_with = "company", requires = "password_stdin")]
    operator: bool,
    /// Read the member's portal password from the first line of standard
    /// input (`read -rs PW; echo "$PW" | callex member add ...`).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct MemberPassword {
    #[command(flatten)]
    store: StoreArgs,
    /// The member's id or e-mail address.
    member: String,
}

#[derive(Debug, Args)]
pub struct MemberList {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum NumberCommand {
    /// Grant a number to a member and set its SIP password. The number's
    /// store key (02-6200-6200-082 is 0262006200082) is the member's SIP
    /// username.
    Grant(NumberGrant),
    /// Replace a number's SIP password; the old one stops working at once.
    Password(NumberPassword),
    /// Issue a number's provisioning profile for its holder: a new SIP
    /// password (the old one stops working at once), the card, and a link
    /// softphones import it from for 24 hours.
    Profile(NumberProfile),
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
    /// Any written form: 02-6200-6200-082, 6200-6200#082, +44 20 7946 0000
    /// (- . ( ) and spaces are ignored).
    number: String,
    /// The member's id (`callex member list`).
    #[arg(long, value_name = "ID")]
    member: i64,
    /// [default: what the number reads as: e164 with a +, vns with a #,
    /// else pin when the digits end in a country code, else vns]
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

#[derive(Debug, Args)]
pub struct NumberProfile {
    #[command(flatten)]
    store: StoreArgs,
    /// The number whose profile to issue, written any way.
    number: String,
    /// The host phones reach the exchange at, as `callex serve` has it.
    /// [default: the SIP listen address, else the realm]
    #[arg(long, value_name = "HOST", env = "CALLEX_SIP_ADVERTISE")]
    sip_advertise: Option<String>,
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

/// The argon2id hash of the password on the first line of standard input.
async fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|err| anyhow::anyhow!("cannot read the password from standard input: {err}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    web::accounts::check_password_length(&password)
        .map_err(|err| anyhow::anyhow!("{}", web::problem::detail(err)))?;
    web::accounts::hash_password(password)
        .await
        .map_err(|err| anyhow::anyhow!("{}", web::problem::detail(err)))
}

/// The member `written` names: an id, or an e-mail address.
async fn find_member(store: &Store, written: &str) -> Result<Member, StoreError> {
    let found = match written.trim().parse::<i64>() {
        Ok(id) => store.member(MemberId(id)).await?,
        Err(_) => store.member_by_email(written.trim()).await?,
    };
    found.ok_or_else(|| StoreError::NotFound {
        what: format!("no member has the id or e-mail address {written:?}"),
    })
}

impl MemberCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            MemberCommand::Add(add) => {
                // The password is read and checked before anything is
                // written.
                let phc = match add.password_stdin {
                    true => Some(password_from_stdin().await?),
                    false => None,
                };
                let store = open(add.store).await?;
                let new = NewMember {
                    kind: if add.company {
                        MemberKind::Company
                    } else {
                        MemberKind::Individual
                    },
                    display_name: add.name,
                    email: add.email,
                    country: add.country,
                };
                let role = if add.operator {
                    Role::Operator
                } else {
                    Role::Member
                };
                let added = match &phc {
                    Some(phc) => {
                        store
                            .open_account(&new, phc, &MemberProfile::default(), role)
                            .await
                    }
                    None => store.add_member(&new).await,
                };
                store.close().await;
                announce(&added?.id.to_string());
            }
            MemberCommand::Password(args) => {
                let phc = password_from_stdin().await?;
                let store = open(args.store).await?;
                let set = async {
                    let member = find_member(&store, &args.member).await?;
                    store.set_password_hash(member.id, &phc).await?;
                    Ok::<_, StoreError>(member)
                }
                .await;
                store.close().await;
                let member = set?;
                announce(&format!(
                    "member {} ({}) has a new portal password; their sessions ended",
                    member.id, member.display_name
                ));
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
                let number =
                    operator::read_number(&grant.number, grant.kind.map(NumberKind::from))?;
                let config = grant.store.resolve(Layer::default())?;
                let store = open_store(&config).await?;
                let granted = operator::grant_number(
                    &store,
                    &config.realm,
                    &number,
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
            NumberCommand::Profile(profile) => {
                let config = profile.store.resolve(Layer {
                    sip_advertise: profile.sip_advertise,
                    ..Layer::default()
                })?;
                let store = open_store(&config).await?;
                let issued = issue_profile(&store, &config, &profile.number).await;
                store.close().await;
                print_profile(&issued?, &config);
            }
        }
        Ok(())
    }
}

/// The holder's profile for `written`, naming the configured SIP sockets.
async fn issue_profile(
    store: &Store,
    config: &crate::config::Config,
    written: &str,
) -> anyhow::Result<provisioning::IssuedProfile> {
    let holder = operator::held_number(store, written).await?.member_id;
    let target = crate::provisioning_target(
        config.sip_advertise.as_deref(),
        config.sip_listen.iter().flat_map(|addr| {
            [
                (switch::Transport::Udp, *addr),
                (switch::Transport::Tcp, *addr),
            ]
        }),
    );
    let server = target.server(None, &config.realm);
    Ok(provisioning::issue_profile(
        store,
        &config.realm,
        server,
        holder,
        written,
        store::now_millis(),
    )
    .await?)
}

fn print_profile(issued: &provisioning::IssuedProfile, config: &crate::config::Config) {
    let http = config.http_listen;
    let host = if http.ip().is_unspecified() {
        config
            .sip_advertise
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_owned())
    } else {
        http.ip().to_string()
    };
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host,
    };
    let link = format!("http://{host}:{}/p/{}", http.port(), issued.token);
    announce(&format!(
        "provisioning profile of number {} for member {}; the previous SIP password no longer \
         works",
        issued.profile.number, issued.member_id
    ));
    announce("");
    for line in provisioning::card(&issued.profile).lines() {
        announce(line);
    }
    announce("");
    announce(&format!(
        "link (until {} UTC): {link}",
        utc(issued.expires_at)
    ));
    announce(&format!(
        "Linphone: {}",
        provisioning::linphone_import_uri(&format!("{link}.xml"))
    ));
    announce(&format!("baresip: {link}?format=baresip"));
    announce("keep the password and the link: they are not shown again");
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

/// `callex dial`: what the switch would make of a dial string from a
/// caller, with the same classifier and the same answers from the store.
#[derive(Debug, Args)]
pub struct Dial {
    #[command(flatten)]
    store: StoreArgs,
    /// What the caller dials: keypad digits (`010-1234-5678`,
    /// `6200-6200#082`), or a whole `sip:`/`tel:` Request-URI.
    dialled: String,
    /// The caller: a number they hold, written any way.
    #[arg(long, value_name = "NUMBER")]
    from: String,
}

impl Dial {
    pub async fn run(self) -> anyhow::Result<()> {
        let config = self.store.resolve(Layer::default())?;
        let store = open_store(&config).await?;
        let explained = explain_dial(&store, &config.realm, &self.dialled, &self.from).await;
        store.close().await;
        for line in explained? {
            announce(&line);
        }
        Ok(())
    }
}

/// The lines `callex dial` prints, or the refusal the caller would hear
/// as the error.
async fn explain_dial(
    store: &Store,
    realm: &str,
    dialled: &str,
    from: &str,
) -> anyhow::Result<Vec<String>> {
    let caller = operator::held_number(store, from).await?;
    let plan = DialPlan::new(&[realm]);
    let uri = request_uri(dialled, realm);
    let (region, answers) = dialplan::read_answers(store, &plan, &caller.number, &uri).await?;
    let region = region.ok_or_else(|| {
        anyhow::anyhow!(
            "number {} has no member record to take a country from",
            caller.number
        )
    })?;
    match plan.decide(&uri, &region, &answers) {
        Ok(decision) => {
            let ring = match dialplan::callee_key(&decision) {
                Some(key) => format!("rings: the phones registered as {key}"),
                None => {
                    "rings: nobody yet (no route to it configured): the caller hears 404".into()
                }
            };
            Ok(vec![
                format!("caller: {} ({region})", caller.number),
                format!("request-uri: {uri}"),
                format!("read as: {decision}"),
                ring,
            ])
        }
        Err(refused) => Err(anyhow::anyhow!(
            "the caller hears {} {refused} (request-uri {uri}, caller {} in {region})",
            refused.sip_status(),
            caller.number
        )),
    }
}

/// The Request-URI a phone would send for `dialled`: a URI as it is, keypad
/// digits at the exchange's realm (`#` and spaces escaped, as in SIP).
fn request_uri(dialled: &str, realm: &str) -> String {
    let has_scheme = ["sip:", "sips:", "tel:"].iter().any(|scheme| {
        dialled
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if has_scheme {
        return dialled.to_owned();
    }
    let user = dialled
        .trim()
        .replace('%', "%25")
        .replace('#', "%23")
        .replace(' ', "%20");
    format!("sip:{user}@{realm}")
}

#[derive(Debug, Subcommand)]
pub enum CdrCommand {
    /// List call detail records, oldest first.
    List(CdrList),
}

#[derive(Debug, Args)]
pub struct CdrList {
    #[command(flatten)]
    store: StoreArgs,
    /// Only calls from this caller (their number, written any way).
    #[arg(long, value_name = "NUMBER")]
    caller: Option<String>,
    /// Only calls to this number, as dialled.
    #[arg(long, value_name = "NUMBER")]
    callee: Option<String>,
    /// The most recent this many records. [default: all]
    #[arg(long, value_name = "N")]
    last: Option<usize>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

impl CdrCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let CdrCommand::List(list) = self;
        // The caller is recorded by their SIP username, the number's key:
        // any written form of it finds them.
        let caller = match &list.caller {
            Some(written) => Some(operator::read_number(written, None)?.key()),
            None => None,
        };
        let store = open(list.store).await?;
        let filter = CdrFilter {
            caller,
            callee_dialled: list.callee,
            ..CdrFilter::default()
        };
        let cdrs = all_cdrs(&store, &filter).await;
        store.close().await;
        let mut cdrs = cdrs?;
        if let Some(last) = list.last {
            cdrs.drain(..cdrs.len().saturating_sub(last));
        }
        if list.json {
            for cdr in &cdrs {
                announce(&cdr_json(cdr).to_string());
            }
            return Ok(());
        }
        if cdrs.is_empty() {
            announce("no call records yet");
            return Ok(());
        }
        let mut rows = vec![[
            "START (UTC)",
            "CALLER",
            "CALLEE",
            "DISPOSITION",
            "CODE",
            "DURATION",
            "CALL",
            "DECISION",
        ]
        .map(String::from)];
        for cdr in &cdrs {
            rows.push([
                utc(cdr.start_at),
                cdr.caller.clone(),
                cdr.callee_dialled.clone(),
                cdr.disposition.to_string(),
                cdr.sip_code.map(|c| c.to_string()).unwrap_or_default(),
                format!("{}.{:03}s", cdr.duration_ms / 1000, cdr.duration_ms % 1000),
                cdr.call_id.clone(),
                cdr.decision.clone().unwrap_or_default(),
            ]);
        }
        for line in table(&rows) {
            announce(&line);
        }
        Ok(())
    }
}

async fn all_cdrs(store: &Store, filter: &CdrFilter) -> Result<Vec<Cdr>, StoreError> {
    let mut cdrs = Vec::new();
    loop {
        let after = cdrs.last().map_or(0, |c: &Cdr| c.id);
        let page = store
            .cdrs(filter, Page::after(after, store::limits::PAGE))
            .await?;
        if page.is_empty() {
            return Ok(cdrs);
        }
        cdrs.extend(page);
    }
}

fn cdr_json(cdr: &Cdr) -> serde_json::Value {
    serde_json::json!({
        "id": cdr.id,
        "call_id": cdr.call_id,
        "node": cdr.node,
        "a_leg_call_id": cdr.a_leg_call_id,
        "b_leg_call_id": cdr.b_leg_call_id,
        "caller": cdr.caller,
        "callee_dialled": cdr.callee_dialled,
        "callee_presented": cdr.callee_presented,
        "decision": cdr.decision,
        "start_at": cdr.start_at,
        "answer_at": cdr.answer_at,
        "end_at": cdr.end_at,
        "duration_ms": cdr.duration_ms,
        "disposition": cdr.disposition.as_str(),
        "sip_code": cdr.sip_code,
    })
}

/// `2026-12-01 13:19:36.123` for milliseconds since the Unix epoch.
fn utc(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let seconds = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01, by eras
/// of 400 years (146,097 days) that start on 1 March.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

async fn open(args: StoreArgs) -> anyhow::Result<Store> {
    open_store(&args.resolve(Layer::default())?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(utc(1_796_131_176_123), "2026-12-01 13:19:36.123");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999");
    }

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
