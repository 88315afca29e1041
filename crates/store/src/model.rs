//! The records the store keeps, and the checks every write passes before it
//! reaches the database.
//!
//! Checks are about data integrity only (lengths, shapes, consistency of a
//! record with itself); the rules of the exchange live in the pure crates.
//! Every input type has a `validate` method the switch can call at the edge,
//! before it queues a write, so that a bad value is refused while the SIP
//! transaction that brought it can still be answered.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sip::digest::Algorithm;

use crate::error::{Result, StoreError};

/// Milliseconds since the Unix epoch, UTC: how every time is stored, the
/// same integer on both engines.
pub type UnixMillis = i64;

/// The wall clock as [`UnixMillis`]. The store stamps `created_at` and
/// `assigned_at` with it; times that are facts of a call or a registration
/// (`start_at`, `expires_at`, ...) are always given by the caller.
pub fn now_millis() -> UnixMillis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The longest value, in characters, each text column accepts. Both engines
/// enforce the same limits because the store checks them before writing.
pub mod limits {
    pub const DISPLAY_NAME: usize = 200;
    pub const EMAIL: usize = 254;
    pub const NUMBER: usize = 32;
    pub const REALM: usize = 255;
    pub const AOR: usize = 512;
    pub const CONTACT: usize = 2048;
    pub const SIP_CALL_ID: usize = 512;
    pub const PATH: usize = 8192;
    pub const RECEIVED: usize = 128;
    pub const INSTANCE_ID: usize = 256;
    pub const USER_AGENT: usize = 512;
    pub const NODE: usize = 64;
    pub const CALL_ID: usize = 128;
    pub const PARTY: usize = 256;
    /// A call's decision: one sentence, short enough to read in a list.
    pub const DECISION: usize = 300;
    pub const TOKEN_NAME: usize = 100;
    pub const TOKEN: usize = 256;
    /// The most rows one page returns, whatever the page asks for.
    pub const PAGE: u32 = 1000;
}

/// Names stored as text, with the same spelling in Rust, SQL and the API.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($field:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;

            fn from_str(text: &str) -> Result<Self> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        StoreError::invalid(
                            $field,
                            format!("{:?} is not one of {}", excerpt(text), known.join(", ")),
                        )
                    })
            }
        }
    };
}
pub(crate) use text_enum;

// ---------------------------------------------------------------- members

/// A member's id, as the API and the CLI show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub i64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_enum! {
    /// Individuals hold PINs; companies hold VNS numbers and branches.
    pub enum MemberKind ("member kind") {
        Individual = "individual",
        Company = "company",
    }
}

/// A member as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub kind: MemberKind,
    pub display_name: String,
    /// As given at registration; unique ignoring case.
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2, upper case (`KR`, `US`).
    pub country: String,
    pub created_at: UnixMillis,
    /// What the member may do; `member` until the operator says otherwise.
    pub role: crate::accounts::Role,
    /// The company (a member of kind company) this member belongs to.
    pub company_id: Option<MemberId>,
    /// The account's contact details ([`crate::MemberProfile`]).
    pub profile: crate::accounts::MemberProfile,
}

/// What registering a member takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub kind: MemberKind,
    pub display_name: String,
    pub email: Option<String>,
    /// Two ASCII letters, any case; stored upper case. Whether the code is
    /// assigned is the numbering rules' business, not the store's.
    pub country: String,
}

impl NewMember {
    pub fn validate(&self) -> Result<()> {
        check_text("display name", &self.display_name, limits::DISPLAY_NAME)?;
        if let Some(email) = &self.email {
            email_key(email)?;
        }
        country_code(&self.country)?;
        Ok(())
    }
}

/// The form of an e-mail address that uniqueness and look-ups compare:
/// lowercased in Rust, so both engines agree on what "the same address" is.
pub(crate) fn email_key(email: &str) -> Result<String> {
    const FIELD: &str = "e-mail";
    check_text(FIELD, email, limits::EMAIL)?;
    let shape_ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !shape_ok {
        return Err(StoreError::invalid(
            FIELD,
            format!("{:?} is not of the form name@domain", excerpt(email)),
        ));
    }
    Ok(email.to_lowercase())
}

pub(crate) fn country_code(country: &str) -> Result<String> {
    if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(country.to_ascii_uppercase())
    } else {
        Err(StoreError::invalid(
            "country",
            format!(
                "{:?} is not an ISO 3166-1 alpha-2 code (two letters, e.g. KR)",
                excerpt(country)
            ),
        ))
    }
}

// ---------------------------------------------------------------- numbers

text_enum! {
    /// What kind of number a member holds (SPEC.md section 1).
    pub enum NumberKind ("number kind") {
        Pin = "pin",
        Vns = "vns",
        E164 = "e164",
    }
}

/// A number and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldNumber {
    /// The number's store key ([`numbering::Number::key`]): the member's
    /// SIP username, too.
    pub number: String,
    pub kind: NumberKind,
    pub member_id: MemberId,
    pub assigned_at: UnixMillis,
}

impl From<NumberKind> for numbering::NumberKind {
    fn from(kind: NumberKind) -> numbering::NumberKind {
        match kind {
            NumberKind::Pin => numbering::NumberKind::Pin,
            NumberKind::Vns => numbering::NumberKind::Vns,
            NumberKind::E164 => numbering::NumberKind::E164,
        }
    }
}

impl From<numbering::NumberKind> for NumberKind {
    fn from(kind: numbering::NumberKind) -> NumberKind {
        match kind {
            numbering::NumberKind::Pin => NumberKind::Pin,
            numbering::NumberKind::Vns => NumberKind::Vns,
            numbering::NumberKind::E164 => NumberKind::E164,
        }
    }
}

/// A store key: the canonical key ([`numbering::Number::key`]) of a
/// number of some kind: `0262006200082`, `62006200#082`, `62006200`,
/// `+82262006200`. Written forms are the numbering crate's to read; the
/// store takes only what it would write itself, so one number has one row.
pub(crate) fn check_number(key: &str) -> Result<()> {
    if NumberKind::ALL
        .iter()
        .any(|&kind| numbering::Number::from_key(kind.into(), key).is_ok())
    {
        return Ok(());
    }
    // Explain by the kind the key looks most like.
    let likely = if key.starts_with('+') {
        NumberKind::E164
    } else if key.contains('#') {
        NumberKind::Vns
    } else {
        NumberKind::Pin
    };
    check_number_of_kind(key, likely)
}

/// A store key of a `kind` number (see [`check_number`]).
pub(crate) fn check_number_of_kind(key: &str, kind: NumberKind) -> Result<()> {
    let Err(error) = numbering::Number::from_key(kind.into(), key) else {
        return Ok(());
    };
    let reason = match NumberKind::ALL
        .iter()
        .find(|&&other| numbering::Number::from_key(other.into(), key).is_ok())
    {
        Some(other) => format!(
            "{:?} is the key of a {other} number, not of a {kind} one",
            excerpt(key)
        ),
        None => format!(
            "{:?} is not the key of a {kind} number: {error}",
            excerpt(key)
        ),
    };
    Err(StoreError::invalid("number", reason))
}

// ---------------------------------------------------------------- SIP credentials

/// Lowercase hex of the right length for `algorithm`; upper-case hex is
/// accepted and lowered.
pub(crate) fn ha1_hex(algorithm: Algorithm, ha1: &str) -> Result<String> {
    let expected = match algorithm {
        Algorithm::Md5 => 32,
        Algorithm::Sha256 => 64,
    };
    if ha1.len() != expected || !ha1.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::invalid(
            "HA1",
            format!("an {algorithm} HA1 is {expected} hex digits"),
        ));
    }
    Ok(ha1.to_ascii_lowercase())
}

// ---------------------------------------------------------------- registrar bindings

/// One contact bound to an address-of-record (RFC 3261 section 10), with
/// what the registrar needs to reach it again through NAT (RFC 3581, 5626).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The address-of-record, as the registrar spells it (e.g.
    /// `sip:4420@example.com`).
    pub aor: String,
    /// The Contact URI, as registered.
    pub contact: String,
    /// The q-value in per mille: `q=0.7` is 700, `q=1` is 1000.
    pub q: u16,
    pub expires_at: UnixMillis,
    pub call_id: String,
    pub cseq: u32,
    /// The Path header values (RFC 3327), as received; empty if none.
    pub path: String,
    /// Transport and source address the REGISTER came from, e.g.
    /// `udp:192.0.2.1:5060`.
    pub received: String,
    /// RFC 5626 `+sip.instance`.
    pub instance_id: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    pub user_agent: String,
    /// The node that took the REGISTER (and holds its flow).
    pub node: String,
    pub updated_at: UnixMillis,
}

impl Binding {
    pub fn validate(&self) -> Result<()> {
        check_text("address-of-record", &self.aor, limits::AOR)?;
        check_text("contact", &self.contact, limits::CONTACT)?;
        if self.q > 1000 {
            return Err(StoreError::invalid(
                "q",
                format!("{} per mille is above 1000 (q=1)", self.q),
            ));
        }
        check_text("Call-ID", &self.call_id, limits::SIP_CALL_ID)?;
        check_optional_text("path", &self.path, limits::PATH)?;
        check_text("received", &self.received, limits::RECEIVED)?;
        if let Some(instance) = &self.instance_id {
            check_text("instance id", instance, limits::INSTANCE_ID)?;
        }
        if self.reg_id == Some(0) {
            return Err(StoreError::invalid(
                "reg-id",
                "0 (RFC 5626 reg-id starts at 1)",
            ));
        }
        check_optional_text("user agent", &self.user_agent, limits::USER_AGENT)?;
        check_text("node", &self.node, limits::NODE)?;
        Ok(())
    }
}

/// What [`upsert_binding`](crate::Location::upsert_binding) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingWrite {
    /// The binding was created or replaced.
    Applied,
    /// A binding with the same Call-ID and an equal or higher CSeq is stored:
    /// this REGISTER is older than what we know (RFC 3261 section 10.3 step
    /// 7), and nothing was changed.
    OutOfOrder,
}

// ---------------------------------------------------------------- calls and CDRs

text_enum! {
    /// How a call ended.
    pub enum Disposition ("disposition") {
        /// The callee answered; the duration counts from the answer.
        Answered = "answered",
        Busy = "busy",
        NoAnswer = "no-answer",
        /// The caller gave up (CANCEL) before the answer.
        Cancelled = "cancelled",
        /// Refused or failed with the SIP code in `sip_code`.
        Failed = "failed",
        /// The node stopped (killed, crashed) during the call; closed on
        /// restart with what was known.
        Interrupted = "interrupted",
    }
}

/// A call in progress, as written when it starts so that it can be closed
/// after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCall {
    /// The exchange's own id for the call, unique across nodes (not a SIP
    /// Call-ID: those come from outside and may collide).
    pub call_id: String,
    pub node: String,
    /// The caller's dialog's Call-ID.
    pub a_leg_call_id: String,
    /// The callee's dialog's Call-ID, once a leg is chosen.
    pub b_leg_call_id: Option<String>,
    pub caller: String,
    pub callee_dialled: String,
    /// The callee as the exchange sent it on the B leg, once routed.
    pub callee_presented: Option<String>,
    /// How the exchange read the dial string ("a national number of KR
    /// (trunk prefix)", "business call (signal dialled); a PIN"), or why it
    /// refused it ("6200-6200#082 is not in service").
    pub decision: Option<String>,
    pub start_at: UnixMillis,
    pub answer_at: Option<UnixMillis>,
}

impl ActiveCall {
    pub fn validate(&self) -> Result<()> {
        check_text("call id", &self.call_id, limits::CALL_ID)?;
        check_text("node", &self.node, limits::NODE)?;
        check_text("A-leg Call-ID", &self.a_leg_call_id, limits::SIP_CALL_ID)?;
        if let Some(b_leg) = &self.b_leg_call_id {
            check_text("B-leg Call-ID", b_leg, limits::SIP_CALL_ID)?;
        }
        check_text("caller", &self.caller, limits::PARTY)?;
        check_text("callee dialled", &self.callee_dialled, limits::PARTY)?;
        if let Some(presented) = &self.callee_presented {
            check_text("callee presented", presented, limits::PARTY)?;
        }
        if let Some(decision) = &self.decision {
            check_text("decision", decision, limits::DECISION)?;
        }
        if let Some(answer_at) = self.answer_at {
            if answer_at < self.start_at {
                return Err(StoreError::invalid(
                    "answer time",
                    format!("call {} answered before it started", self.call_id),
                ));
            }
        }
        Ok(())
    }

    /// The CDR of this call ending at `end_at`: what the switch writes when
    /// it ends normally, and what recovery writes after a crash.
    pub fn into_cdr(
        self,
        end_at: UnixMillis,
        disposition: Disposition,
        sip_code: Option<u16>,
    ) -> NewCdr {
        NewCdr {
            call_id: self.call_id,
            node: self.node,
            a_leg_call_id: self.a_leg_call_id,
            b_leg_call_id: self.b_leg_call_id,
            caller: self.caller,
            callee_dialled: self.callee_dialled,
            callee_presented: self.callee_presented,
            decision: self.decision,
            start_at: self.start_at,
            answer_at: self.answer_at,
            end_at,
            disposition,
            sip_code,
        }
    }
}

/// The answer of an active call: its time, and the B leg that won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub call_id: String,
    pub answer_at: UnixMillis,
    /// Replaces the stored B-leg Call-ID when given.
    pub b_leg_call_id: Option<String>,
}

impl Answer {
    pub fn validate(&self) -> Result<()> {
        check_text("call id", &self.call_id, limits::CALL_ID)?;
        if let Some(b_leg) = &self.b_leg_call_id {
            check_text("B-leg Call-ID", b_leg, limits::SIP_CALL_ID)?;
        }
        Ok(())
    }
}

/// A finished call, as the switch hands it over. The duration is derived
/// (answer to end), so it cannot disagree with the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCdr {
    pub call_id: String,
    pub node: String,
    pub a_leg_call_id: String,
    pub b_leg_call_id: Option<String>,
    pub caller: String,
    pub callee_dialled: String,
    pub callee_presented: Option<String>,
    /// How the exchange read the dial string, or why it refused it (see
    /// [`ActiveCall::decision`]).
    pub decision: Option<String>,
    pub start_at: UnixMillis,
    pub answer_at: Option<UnixMillis>,
    pub end_at: UnixMillis,
    pub disposition: Disposition,
    /// The final SIP status of the call: required for `Failed`.
    pub sip_code: Option<u16>,
}

impl NewCdr {
    /// Answer to end in milliseconds; 0 for a call never answered.
    pub fn duration_ms(&self) -> i64 {
        self.answer_at
            .map_or(0, |answer_at| self.end_at - answer_at)
    }

    pub fn validate(&self) -> Result<()> {
        check_text("call id", &self.call_id, limits::CALL_ID)?;
        check_text("node", &self.node, limits::NODE)?;
        check_text("A-leg Call-ID", &self.a_leg_call_id, limits::SIP_CALL_ID)?;
        if let Some(b_leg) = &self.b_leg_call_id {
            check_text("B-leg Call-ID", b_leg, limits::SIP_CALL_ID)?;
        }
        check_text("caller", &self.caller, limits::PARTY)?;
        check_text("callee dialled", &self.callee_dialled, limits::PARTY)?;
        if let Some(presented) = &self.callee_presented {
            check_text("callee presented", presented, limits::PARTY)?;
        }
        if let Some(decision) = &self.decision {
            check_text("decision", decision, limits::DECISION)?;
        }
        let call = &self.call_id;
        if self.end_at < self.start_at {
            return Err(StoreError::invalid(
                "end time",
                format!("call {call} ended before it started"),
            ));
        }
        if let Some(answer_at) = self.answer_at {
            if !(self.start_at..=self.end_at).contains(&answer_at) {
                return Err(StoreError::invalid(
                    "answer time",
                    format!("call {call} answered outside its start and end"),
                ));
            }
        }
        let answered = self.answer_at.is_some();
        match self.disposition {
            Disposition::Answered if !answered => {
                return Err(StoreError::invalid(
                    "disposition",
                    format!("call {call} is answered but has no answer time"),
                ))
            }
            Disposition::Busy
            | Disposition::NoAnswer
            | Disposition::Cancelled
            | Disposition::Failed
                if answered =>
            {
                return Err(StoreError::invalid(
                    "disposition",
                    format!("call {call} is {} but has an answer time", self.disposition),
                ))
            }
            Disposition::Failed if self.sip_code.is_none() => {
                return Err(StoreError::invalid(
                    "SIP code",
                    format!("failed call {call} needs the SIP code it failed with"),
                ))
            }
            _ => {}
        }
        if let Some(code) = self.sip_code {
            if !(100..=699).contains(&code) {
                return Err(StoreError::invalid(
                    "SIP code",
                    format!("{code} is not a SIP status code (100-699)"),
                ));
            }
        }
        Ok(())
    }
}

/// A stored CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    pub id: i64,
    pub call_id: String,
    pub node: String,
    pub a_leg_call_id: String,
    pub b_leg_call_id: Option<String>,
    pub caller: String,
    pub callee_dialled: String,
    pub callee_presented: Option<String>,
    /// How the exchange read the dial string, or why it refused it (see
    /// [`ActiveCall::decision`]).
    pub decision: Option<String>,
    pub start_at: UnixMillis,
    pub answer_at: Option<UnixMillis>,
    pub end_at: UnixMillis,
    pub duration_ms: i64,
    pub disposition: Disposition,
    pub sip_code: Option<u16>,
}

/// Writes to active calls and CDRs that commit together, in one database
/// transaction: the unit of the switch's group commit. Applied in field
/// order (opened, answered, closed), so a call may open and close in the
/// same batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallBatch {
    pub opened: Vec<ActiveCall>,
    pub answered: Vec<Answer>,
    pub closed: Vec<NewCdr>,
}

impl CallBatch {
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty() && self.answered.is_empty() && self.closed.is_empty()
    }

    /// Every record's checks; the first failure names its call.
    pub fn validate(&self) -> Result<()> {
        self.opened.iter().try_for_each(ActiveCall::validate)?;
        self.answered.iter().try_for_each(Answer::validate)?;
        self.closed.iter().try_for_each(NewCdr::validate)
    }
}

/// What a [`CallBatch`] changed. A batch is lenient where a group commit
/// must be: a call already open, an answer for a call no longer active, or
/// a CDR for a call already closed is skipped, not an error, and shows here
/// as a count lower than the batch's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub opened: u64,
    pub answered: u64,
    pub closed: u64,
}

/// Which CDRs to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    pub call_id: Option<String>,
    pub node: Option<String>,
    pub caller: Option<String>,
    pub callee_dialled: Option<String>,
    pub disposition: Option<Disposition>,
    /// Calls that started at or after this time.
    pub started_from: Option<UnixMillis>,
    /// Calls that started before this time.
    pub started_before: Option<UnixMillis>,
}

// ---------------------------------------------------------------- API tokens

/// An operator API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_at: UnixMillis,
}

/// A token just created: the plaintext is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub info: TokenInfo,
    pub plaintext: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("info", &self.info)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

pub(crate) fn check_token(plaintext: &str) -> Result<()> {
    const FIELD: &str = "API token";
    let length = plaintext.chars().count();
    if !(16..=limits::TOKEN).contains(&length)
        || plaintext
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(StoreError::invalid(
            FIELD,
            format!(
                "a token is 16 to {} characters without spaces",
                limits::TOKEN
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- pages

/// Keyset pagination over ids: the rows with `id > after`, in id order, at
/// most `limit` of them (capped at [`limits::PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: i64,
    pub limit: u32,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Page {
        Page { after: 0, limit }
    }

    /// The `limit` rows after the row with id `after`.
    pub fn after(after: i64, limit: u32) -> Page {
        Page { after, limit }
    }

    pub(crate) fn sql_limit(self) -> i64 {
        i64::from(self.limit.min(limits::PAGE))
    }
}

// ---------------------------------------------------------------- text checks

/// Non-empty, at most `max` characters, no control characters (a CR or LF
/// would forge a SIP header or a CSV row when the value is written out).
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(StoreError::invalid(field, "it is empty"));
    }
    check_optional_text(field, value, max)
}

/// Like [`check_text`], but an empty value is fine.
pub(crate) fn check_optional_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    let length = value.chars().count();
    if length > max {
        return Err(StoreError::invalid(
            field,
            format!("{length} characters, more than {max}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("{:?} contains control characters", excerpt(value)),
        ));
    }
    Ok(())
}

/// The start of a value, for error messages that must stay short whatever
/// was sent.
pub(crate) fn excerpt(value: &str) -> String {
    const SHOWN: usize = 40;
    if value.chars().count() <= SHOWN {
        value.to_owned()
    } else {
        let mut shown: String = value.chars().take(SHOWN).collect();
        shown.push('…');
        shown
    }
}
