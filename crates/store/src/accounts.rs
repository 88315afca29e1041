//! Member accounts (SPEC §3): roles, the company a member belongs to, the
//! contact details of the account, the password's hash, the members' own
//! API tokens, and companies' branches (country → a terminal, a group
//! ringing together, or a PSTN number).
//!
//! The store never sees a password: it keeps the argon2id PHC string the
//! caller computed (`web` hashes and checks). Members' tokens are random
//! and kept as SHA-256, the same code as the operator's tokens.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use crate::error::{Result, StoreError};
use crate::model::{check_text, excerpt, text_enum, Member, MemberId, NewMember, UnixMillis};

text_enum! {
    /// What a member may do through the API. An `operator` member acts
    /// on every tenant; a `company_admin` on their company and its members;
    /// a `member` on their own record.
    pub enum Role ("role") {
        Operator = "operator",
        CompanyAdmin = "company_admin",
        Member = "member",
    }
}

/// Where a member can be reached besides the exchange, and in what
/// language. `None` is "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberProfile {
    /// A BCP 47 language tag (`ko`, `en-GB`, `zh-Hant-TW`).
    pub language: Option<String>,
    /// A PSTN number the member answers, as an E.164 key (`+821012345678`).
    pub contact_pstn: Option<String>,
    /// The member's number at another VoIP provider: a `sip:`/`sips:` URI
    /// or an E.164 key.
    pub voip_elsewhere: Option<String>,
}

impl MemberProfile {
    /// Reads the written forms (`+82 10-1234-5678`, ` EN-gb `) into what
    /// the store keeps, or says which field is wrong and why.
    pub fn normalised(&self) -> Result<MemberProfile> {
        Ok(MemberProfile {
            language: self.language.as_deref().map(language_tag).transpose()?,
            contact_pstn: self
                .contact_pstn
                .as_deref()
                .map(|n| e164_key("contact PSTN number", n))
                .transpose()?,
            voip_elsewhere: self
                .voip_elsewhere
                .as_deref()
                .map(voip_address)
                .transpose()?,
        })
    }
}

pub mod limits {
    pub const LANGUAGE: usize = 35;
    pub const VOIP_ADDRESS: usize = 254;
    pub const PASSWORD_HASH: usize = 512;
}

/// A BCP 47 tag by its syntax (RFC 5646 §2.1, without the grandfathered
/// irregular tags): a 2–3 or 5–8 letter language, then subtags of 1–8
/// letters or digits. Keeps the conventional case: language lower, script
/// title, region upper.
pub fn language_tag(tag: &str) -> Result<String> {
    const FIELD: &str = "language";
    let tag = tag.trim();
    let wrong = || {
        StoreError::invalid(
            FIELD,
            format!(
                "{:?} is not a BCP 47 language tag (e.g. ko, en-GB, zh-Hant-TW)",
                excerpt(tag)
            ),
        )
    };
    if tag.is_empty() || tag.len() > limits::LANGUAGE {
        return Err(wrong());
    }
    let mut out = Vec::new();
    for (i, subtag) in tag.split('-').enumerate() {
        let ok = !subtag.is_empty()
            && subtag.len() <= 8
            && subtag.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(wrong());
        }
        let alpha = subtag.bytes().all(|b| b.is_ascii_alphabetic());
        if i == 0 {
            if !alpha || !matches!(subtag.len(), 2 | 3 | 5..=8) {
                return Err(wrong());
            }
            out.push(subtag.to_ascii_lowercase());
        } else if alpha && subtag.len() == 4 {
            let mut script = subtag.to_ascii_lowercase();
            script[..1].make_ascii_uppercase();
            out.push(script);
        } else if (alpha && subtag.len() == 2) || (subtag.len() == 3 && !alpha && i <= 2) {
            out.push(subtag.to_ascii_uppercase());
        } else {
            out.push(subtag.to_ascii_lowercase());
        }
    }
    Ok(out.join("-"))
}

/// A PSTN number in any written international form, as its E.164 key.
fn e164_key(field: &'static str, written: &str) -> Result<String> {
    let number: numbering::E164 = written.trim().parse().map_err(|err| {
        StoreError::invalid(
            field,
            format!(
                "{:?} is not an international number (+ and the country code, e.g. +82 10-1234-5678): {err}",
                excerpt(written)
            ),
        )
    })?;
    Ok(numbering::Number::E164(number).key())
}

/// A number at another VoIP provider: a SIP URI, or an E.164 number.
fn voip_address(written: &str) -> Result<String> {
    const FIELD: &str = "VoIP number at another provider";
    let written = written.trim();
    let lower = written.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        check_text(FIELD, written, limits::VOIP_ADDRESS)?;
        let (_, rest) = written.split_once(':').unwrap_or_default();
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        if host.is_empty() || written.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(StoreError::invalid(
                FIELD,
                format!(
                    "{:?} is not a SIP URI (sip:user@host, no spaces)",
                    excerpt(written)
                ),
            ));
        }
        return Ok(written.to_owned());
    }
    e164_key(FIELD, written).map_err(|_| {
        StoreError::invalid(
            FIELD,
            format!(
                "{:?} is neither a SIP URI (sip:user@host) nor an international number (+44 20 7946 0000)",
                excerpt(written)
            ),
        )
    })
}

/// A member's API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberToken {
    pub id: i64,
    pub member_id: MemberId,
    pub name: String,
    pub created_at: UnixMillis,
}

/// A member's token just created: the plaintext is shown once and never
/// stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMemberToken {
    pub info: MemberToken,
    pub plaintext: String,
}

impl fmt::Debug for NewMemberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMemberToken")
            .field("info", &self.info)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// Members' accounts: profile, role, password hash, API tokens.
pub trait Accounts {
    /// Registers a member with their password's PHC string, profile and
    /// role, in one transaction: all of it or, on any error, nothing. A
    /// taken e-mail is a `Conflict`; a company admin (who needs a company)
    /// is `Invalid` here — [`set_role`](Accounts::set_role) makes one.
    fn open_account(
        &self,
        new: &NewMember,
        phc: &str,
        profile: &MemberProfile,
        role: Role,
    ) -> impl Future<Output = Result<Member>> + Send;

    /// Replaces the member's profile (after [`MemberProfile::normalised`]);
    /// `NotFound` for an unknown member. Returns the member as stored.
    fn set_profile(
        &self,
        member: MemberId,
        profile: &MemberProfile,
    ) -> impl Future<Output = Result<Member>> + Send;

    /// Sets the role and the company. The company must be a member of
    /// kind company (else `Invalid`), not the member itself; a company
    /// admin needs a company; a company has none.
    fn set_role(
        &self,
        member: MemberId,
        role: Role,
        company: Option<MemberId>,
    ) -> impl Future<Output = Result<Member>> + Send;

    /// Stores the argon2id PHC string of the member's new password and
    /// ends every portal session of theirs, in one transaction.
    fn set_password_hash(
        &self,
        member: MemberId,
        phc: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The PHC string to check a password against; `None` if the member
    /// has no password (or does not exist).
    fn password_hash(
        &self,
        member: MemberId,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// A new random token for `member`; the plaintext is in the result and
    /// nowhere else. `Conflict` if the member has a token of that name.
    fn create_member_token(
        &self,
        member: MemberId,
        name: &str,
    ) -> impl Future<Output = Result<NewMemberToken>> + Send;

    /// The token's record if `plaintext` is a current member token.
    fn verify_member_token(
        &self,
        plaintext: &str,
    ) -> impl Future<Output = Result<Option<MemberToken>>> + Send;

    fn member_tokens(
        &self,
        member: MemberId,
    ) -> impl Future<Output = Result<Vec<MemberToken>>> + Send;

    /// Deletes the member's token `id`; `false` if the member has none such.
    fn revoke_member_token(
        &self,
        member: MemberId,
        id: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
}

// ---------------------------------------------------------------- sessions

/// How long a portal session lasts from log-in: a working day.
pub const SESSION_MS: i64 = 12 * 3_600_000;

/// A member logged in through the portal.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub member_id: MemberId,
    /// The session's synchronizer token: every form of this session carries
    /// it back, and a POST without it is refused.
    pub csrf: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("member_id", &self.member_id)
            .field("csrf", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A session just opened: the cookie's token is here and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub session: Session,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"<redacted>")
            .field("session", &self.session)
            .finish()
    }
}

/// Portal sessions, kept as SHA-256 hashes of their cookies' tokens.
pub trait Sessions {
    /// Opens a session for `member` at `now`, lasting `ttl_ms`. `NotFound`
    /// for an unknown member.
    fn open_session(
        &self,
        member: MemberId,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<NewSession>> + Send;

    /// The session `token` names if it is current at `now`.
    fn session(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<Session>>> + Send;

    /// Ends the session `token` names (logging out); `false` if none.
    fn close_session(&self, token: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Deletes the sessions that ended by `now`; how many.
    fn purge_sessions(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;
}

// ---------------------------------------------------------------- branches

/// The most terminals one branch rings together.
pub const MAX_GROUP: usize = 32;

/// Where a company's branch sends its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchDestination {
    /// A terminal: a number (store key) the company or one of its members
    /// holds.
    Terminal(String),
    /// Terminals ringing together (2 to [`MAX_GROUP`] numbers).
    Group(Vec<String>),
    /// A PSTN number, as its E.164 key.
    Pstn(String),
}

impl BranchDestination {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            BranchDestination::Terminal(_) => "terminal",
            BranchDestination::Group(_) => "group",
            BranchDestination::Pstn(_) => "pstn",
        }
    }

    /// Reads written numbers into keys (`02-6200-6200-082` →
    /// `0262006200082`), or says which one is wrong.
    pub fn normalised(&self) -> Result<BranchDestination> {
        Ok(match self {
            BranchDestination::Terminal(number) => {
                BranchDestination::Terminal(number_key("terminal", number)?)
            }
            BranchDestination::Group(numbers) => {
                let mut keys = Vec::with_capacity(numbers.len());
                for number in numbers {
                    let key = number_key("group", number)?;
                    if keys.contains(&key) {
                        return Err(StoreError::invalid(
                            "group",
                            format!("{} is in the group twice", excerpt(number)),
                        ));
                    }
                    keys.push(key);
                }
                if !(2..=MAX_GROUP).contains(&keys.len()) {
                    return Err(StoreError::invalid(
                        "group",
                        format!(
                            "a group rings 2 to {MAX_GROUP} terminals; this one has {}",
                            keys.len()
                        ),
                    ));
                }
                BranchDestination::Group(keys)
            }
            BranchDestination::Pstn(number) => {
                BranchDestination::Pstn(e164_key("PSTN number", number)?)
            }
        })
    }

    /// The terminals' number keys (none for a PSTN number).
    pub fn terminals(&self) -> &[String] {
        match self {
            BranchDestination::Terminal(number) => std::slice::from_ref(number),
            BranchDestination::Group(numbers) => numbers,
            BranchDestination::Pstn(_) => &[],
        }
    }

    /// The stored text: the key, or the group's keys comma-separated.
    pub(crate) fn stored(&self) -> String {
        match self {
            BranchDestination::Terminal(key) | BranchDestination::Pstn(key) => key.clone(),
            BranchDestination::Group(keys) => keys.join(","),
        }
    }

    pub(crate) fn from_stored(kind: &str, text: &str) -> Result<BranchDestination> {
        Ok(match kind {
            "terminal" => BranchDestination::Terminal(text.to_owned()),
            "group" => BranchDestination::Group(text.split(',').map(str::to_owned).collect()),
            "pstn" => BranchDestination::Pstn(text.to_owned()),
            other => {
                return Err(StoreError::invalid(
                    "branch destination",
                    format!("{other:?} is not terminal, group or pstn"),
                ))
            }
        })
    }
}

/// A number in any written form, as its store key.
fn number_key(field: &'static str, written: &str) -> Result<String> {
    written
        .parse::<numbering::Number>()
        .map(|number| number.key())
        .map_err(|err| {
            StoreError::invalid(
                field,
                format!("{:?} is not a number: {err}", excerpt(written)),
            )
        })
}

/// A company's branch in one country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub company_id: MemberId,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub destination: BranchDestination,
    /// Where calls for a country without a branch go.
    pub default: bool,
    pub updated_at: UnixMillis,
}

/// Companies' branches (SPEC §3).
pub trait Branches {
    /// Creates or replaces `company`'s branch in `country`. `company` must
    /// be a company (`Invalid` otherwise, `NotFound` if unknown); each
    /// terminal must be held by the company or one of its members
    /// (`Invalid`). A new default branch takes over from the previous one.
    fn set_branch(
        &self,
        company: MemberId,
        country: &str,
        destination: &BranchDestination,
        default: bool,
    ) -> impl Future<Output = Result<Branch>> + Send;

    fn branch(
        &self,
        company: MemberId,
        country: &str,
    ) -> impl Future<Output = Result<Option<Branch>>> + Send;

    /// The company's branches, by country.
    fn branches(&self, company: MemberId) -> impl Future<Output = Result<Vec<Branch>>> + Send;

    /// Deletes the branch; `false` if there was none.
    fn remove_branch(
        &self,
        company: MemberId,
        country: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
}
