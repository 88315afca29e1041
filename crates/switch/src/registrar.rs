//! The registrar (RFC 3261 §10.3): members' phones bind their contacts to
//! their number here, so that calls to the number find them.
//!
//! A REGISTER goes through three steps, each a plain function of what is
//! known by then, so that the engine never waits on the database while
//! holding the registrar:
//!
//! 1. [`Registrar::receive`]: read the request (address-of-record, contacts,
//!    expiry bounds, `*` rules) and either answer at once (400, 404, 423,
//!    the 401 challenge) or ask for a [`Lookup`] of the HA1 and the number;
//! 2. [`Registrar::authenticated`]: with the [`LookedUp`] result, check the
//!    digest (401, `stale=true`), the number (404) and that the user is the
//!    AOR's (403); answer a query, refuse an out-of-order request (500), or
//!    ask for a [`Write`] of the bindings;
//! 3. [`Registrar::written`]: with what the store holds now, refresh the
//!    [`Locations`] cache and answer 200 with every current binding.
//!
//! [`look_up`] is the store side of step 1 (the engine answers it from its
//! credential cache when it can); the [`Write`] of step 2 goes to the
//! registrar's group commit, which answers once the bindings are durable.
//!
//! The address-of-record is `sip:<number>@<anything>`: the user part is the
//! member's number in digits, which is also the SIP username. It is kept as
//! `sip:<number>@<realm>`, so that every host a phone may use names the same
//! AOR.

use std::time::Duration;

use sip::build;
use sip::digest::{Algorithm, Authenticator, Credentials, Verdict};
use sip::message::parse_delta_seconds;
use sip::{HeaderName, Message, NameAddr};
use store::prelude::*;
use store::{limits, UnixMillis};
use tracing::{debug, warn};

use crate::frontend::{new_tag, SERVER};
use crate::location::Locations;
use crate::transport::Source;

/// How long registrations may last, and how long a challenge holds.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Shorter registrations get `423 Interval Too Brief` (RFC 3261 §10.3
    /// step 7); `Expires: 0` (unregister) is always allowed.
    pub min_expires: u32,
    /// Longer registrations are shortened to this.
    pub max_expires: u32,
    /// For contacts that ask for no particular expiry.
    pub default_expires: u32,
    /// How long a nonce of a 401 challenge may be answered.
    pub nonce_lifetime: Duration,
    /// The digest algorithms challenged with, one `WWW-Authenticate` each,
    /// preferred first (RFC 8760). By default MD5 alone, as phones in the
    /// field expect: some fail on a challenge they do not know instead of
    /// answering the next one (Debian's baresip 1.0 refuses to register
    /// when a SHA-256 challenge is among them; SIPp 3.6 answers only the
    /// first). `[Sha256, Md5]` offers SHA-256 to phones that handle
    /// several challenges, `[Sha256]` requires it.
    pub algorithms: Vec<Algorithm>,
    /// How often expired bindings are deleted (they are hidden as soon as
    /// they expire whatever this is).
    pub purge_interval: Duration,
}

impl Default for RegistrarConfig {
    fn default() -> RegistrarConfig {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5],
            purge_interval: Duration::from_secs(30),
        }
    }
}

/// The address-of-record of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aor {
    /// The number in digits: the SIP username of its holder.
    pub number: String,
    /// As kept in the location service: `sip:<number>@<realm>`.
    pub uri: String,
}

/// What a REGISTER asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// No Contact: which bindings are there?
    Query,
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// Add, refresh or (with expiry 0) remove these contacts.
    Update(Vec<ContactUpdate>),
}

/// One Contact of a REGISTER, with its expiry decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    pub uri: String,
    /// Per mille (`q=0.7` is 700); 1000 when not given.
    pub q: u16,
    /// Seconds, within the configured bounds; 0 removes the binding.
    pub expires: u32,
    pub instance_id: Option<String>,
    pub reg_id: Option<u32>,
}

/// A REGISTER as the registrar reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub aor: Aor,
    pub contacts: Contacts,
    pub call_id: String,
    pub cseq: u32,
    /// Path values (RFC 3327), in order.
    pub path: Vec<String>,
    /// The UA listed `path` in Supported: the 200 echoes Path.
    pub wants_path: bool,
    pub user_agent: String,
}

/// Why a REGISTER is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// 400, with what is wrong.
    Malformed(String),
    /// 404: the AOR is not a number held by a member.
    NotANumber,
    /// 423 with `Min-Expires`.
    IntervalTooBrief { min_expires: u32 },
    /// 403: the authenticated user is not the AOR's.
    Forbidden,
    /// 500 (RFC 3261 §10.3 step 7 says only that "the request fails"; 500
    /// is what §12.2.2 answers out-of-order requests with).
    OutOfOrder,
    /// 500: the store failed.
    StoreFailed,
}

impl RegisterError {
    fn malformed(what: impl Into<String>) -> RegisterError {
        RegisterError::Malformed(what.into())
    }

    /// The response to `req`.
    pub fn response(&self, req: &Message) -> Message {
        match self {
            RegisterError::Malformed(what) => {
                let what: String = what
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(200)
                    .collect();
                answer(req, 400, &format!("Bad Request - {what}")).build()
            }
            RegisterError::NotANumber => answer(req, 404, "Not Found").build(),
            RegisterError::IntervalTooBrief { min_expires } => {
                answer(req, 423, "Interval Too Brief")
                    .header(HeaderName::MinExpires, &min_expires.to_string())
                    .build()
            }
            RegisterError::Forbidden => answer(req, 403, "Forbidden").build(),
            RegisterError::OutOfOrder | RegisterError::StoreFailed => {
                answer(req, 500, "Server Internal Error").build()
            }
        }
    }
}

/// What the registrar needs from the store to go on with a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The digest username and the algorithm its response used.
    pub username: String,
    pub algorithm: Algorithm,
    /// The AOR's number, to check that someone holds it.
    pub number: String,
}

/// The answer to a [`Lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookedUp {
    pub ha1: Option<String>,
    pub number_held: bool,
}

/// A change of the location service for a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    RemoveAll {
        aor: String,
    },
    /// Upserts; removals are upserts expiring now (so that the store applies
    /// the Call-ID/CSeq rule to them too).
    Bindings {
        aor: String,
        bindings: Vec<Binding>,
    },
}

impl Write {
    pub fn aor(&self) -> &str {
        match self {
            Write::RemoveAll { aor } | Write::Bindings { aor, .. } => aor,
        }
    }
}

/// What the store holds for the AOR after a [`Write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Current(Vec<Binding>),
    /// Another node (or a racing request) has a newer REGISTER of this
    /// Call-ID: nothing was changed.
    OutOfOrder,
}

/// What to do next with a REGISTER.
#[derive(Debug)]
pub enum Step {
    Answer(Message),
    Lookup(Register, Lookup),
    Write(Register, Write),
}

/// The registrar of one node: its digest authenticator, its policy and the
/// hot copy of the location service.
pub struct Registrar {
    realm: String,
    node: String,
    config: RegistrarConfig,
    authenticator: Authenticator,
    locations: Locations,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("realm", &self.realm)
            .field("node", &self.node)
            .field("config", &self.config)
            .field("aors", &self.locations.len())
            .finish()
    }
}

impl Registrar {
    /// A registrar for `realm` whose nonces are signed with `secret`.
    pub fn new(realm: &str, node: &str, config: RegistrarConfig, secret: &[u8]) -> Registrar {
        Registrar {
            realm: realm.to_owned(),
            node: node.to_owned(),
            authenticator: Authenticator::new(secret, config.nonce_lifetime)
                .with_algorithms(&config.algorithms),
            config,
            locations: Locations::default(),
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    pub fn locations(&self) -> &Locations {
        &self.locations
    }

    pub fn locations_mut(&mut self) -> &mut Locations {
        &mut self.locations
    }

    /// Step 1: reads the REGISTER and challenges it unless it carries
    /// credentials for this realm.
    pub fn receive(&mut self, req: &Message, now: UnixMillis) -> Step {
        let register = match read_register(req, &self.realm, &self.config) {
            Ok(register) => register,
            Err(refusal) => return Step::Answer(refusal.response(req)),
        };
        let Some(credentials) = credentials_for(req, &self.realm) else {
            return Step::Answer(self.challenge(req, now, false));
        };
        if !credentials.uri_matches(req.request_uri_str().unwrap_or_default()) {
            return Step::Answer(
                RegisterError::malformed("digest uri is not the Request-URI").response(req),
            );
        }
        let lookup = Lookup {
            username: credentials.username.to_string(),
            algorithm: credentials.algorithm,
            number: register.aor.number.clone(),
        };
        Step::Lookup(register, lookup)
    }

    /// Step 2: decides with the HA1 and the number looked up.
    pub fn authenticated(
        &mut self,
        req: &Message,
        register: Register,
        looked_up: LookedUp,
        source: &Source,
        now: UnixMillis,
    ) -> Step {
        let Some(credentials) = credentials_for(req, &self.realm) else {
            // Step 1 found them in the same request.
            return Step::Answer(self.challenge(req, now, false));
        };
        let verdict = self.authenticator.verify(
            &credentials,
            &self.realm,
            "REGISTER",
            |_| looked_up.ha1.as_deref(),
            epoch(now),
        );
        match verdict {
            Ok(()) => {}
            Err(Verdict::Stale) => return Step::Answer(self.challenge(req, now, true)),
            Err(verdict) => {
                debug!(username = %credentials.username, %verdict, "REGISTER not authenticated");
                return Step::Answer(self.challenge(req, now, false));
            }
        }
        if !looked_up.number_held {
            return Step::Answer(RegisterError::NotANumber.response(req));
        }
        if credentials.username != register.aor.number {
            debug!(username = %credentials.username, aor = %register.aor.uri, "REGISTER for someone else's number");
            return Step::Answer(RegisterError::Forbidden.response(req));
        }
        let current = self.locations.current(&register.aor.uri, now);
        match &register.contacts {
            Contacts::Query => {
                let answer = registered(req, &register, &current, now);
                Step::Answer(answer)
            }
            Contacts::RemoveAll => {
                if is_out_of_order(&current, &register.call_id, register.cseq, None) {
                    return Step::Answer(RegisterError::OutOfOrder.response(req));
                }
                let write = Write::RemoveAll {
                    aor: register.aor.uri.clone(),
                };
                Step::Write(register, write)
            }
            Contacts::Update(updates) => {
                let out_of_order = updates.iter().any(|u| {
                    is_out_of_order(&current, &register.call_id, register.cseq, Some(&u.uri))
                });
                if out_of_order {
                    return Step::Answer(RegisterError::OutOfOrder.response(req));
                }
                let received = received(source);
                let bindings: Vec<Binding> = updates
                    .iter()
                    .map(|u| binding(&register, u, &received, &self.node, now))
                    .collect();
                if let Some(Err(e)) = bindings.iter().map(Binding::validate).find(Result::is_err) {
                    return Step::Answer(RegisterError::malformed(e.to_string()).response(req));
                }
                let write = Write::Bindings {
                    aor: register.aor.uri.clone(),
                    bindings,
                };
                Step::Write(register, write)
            }
        }
    }

    /// Step 3: the store has the bindings; the cache takes them, the UA
    /// hears about every current one.
    pub fn written(
        &mut self,
        req: &Message,
        register: &Register,
        written: Result<Written, String>,
        now: UnixMillis,
    ) -> Message {
        match written {
            Ok(Written::Current(bindings)) => {
                self.locations.replace(&register.aor.uri, bindings);
                let current = self.locations.current(&register.aor.uri, now);
                registered(req, register, &current, now)
            }
            Ok(Written::OutOfOrder) => RegisterError::OutOfOrder.response(req),
            Err(e) => {
                warn!(aor = %register.aor.uri, error = %e, "bindings not written");
                RegisterError::StoreFailed.response(req)
            }
        }
    }

    /// `401 Unauthorized` with one challenge per algorithm, SHA-256 first.
    fn challenge(&mut self, req: &Message, now: UnixMillis, stale: bool) -> Message {
        let mut b = answer(req, 401, "Unauthorized");
        for value in self.authenticator.challenge(&self.realm, epoch(now), stale) {
            b = b.header(HeaderName::WwwAuthenticate, &value);
        }
        b.build()
    }
}

/// Step 1's store side: the HA1 for the credentials and whether the AOR's
/// number is held.
pub async fn look_up(store: &Store, realm: &str, lookup: &Lookup) -> Result<LookedUp, StoreError> {
    let ha1 = store.ha1(&lookup.username, realm, lookup.algorithm).await?;
    let number_held = store.holder(&lookup.number).await?.is_some();
    Ok(LookedUp { ha1, number_held })
}

/// Reads a REGISTER (RFC 3261 §10.3 steps 5–7, less authentication).
pub fn read_register(
    req: &Message,
    realm: &str,
    config: &RegistrarConfig,
) -> Result<Register, RegisterError> {
    let to = req
        .to()
        .ok_or_else(|| RegisterError::malformed("unreadable To"))?;
    let uri = to
        .uri()
        .map_err(|_| RegisterError::malformed("unreadable To URI"))?;
    let number = uri.user().unwrap_or_default();
    if !is_sip_scheme(uri.scheme_str())
        || number.is_empty()
        || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(RegisterError::NotANumber);
    }
    let aor = Aor {
        number: number.to_owned(),
        uri: format!("sip:{number}@{realm}"),
    };
    let cseq = req
        .cseq()
        .ok_or_else(|| RegisterError::malformed("unreadable CSeq"))?
        .seq;
    let call_id = req
        .call_id()
        .ok_or_else(|| RegisterError::malformed("no Call-ID"))?
        .to_owned();
    let values = req
        .values(HeaderName::Contact)
        .collect::<Result<Vec<&str>, _>>()
        .map_err(|_| RegisterError::malformed("unreadable Contact"))?;
    let contacts = contacts(&values, req.expires(), config)?;
    let path = req
        .values(HeaderName::Path)
        .collect::<Result<Vec<&str>, _>>()
        .map_err(|_| RegisterError::malformed("unreadable Path"))?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let wants_path = req
        .values(HeaderName::Supported)
        .flatten()
        .any(|tag| tag.eq_ignore_ascii_case("path"));
    let user_agent = req
        .header(HeaderName::UserAgent)
        .unwrap_or_default()
        .chars()
        .take(limits::USER_AGENT / 4)
        .collect();
    Ok(Register {
        aor,
        contacts,
        call_id,
        cseq,
        path,
        wants_path,
        user_agent,
    })
}

fn is_sip_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
}

/// The Contact values of a REGISTER, with the `*` rules (§10.3 step 6):
/// `*` must be alone and come with `Expires: 0`.
pub fn contacts(
    values: &[&str],
    expires_header: Option<u32>,
    config: &RegistrarConfig,
) -> Result<Contacts, RegisterError> {
    if values.is_empty() {
        return Ok(Contacts::Query);
    }
    if values.iter().any(|v| v.trim() == "*") {
        if values.len() != 1 {
            return Err(RegisterError::malformed("Contact * with other contacts"));
        }
        if expires_header != Some(0) {
            return Err(RegisterError::malformed("Contact * without Expires: 0"));
        }
        return Ok(Contacts::RemoveAll);
    }
    let mut updates: Vec<ContactUpdate> = Vec::with_capacity(values.len());
    for value in values {
        let contact =
            NameAddr::parse(value).map_err(|_| RegisterError::malformed("unreadable Contact"))?;
        let uri = contact.uri_str().to_owned();
        let q = match contact.param("q") {
            None => 1000,
            Some(q) => q
                .and_then(q_per_mille)
                .ok_or_else(|| RegisterError::malformed("Contact q is not 0 to 1"))?,
        };
        let expires = expiry(contact.param("expires"), expires_header, config)?;
        let instance_id = contact
            .param("+sip.instance")
            .flatten()
            .map(|v| v.trim_matches('"').to_owned());
        let reg_id = contact
            .param("reg-id")
            .flatten()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&id| id > 0);
        let update = ContactUpdate {
            uri,
            q,
            expires,
            instance_id,
            reg_id,
        };
        // The same contact twice: the last one counts.
        updates.retain(|u| u.uri != update.uri);
        updates.push(update);
    }
    Ok(Contacts::Update(updates))
}

/// A contact's expiry (§10.3 step 7): its `expires` parameter, else the
/// Expires header, else the default; 0 stays 0 (remove), below the minimum
/// is refused, above the maximum is shortened.
pub fn expiry(
    contact_param: Option<Option<&str>>,
    expires_header: Option<u32>,
    config: &RegistrarConfig,
) -> Result<u32, RegisterError> {
    let requested = match contact_param {
        Some(value) => value
            .and_then(parse_delta_seconds)
            .ok_or_else(|| RegisterError::malformed("Contact expires is not delta-seconds"))?,
        None => expires_header.unwrap_or(config.default_expires),
    };
    if requested == 0 {
        return Ok(0);
    }
    if requested < config.min_expires {
        return Err(RegisterError::IntervalTooBrief {
            min_expires: config.min_expires,
        });
    }
    Ok(requested.min(config.max_expires))
}

/// `q` (RFC 3261 §20.10: 0 to 1, three decimals at most) in per mille.
pub fn q_per_mille(q: &str) -> Option<u16> {
    let (whole, fraction) = q.trim().split_once('.').unwrap_or((q.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `q` as written in a Contact (700 → `0.7`).
pub fn q_text(per_mille: u16) -> String {
    if per_mille >= 1000 {
        return "1".to_owned();
    }
    let fraction = format!("{per_mille:03}");
    format!("0.{}", fraction.trim_end_matches('0'))
        .trim_end_matches('.')
        .to_owned()
}

/// §10.3 step 7: a REGISTER is older than what is bound when a binding of
/// the same Call-ID (of `contact`, or of any contact for `*`) has an equal
/// or higher CSeq.
pub fn is_out_of_order(
    current: &[&Binding],
    call_id: &str,
    cseq: u32,
    contact: Option<&str>,
) -> bool {
    current
        .iter()
        .any(|b| contact.is_none_or(|c| b.contact == c) && b.call_id == call_id && b.cseq >= cseq)
}

/// How a binding remembers the flow its REGISTER came by: `udp:192.0.2.1:5060`.
pub fn received(source: &Source) -> String {
    format!(
        "{}:{}",
        source.transport.as_str().to_ascii_lowercase(),
        source.remote
    )
}

fn binding(
    register: &Register,
    update: &ContactUpdate,
    received: &str,
    node: &str,
    now: UnixMillis,
) -> Binding {
    Binding {
        aor: register.aor.uri.clone(),
        contact: update.uri.clone(),
        q: update.q,
        expires_at: now.saturating_add(i64::from(update.expires) * 1000),
        call_id: register.call_id.clone(),
        cseq: register.cseq,
        path: register.path.join(", "),
        received: received.to_owned(),
        instance_id: update.instance_id.clone(),
        reg_id: update.reg_id,
        user_agent: register.user_agent.clone(),
        node: node.to_owned(),
        updated_at: now,
    }
}

/// `200 OK` listing every current binding with its remaining time
/// (§10.3 step 8), and Path when the UA asked for it (RFC 3327 §5.3).
fn registered(
    req: &Message,
    register: &Register,
    current: &[&Binding],
    now: UnixMillis,
) -> Message {
    let mut b = answer(req, 200, "OK").header(HeaderName::Supported, "path");
    for binding in current {
        let remaining = ((binding.expires_at - now).max(0) + 999) / 1000;
        let mut contact = format!("<{}>;expires={remaining}", binding.contact);
        if binding.q != 1000 {
            contact.push_str(";q=");
            contact.push_str(&q_text(binding.q));
        }
        b = b.header(HeaderName::Contact, &contact);
    }
    if register.wants_path {
        for path in &register.path {
            b = b.header(HeaderName::Path, path);
        }
    }
    b.build()
}

/// A final response of the registrar's.
fn answer(req: &Message, status: u16, reason: &str) -> build::MessageBuilder {
    build::response(req, status, reason)
        .to_tag(&new_tag())
        .header(HeaderName::Server, SERVER)
}

/// The credentials of `req` for `realm`, if it has readable ones.
fn credentials_for<'m>(req: &'m Message, realm: &str) -> Option<Credentials<'m>> {
    req.headers(HeaderName::Authorization)
        .filter_map(|value| Credentials::parse(value).ok())
        .find(|credentials| credentials.realm == realm)
}

fn epoch(now: UnixMillis) -> Duration {
    Duration::from_millis(u64::try_from(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RegistrarConfig {
        RegistrarConfig::default()
    }

    #[test]
    fn expiry_comes_from_the_contact_then_the_header_then_the_default() {
        let c = config();
        assert_eq!(expiry(Some(Some("120")), Some(600), &c), Ok(120));
        assert_eq!(expiry(None, Some(600), &c), Ok(600));
        assert_eq!(expiry(None, None, &c), Ok(3600));
    }

    #[test]
    fn expiry_below_the_minimum_is_too_brief_and_above_the_maximum_is_clamped() {
        let c = config();
        assert_eq!(
            expiry(Some(Some("59")), None, &c),
            Err(RegisterError::IntervalTooBrief { min_expires: 60 })
        );
        assert_eq!(expiry(None, Some(86_400), &c), Ok(3600));
        assert_eq!(expiry(Some(Some("99999999999")), None, &c), Ok(3600));
    }

    #[test]
    fn expiry_zero_removes_whatever_the_minimum() {
        assert_eq!(expiry(Some(Some("0")), Some(600), &config()), Ok(0));
        assert_eq!(expiry(None, Some(0), &config()), Ok(0));
    }

    #[test]
    fn a_contact_expires_that_is_not_a_number_is_malformed() {
        assert!(matches!(
            expiry(Some(Some("soon")), None, &config()),
            Err(RegisterError::Malformed(_))
        ));
        assert!(matches!(
            expiry(Some(None), None, &config()),
            Err(RegisterError::Malformed(_))
        ));
    }

    #[test]
    fn q_values_read_and_write_in_per_mille() {
        assert_eq!(q_per_mille("0.7"), Some(700));
        assert_eq!(q_per_mille("1"), Some(1000));
        assert_eq!(q_per_mille("1.000"), Some(1000));
        assert_eq!(q_per_mille("0"), Some(0));
        assert_eq!(q_per_mille("0.125"), Some(125));
        for bad in ["1.1", "2", "0.1234", "-0.5", "", "x", "0.a"] {
            assert_eq!(q_per_mille(bad), None, "{bad}");
        }
        assert_eq!(q_text(700), "0.7");
        assert_eq!(q_text(125), "0.125");
        assert_eq!(q_text(0), "0");
        assert_eq!(q_text(1000), "1");
    }

    #[test]
    fn star_must_be_alone_and_with_expires_zero() {
        let c = config();
        assert_eq!(contacts(&["*"], Some(0), &c), Ok(Contacts::RemoveAll));
        assert!(matches!(
            contacts(&["*"], Some(3600), &c),
            Err(RegisterError::Malformed(_))
        ));
        assert!(matches!(
            contacts(&["*"], None, &c),
            Err(RegisterError::Malformed(_))
        ));
        assert!(matches!(
            contacts(&["*", "<sip:a@192.0.2.1>"], Some(0), &c),
            Err(RegisterError::Malformed(_))
        ));
    }

    #[test]
    fn no_contact_is_a_query() {
        assert_eq!(contacts(&[], Some(3600), &config()), Ok(Contacts::Query));
    }

    #[test]
    fn several_contacts_keep_their_own_q_and_expiry() {
        let got = contacts(
            &[
                "<sip:desk@192.0.2.1>;q=0.7",
                "<sip:mobile@192.0.2.2>;expires=300",
                "<sip:desk@192.0.2.1>;q=0.5;expires=0",
            ],
            Some(600),
            &config(),
        );
        let Ok(Contacts::Update(updates)) = got else {
            panic!("{got:?}")
        };
        let summary: Vec<(&str, u16, u32)> = updates
            .iter()
            .map(|u| (u.uri.as_str(), u.q, u.expires))
            .collect();
        assert_eq!(
            summary,
            [
                ("sip:mobile@192.0.2.2", 1000, 300),
                ("sip:desk@192.0.2.1", 500, 0)
            ]
        );
    }

    fn bound(contact: &str, call_id: &str, cseq: u32, q: u16) -> Binding {
        Binding {
            aor: "sip:0262006200082@callex".into(),
            contact: contact.into(),
            q,
            expires_at: 10_000,
            call_id: call_id.into(),
            cseq,
            path: String::new(),
            received: "udp:192.0.2.1:5060".into(),
            instance_id: None,
            reg_id: None,
            user_agent: String::new(),
            node: "callex".into(),
            updated_at: 0,
        }
    }

    #[test]
    fn an_older_cseq_of_the_same_call_id_is_out_of_order() {
        let desk = bound("sip:desk@192.0.2.1", "c1", 5, 1000);
        let current = [&desk];
        assert!(is_out_of_order(
            &current,
            "c1",
            5,
            Some("sip:desk@192.0.2.1")
        ));
        assert!(is_out_of_order(&current, "c1", 4, None));
        assert!(!is_out_of_order(
            &current,
            "c1",
            6,
            Some("sip:desk@192.0.2.1")
        ));
        // Another Call-ID (the phone restarted) replaces whatever its CSeq.
        assert!(!is_out_of_order(
            &current,
            "c2",
            1,
            Some("sip:desk@192.0.2.1")
        ));
        // Another contact of the same Call-ID is not affected.
        assert!(!is_out_of_order(
            &current,
            "c1",
            1,
            Some("sip:mobile@192.0.2.2")
        ));
    }

    #[test]
    fn locations_list_the_highest_q_first_and_hide_expired_bindings() {
        let mut locations = Locations::default();
        let mut old = bound("sip:old@192.0.2.9", "c3", 1, 1000);
        old.expires_at = 500;
        locations.replace(
            "sip:0262006200082@callex",
            vec![
                bound("sip:desk@192.0.2.1", "c1", 1, 300),
                bound("sip:mobile@192.0.2.2", "c2", 1, 900),
                old,
            ],
        );
        let order: Vec<&str> = locations
            .current("sip:0262006200082@callex", 1_000)
            .iter()
            .map(|b| b.contact.as_str())
            .collect();
        assert_eq!(order, ["sip:mobile@192.0.2.2", "sip:desk@192.0.2.1"]);
        assert_eq!(locations.purge_expired(1_000), 1);
        assert_eq!(locations.purge_expired(20_000), 2);
        assert!(locations.is_empty());
    }
}
