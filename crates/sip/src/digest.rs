//! Digest authentication: RFC 3261 §22 as updated by RFC 8760 (SHA-256),
//! with the algorithm names of RFC 7616 (`MD5`, `SHA-256`).
//!
//! Both ends of a challenge use it:
//! - as a server (registrar, call intake) an [`Authenticator`] writes the
//!   `WWW-Authenticate`/`Proxy-Authenticate` values of a 401/407
//!   ([`Authenticator::challenge`]) and checks the `Authorization`/
//!   `Proxy-Authorization` that comes back ([`Authenticator::verify`]);
//! - as a client (a gateway challenges the switch) [`pick_challenge`] takes
//!   the strongest challenge of a 401/407 and [`respond`] answers it.
//!
//! Nonces need no table: each carries its issue time and a keyed hash
//! (HMAC-SHA-256 under a secret the caller supplies), so a forged nonce is
//! refused and an old one is reported stale. The only state is the replay
//! guard, the highest nonce count accepted per nonce, bounded in size (see
//! [`Authenticator::with_max_tracked_nonces`]).
//!
//! Like the rest of the crate this reads no clock and draws no random
//! numbers: `now` is the time since the Unix epoch as a [`Duration`]
//! (`SystemTime::now().duration_since(UNIX_EPOCH)` in the switch) and the
//! client's cnonce is an argument. It is not a credential store either: the
//! caller keeps one HA1 per user and algorithm (see [`ha1`]), never the
//! password.
//!
//! ```
//! use std::time::Duration;
//! use sip::digest::{self, Algorithm, Authenticator, Credentials};
//!
//! let now = Duration::from_secs(1_700_000_000);
//! let mut registrar = Authenticator::new(b"32 random bytes from the key store", Duration::from_secs(300));
//! let offered = registrar.challenge("example.net", now, false);
//!
//! // The phone takes the strongest challenge and answers it.
//! let challenge = digest::pick_challenge(offered.iter().map(String::as_str)).unwrap();
//! assert_eq!(challenge.algorithm, Algorithm::Sha256);
//! let authorization = digest::respond(
//!     &challenge, "REGISTER", "sip:example.net", "alice", "s3cret", "0a4f113b", 1,
//! )
//! .unwrap();
//!
//! // The registrar checks it against the HA1 it stored for alice.
//! let credentials = Credentials::parse(&authorization).unwrap();
//! assert!(credentials.uri_matches("sip:example.net"));
//! let stored_ha1 = |algorithm| Some(digest::ha1(algorithm, "alice", "example.net", "s3cret"));
//! assert_eq!(registrar.verify(&credentials, "example.net", "REGISTER", stored_ha1, now), Ok(()));
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::text;
use crate::uri::Uri;

/// A digest hash function, as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`: the RFC 3261 default, what an `algorithm`-less header means.
    Md5,
    /// `SHA-256` (RFC 8760), preferred when both ends have it.
    Sha256,
}

impl Algorithm {
    /// The name written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lowercase hex of the hash of `parts` joined by `:`, the shape of
    /// every digest computation (HA1, HA2 and the response).
    fn hash_hex(self, parts: &[&str]) -> String {
        fn hash<D: Digest>(parts: &[&str]) -> String {
            let mut hasher = D::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    hasher.update(b":");
                }
                hasher.update(part.as_bytes());
            }
            to_hex(&hasher.finalize())
        }
        match self {
            Algorithm::Md5 => hash::<md5::Md5>(parts),
            Algorithm::Sha256 => hash::<Sha256>(parts),
        }
    }

    /// Higher is stronger: what [`pick_challenge`] ranks by.
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 => 1,
            Algorithm::Sha256 => 2,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// Reads `MD5` or `SHA-256` in any case. The `-sess` variants and the
    /// other RFC 7616 names are refused as unsupported.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(DigestError::UnsupportedAlgorithm(excerpt(name)))
        }
    }
}

/// `H(username:realm:password)` in lowercase hex: what a credential store
/// keeps instead of the password, one per algorithm it offers.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(&[username, realm, password])
}

/// Which header a [`DigestError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// `WWW-Authenticate` or `Proxy-Authenticate`.
    Challenge,
    /// `Authorization` or `Proxy-Authorization`.
    Credentials,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderKind::Challenge => "authentication challenge",
            HeaderKind::Credentials => "Authorization header",
        })
    }
}

/// Why a challenge or credentials header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// The scheme is not `Digest` (`Basic`, or RFC 4475's
    /// `NoOneKnowsThisScheme`); the scheme is cut to a few dozen characters.
    NotDigest { header: HeaderKind, scheme: String },
    /// The auth-param list does not read as `name=value, …`.
    Syntax {
        header: HeaderKind,
        reason: &'static str,
    },
    /// A parameter the header cannot do without is absent.
    Missing {
        header: HeaderKind,
        field: &'static str,
    },
    /// A parameter appears twice, so which one counts is ambiguous.
    Duplicate {
        header: HeaderKind,
        field: &'static str,
    },
    /// A parameter's value is malformed.
    BadValue {
        header: HeaderKind,
        field: &'static str,
        reason: &'static str,
    },
    /// The `algorithm` is neither MD5 nor SHA-256 (`-sess` variants included).
    UnsupportedAlgorithm(String),
    /// [`respond`] got a challenge whose qop options do not include `auth`.
    NoSupportedQop,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::NotDigest { header, scheme } => {
                write!(f, "{header} uses the '{scheme}' scheme, not Digest")
            }
            DigestError::Syntax { header, reason } => write!(f, "{header} is malformed: {reason}"),
            DigestError::Missing { header, field } => write!(f, "{header} has no {field}"),
            DigestError::Duplicate { header, field } => write!(f, "{header} has {field} twice"),
            DigestError::BadValue {
                header,
                field,
                reason,
            } => write!(f, "{header} has a malformed {field}: {reason}"),
            DigestError::UnsupportedAlgorithm(name) => write!(
                f,
                "digest algorithm '{name}' is not supported (only MD5 and SHA-256)"
            ),
            DigestError::NoSupportedQop => {
                f.write_str("challenge offers qop but not 'auth', the only one supported")
            }
        }
    }
}

impl std::error::Error for DigestError {}

/// A `Digest` challenge (`WWW-Authenticate` or `Proxy-Authenticate` value),
/// borrowed from the header; quoted values are unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub realm: Cow<'a, str>,
    pub nonce: Cow<'a, str>,
    pub opaque: Option<Cow<'a, str>>,
    /// MD5 when the challenge names none.
    pub algorithm: Algorithm,
    /// The qop options as written (`auth,auth-int`); see [`Challenge::qop_options`].
    pub qop: Option<Cow<'a, str>>,
    /// The previous credentials were right but their nonce had expired:
    /// answer again without asking anyone for a password.
    pub stale: bool,
    pub domain: Option<Cow<'a, str>>,
}

impl<'a> Challenge<'a> {
    /// Reads a `WWW-Authenticate`/`Proxy-Authenticate` value. A scheme other
    /// than Digest and an algorithm other than MD5 or SHA-256 are errors.
    pub fn parse(header_value: &'a str) -> Result<Challenge<'a>, DigestError> {
        let header = HeaderKind::Challenge;
        let [realm, nonce, opaque, algorithm, qop, stale, domain] = read_auth_params(
            header_value,
            header,
            [
                "realm",
                "nonce",
                "opaque",
                "algorithm",
                "qop",
                "stale",
                "domain",
            ],
        )?;
        Ok(Challenge {
            realm: required(realm, header, "realm")?,
            nonce: required(nonce, header, "nonce")?,
            opaque,
            algorithm: algorithm_or_md5(algorithm)?,
            qop,
            stale: stale.is_some_and(|s| s.eq_ignore_ascii_case("true")),
            domain,
        })
    }

    /// The qop options offered, trimmed (`auth`, `auth-int`, …).
    pub fn qop_options(&self) -> impl Iterator<Item = &str> {
        self.qop
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(text::trim_lws)
            .filter(|option| !option.is_empty())
    }

    /// True when [`respond`] can answer it: `auth` is offered, or no qop at
    /// all (RFC 2069 style).
    pub fn is_answerable(&self) -> bool {
        self.qop.is_none() || self.offers_qop_auth()
    }

    fn offers_qop_auth(&self) -> bool {
        self.qop_options()
            .any(|option| option.eq_ignore_ascii_case("auth"))
    }
}

/// `Digest` credentials (`Authorization` or `Proxy-Authorization` value),
/// borrowed from the header; quoted values are unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: Cow<'a, str>,
    pub realm: Cow<'a, str>,
    pub nonce: Cow<'a, str>,
    /// The digest-uri the client hashed; see [`Credentials::uri_matches`].
    pub uri: Cow<'a, str>,
    pub response: Cow<'a, str>,
    /// MD5 when the credentials name none.
    pub algorithm: Algorithm,
    pub cnonce: Option<Cow<'a, str>>,
    pub opaque: Option<Cow<'a, str>>,
    /// As written, since the response hashes it verbatim.
    pub qop: Option<Cow<'a, str>>,
    /// The nonce count, written on the wire as 8 lowercase hex digits.
    pub nc: Option<u32>,
}

impl<'a> Credentials<'a> {
    /// Reads an `Authorization`/`Proxy-Authorization` value. username,
    /// realm, nonce, uri and response are required (RFC 3261 §25.1); cnonce
    /// and nc are checked by [`Authenticator::verify`], which knows whether
    /// qop makes them necessary.
    pub fn parse(header_value: &'a str) -> Result<Credentials<'a>, DigestError> {
        let header = HeaderKind::Credentials;
        let [username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc] =
            read_auth_params(
                header_value,
                header,
                [
                    "username",
                    "realm",
                    "nonce",
                    "uri",
                    "response",
                    "algorithm",
                    "cnonce",
                    "opaque",
                    "qop",
                    "nc",
                ],
            )?;
        let nc = match nc {
            None => None,
            Some(nc) => Some(parse_nonce_count(&nc).ok_or(DigestError::BadValue {
                header,
                field: "nc",
                reason: "not 8 lowercase hex digits",
            })?),
        };
        Ok(Credentials {
            username: required(username, header, "username")?,
            realm: required(realm, header, "realm")?,
            nonce: required(nonce, header, "nonce")?,
            uri: required(uri, header, "uri")?,
            response: required(response, header, "response")?,
            algorithm: algorithm_or_md5(algorithm)?,
            cnonce,
            opaque,
            qop,
            nc,
        })
    }

    /// True when the digest-uri names the request's Request-URI, exactly or
    /// by the equivalence of RFC 3261 §19.1.4.
    ///
    /// [`Authenticator::verify`] hashes the uri the client wrote, so it
    /// cannot tell whether credentials made for one request are replayed on
    /// another URI; the caller checks this first and answers a mismatch with
    /// 400 Bad Request (RFC 2617 §3.2.2.5). It is left to the caller because
    /// a proxy in front of us may legitimately rewrite the Request-URI.
    pub fn uri_matches(&self, request_uri: &str) -> bool {
        let uri = text::trim_lws(&self.uri);
        let request_uri = text::trim_lws(request_uri);
        if uri == request_uri {
            return true;
        }
        match (Uri::parse(uri), Uri::parse(request_uri)) {
            (Ok(ours), Ok(theirs)) => ours.equivalent(&theirs),
            _ => false,
        }
    }
}

/// Reads `Digest name=value, name="value", …` and returns the values of
/// `names` (matched case-insensitively) in that order, unquoted. Unknown
/// parameters are skipped, as RFC 7616 §3.3 asks.
fn read_auth_params<'a, const N: usize>(
    header_value: &'a str,
    header: HeaderKind,
    names: [&'static str; N],
) -> Result<[Option<Cow<'a, str>>; N], DigestError> {
    let syntax = |reason| DigestError::Syntax { header, reason };
    let value = text::trim_lws(header_value);
    let scheme_end = value.bytes().position(text::is_lws).unwrap_or(value.len());
    // `scheme_end` is at an ASCII byte or at the end: a char boundary.
    let (scheme, auth_params) = value.split_at(scheme_end);
    if scheme.is_empty() {
        return Err(syntax("no authentication scheme"));
    }
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest {
            header,
            scheme: excerpt(scheme),
        });
    }

    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for item in text::split_list(auth_params) {
        let item = item.map_err(|e| syntax(e.describe()))?;
        // HTTP's list rule tolerates empty elements (`a=1,,b=2`); so do we.
        if item.is_empty() {
            continue;
        }
        let (name, raw) = item
            .split_once('=')
            .ok_or_else(|| syntax("auth-param without '=value'"))?;
        let (name, raw) = (text::trim_lws(name), text::trim_lws(raw));
        if !text::is_token(name) {
            return Err(syntax("auth-param name is not a token"));
        }
        let well_formed = if raw.starts_with('"') {
            text::quoted_len(raw.as_bytes()) == Ok(raw.len())
        } else {
            // Tokens by the grammar; gateways also send unquoted `/`, `=`,
            // `:` and the like, which cannot be mistaken for anything else.
            !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
        };
        if !well_formed {
            return Err(syntax(
                "auth-param value is neither a token nor a quoted string",
            ));
        }
        if let Some(slot) = names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            if found[slot].is_some() {
                return Err(DigestError::Duplicate {
                    header,
                    field: names[slot],
                });
            }
            found[slot] = Some(text::unquote(raw));
        }
    }
    Ok(found)
}

fn required<'a>(
    value: Option<Cow<'a, str>>,
    header: HeaderKind,
    field: &'static str,
) -> Result<Cow<'a, str>, DigestError> {
    value.ok_or(DigestError::Missing { header, field })
}

fn algorithm_or_md5(value: Option<Cow<'_, str>>) -> Result<Algorithm, DigestError> {
    value.map_or(Ok(Algorithm::Md5), |name| name.parse())
}

/// `nc-value = 8LHEX` (RFC 3261 §25.1), strictly: the response hashes the
/// count as written, so only one spelling can be rebuilt from the number.
fn parse_nonce_count(s: &str) -> Option<u32> {
    let lhex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if s.len() == 8 && s.bytes().all(lhex) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// What `qop=auth` adds to the response; absent for an RFC 2069 digest.
struct QopAuth<'s> {
    /// As the client wrote it (`auth`, any case).
    qop: &'s str,
    nc: u32,
    cnonce: &'s str,
}

/// The `response` value (RFC 3261 §22.4 via RFC 2617 §3.2.2.1), which the
/// client computes and the server recomputes.
fn request_digest(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<&QopAuth<'_>>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = algorithm.hash_hex(&[method, uri]);
    match qop {
        Some(q) => {
            let nc = format!("{:08x}", q.nc);
            algorithm.hash_hex(&[ha1, nonce, &nc, q.cnonce, q.qop, &ha2])
        }
        None => algorithm.hash_hex(&[ha1, nonce, &ha2]),
    }
}

/// Picks the challenge to answer among the `WWW-Authenticate` (or
/// `Proxy-Authenticate`) values of one response: the strongest algorithm
/// that [`respond`] can answer, the first of equals (RFC 8760 §2.4).
/// Values that are not Digest or not supported are skipped.
pub fn pick_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge<'a>> {
    values
        .into_iter()
        .filter_map(|value| Challenge::parse(value).ok())
        .filter(Challenge::is_answerable)
        .fold(None, |best, candidate| match best {
            Some(best) if best.algorithm.strength() >= candidate.algorithm.strength() => Some(best),
            _ => Some(candidate),
        })
}

/// The `Authorization` (or `Proxy-Authorization`) value answering
/// `challenge` for a request `method uri`. Uses `qop=auth` with `cnonce` and
/// `nc` when offered (the caller draws a fresh random cnonce per challenge
/// and counts nc from 1 for each request reusing the same nonce), the
/// RFC 2069 form when the challenge has no qop.
pub fn respond(
    challenge: &Challenge<'_>,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let qop = match challenge.qop {
        None => None,
        Some(_) if challenge.offers_qop_auth() => Some(QopAuth {
            qop: "auth",
            nc,
            cnonce,
        }),
        Some(_) => return Err(DigestError::NoSupportedQop),
    };
    let username = writable("username", username)?;
    let uri = writable("uri", uri)?;
    let realm = writable("realm", &challenge.realm)?;
    let nonce = writable("nonce", &challenge.nonce)?;
    let opaque = match &challenge.opaque {
        Some(opaque) => Some(writable("opaque", opaque)?),
        None => None,
    };
    let algorithm = challenge.algorithm;
    let ha1 = ha1(algorithm, username, realm, password);
    let response = request_digest(algorithm, &ha1, nonce, qop.as_ref(), method, uri);
    let mut value = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={algorithm}",
        text::quote(username),
        text::quote(realm),
        text::quote(nonce),
        text::quote(uri),
    );
    if let Some(q) = &qop {
        value.push_str(&format!(
            ", cnonce={}, qop={}, nc={:08x}",
            text::quote(writable("cnonce", q.cnonce)?),
            q.qop,
            q.nc
        ));
    }
    if let Some(opaque) = opaque {
        value.push_str(&format!(", opaque={}", text::quote(opaque)));
    }
    Ok(value)
}

/// `value` if it can go in a quoted string: RFC 3261 §25.1 has no escape
/// for control characters other than HTAB, and a CR or LF would split the
/// header.
fn writable<'s>(field: &'static str, value: &'s str) -> Result<&'s str, DigestError> {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(DigestError::BadValue {
            header: HeaderKind::Credentials,
            field,
            reason: "contains a control character",
        });
    }
    Ok(value)
}

/// Why [`Authenticator::verify`] refused credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password was right but the nonce has expired (or was forgotten,
    /// see [`Authenticator::with_max_tracked_nonces`]): challenge again with
    /// `stale=true` and the client retries without asking its user.
    Stale,
    /// The response does not match: wrong password (or HA1), or altered
    /// fields.
    BadResponse,
    /// This nonce count was already accepted with this nonce: a replayed or
    /// out-of-order request.
    Replay,
    /// The nonce (or the opaque that goes with it) was not issued by this
    /// authenticator for this realm: forged, altered or from another key.
    UnknownNonce,
    /// The credentials are for another realm than the one asked.
    RealmMismatch,
    /// The algorithm is not one this authenticator offers.
    UnsupportedAlgorithm,
    /// qop is something other than `auth` (e.g. `auth-int`).
    UnsupportedQop,
    /// No qop (the RFC 2069 form): refused unless allowed, and then only
    /// with MD5.
    LegacyDigestRefused,
    /// qop=auth without the named field (`cnonce` or `nc`).
    MissingField(&'static str),
    /// The credential store has no HA1 for this user and algorithm. Answer
    /// it exactly like [`Verdict::BadResponse`], so that a caller cannot
    /// probe which users exist.
    UnknownUser,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Stale => f.write_str("nonce has expired: challenge again with stale=true"),
            Verdict::BadResponse => f.write_str("digest response does not match (wrong password?)"),
            Verdict::Replay => f.write_str("nonce count already used with this nonce (replay)"),
            Verdict::UnknownNonce => {
                f.write_str("nonce was not issued here for this realm (forged or altered)")
            }
            Verdict::RealmMismatch => f.write_str("credentials are for another realm"),
            Verdict::UnsupportedAlgorithm => f.write_str("digest algorithm is not offered here"),
            Verdict::UnsupportedQop => f.write_str("qop is not 'auth'"),
            Verdict::LegacyDigestRefused => {
                f.write_str("credentials without qop (RFC 2069) are not accepted")
            }
            Verdict::MissingField(field) => write!(f, "Authorization header has no {field}"),
            Verdict::UnknownUser => f.write_str("no credentials stored for this user"),
        }
    }
}

impl std::error::Error for Verdict {}

/// Server side of digest authentication: issues nonces and verifies the
/// credentials that answer them. One per secret key; it is `&mut` because it
/// remembers nonce counts, so share it behind a lock.
///
/// A nonce is 64 hex digits: issue time (ms since the Unix epoch), a serial
/// number that keeps nonces of the same millisecond apart, and a 128-bit
/// HMAC-SHA-256 tag of both and the realm. It reveals when it was issued and
/// how many challenges this authenticator has written, nothing else.
pub struct Authenticator {
    /// The HMAC key, padded to SHA-256's block size.
    key: [u8; 64],
    lifetime: Duration,
    offered: Vec<Algorithm>,
    opaque: Option<String>,
    allow_rfc2069: bool,
    max_tracked: usize,
    next_serial: u64,
    /// Highest nc accepted per nonce; oldest first.
    highest_nc: BTreeMap<NonceId, u32>,
    /// Nonces at or below this one are no longer tracked, so they can no
    /// longer prove they are not replayed: they are treated as stale.
    forgotten_up_to: Option<NonceId>,
}

/// What a nonce says about itself, ordered by issue time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct NonceId {
    issued_ms: u64,
    serial: u64,
    tag: [u8; 16],
}

/// Keeps our nonce tags apart from any other use of the same key.
const NONCE_CONTEXT: &[u8] = b"callex digest nonce v1\0";

const DEFAULT_MAX_TRACKED_NONCES: usize = 65_536;

impl Authenticator {
    /// An authenticator whose nonces are signed with `secret` (32 random
    /// bytes or more, kept across restarts so that nonces survive them) and
    /// expire `nonce_lifetime` after issue. It offers SHA-256 then MD5,
    /// refuses RFC 2069 credentials and writes no opaque.
    pub fn new(secret: &[u8], nonce_lifetime: Duration) -> Authenticator {
        let mut key = [0u8; 64];
        if secret.len() > key.len() {
            key[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        Authenticator {
            key,
            lifetime: nonce_lifetime,
            offered: vec![Algorithm::Sha256, Algorithm::Md5],
            opaque: None,
            allow_rfc2069: false,
            max_tracked: DEFAULT_MAX_TRACKED_NONCES,
            next_serial: 0,
            highest_nc: BTreeMap::new(),
            forgotten_up_to: None,
        }
    }

    /// Offers these algorithms, one challenge each, in this order (put the
    /// preferred first); credentials using another are refused. An empty
    /// list keeps the current one.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Authenticator {
        if !algorithms.is_empty() {
            self.offered = algorithms.to_vec();
        }
        self
    }

    /// Writes `opaque` into every challenge and refuses credentials that do
    /// not return it.
    pub fn with_opaque(mut self, opaque: impl Into<String>) -> Authenticator {
        self.opaque = Some(opaque.into());
        self
    }

    /// Accepts MD5 credentials without qop (RFC 2069), for old phones. They
    /// carry no nonce count, so nothing stops their replay while the nonce
    /// lives.
    pub fn allow_rfc2069(mut self, allow: bool) -> Authenticator {
        self.allow_rfc2069 = allow;
        self
    }

    /// Bounds the replay guard to `max` nonces (at least 1; default 65 536,
    /// a few MB). Expired nonces are dropped first; when the guard is still
    /// full the oldest nonces are forgotten, and credentials using a
    /// forgotten nonce get [`Verdict::Stale`]: the client is re-challenged
    /// with a fresh nonce, transparently, and no replay gets through.
    pub fn with_max_tracked_nonces(mut self, max: usize) -> Authenticator {
        self.max_tracked = max.max(1);
        self
    }

    /// The `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) values for
    /// `realm`: one per offered algorithm, SHA-256 first by default (RFC 8760
    /// §2.4), sharing one fresh nonce, with `qop="auth"`. Set `stale` when
    /// [`Authenticator::verify`] returned [`Verdict::Stale`]. `now` is the
    /// time since the Unix epoch.
    pub fn challenge(&mut self, realm: &str, now: Duration, stale: bool) -> Vec<String> {
        let nonce = self.issue_nonce(realm, now);
        self.offered
            .iter()
            .map(|algorithm| {
                let mut value = format!(
                    "Digest realm={}, nonce=\"{nonce}\", algorithm={algorithm}, qop=\"auth\"",
                    text::quote(realm)
                );
                if let Some(opaque) = &self.opaque {
                    value.push_str(&format!(", opaque={}", text::quote(opaque)));
                }
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    /// Checks `credentials` sent with a `method` request to `realm`.
    /// `stored_ha1` returns the user's HA1 for the algorithm the client
    /// chose ([`ha1`], lowercase hex), or `None` if there is none; `now` is
    /// the time since the Unix epoch.
    ///
    /// The caller also checks [`Credentials::uri_matches`] against the
    /// Request-URI, and that `credentials.username` may act as the request's
    /// From/To user. On success the nonce count is remembered, so the same
    /// credentials are refused as [`Verdict::Replay`] next time.
    pub fn verify<H: AsRef<str>>(
        &mut self,
        credentials: &Credentials<'_>,
        realm: &str,
        method: &str,
        stored_ha1: impl FnOnce(Algorithm) -> Option<H>,
        now: Duration,
    ) -> Result<(), Verdict> {
        if credentials.realm != realm {
            return Err(Verdict::RealmMismatch);
        }
        let algorithm = credentials.algorithm;
        if !self.offered.contains(&algorithm) {
            return Err(Verdict::UnsupportedAlgorithm);
        }
        let qop = match credentials.qop.as_deref() {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => Some(QopAuth {
                qop,
                nc: credentials.nc.ok_or(Verdict::MissingField("nc"))?,
                cnonce: credentials
                    .cnonce
                    .as_deref()
                    .ok_or(Verdict::MissingField("cnonce"))?,
            }),
            Some(_) => return Err(Verdict::UnsupportedQop),
            None if self.allow_rfc2069 && algorithm == Algorithm::Md5 => None,
            None => return Err(Verdict::LegacyDigestRefused),
        };
        if let Some(opaque) = &self.opaque {
            if credentials.opaque.as_deref() != Some(opaque.as_str()) {
                return Err(Verdict::UnknownNonce);
            }
        }
        let nonce = self
            .open_nonce(&credentials.nonce, realm)
            .ok_or(Verdict::UnknownNonce)?;
        let ha1 = stored_ha1(algorithm).ok_or(Verdict::UnknownUser)?;
        let expected = request_digest(
            algorithm,
            ha1.as_ref(),
            &credentials.nonce,
            qop.as_ref(),
            method,
            &credentials.uri,
        );
        if !hex_digest_eq(&credentials.response, &expected) {
            return Err(Verdict::BadResponse);
        }

        // Stale only once the response is right (RFC 7616 §3.3): a client
        // that gets stale=true retries without asking for the password.
        let now_ms = millis(now);
        if now_ms.abs_diff(nonce.issued_ms) >= millis(self.lifetime) {
            return Err(Verdict::Stale);
        }
        self.forget_expired(now_ms);
        match qop {
            Some(qop) => self.accept_nonce_count(nonce, qop.nc),
            None => Ok(()),
        }
    }

    /// How many nonces the replay guard remembers now.
    pub fn tracked_nonces(&self) -> usize {
        self.highest_nc.len()
    }

    fn issue_nonce(&mut self, realm: &str, now: Duration) -> String {
        let issued_ms = millis(now);
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let tag = self.nonce_tag(issued_ms, serial, realm);
        let mut raw = Vec::with_capacity(32);
        raw.extend_from_slice(&issued_ms.to_be_bytes());
        raw.extend_from_slice(&serial.to_be_bytes());
        raw.extend_from_slice(&tag);
        to_hex(&raw)
    }

    /// The nonce's contents if this authenticator issued it for `realm`.
    fn open_nonce(&self, nonce: &str, realm: &str) -> Option<NonceId> {
        let b = nonce.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let issued_ms = u64::from_be_bytes(from_hex(&b[..16])?);
        let serial = u64::from_be_bytes(from_hex(&b[16..32])?);
        let tag: [u8; 16] = from_hex(&b[32..])?;
        let expected = self.nonce_tag(issued_ms, serial, realm);
        constant_time_eq(&tag, &expected).then_some(NonceId {
            issued_ms,
            serial,
            tag,
        })
    }

    fn nonce_tag(&self, issued_ms: u64, serial: u64, realm: &str) -> [u8; 16] {
        let mac = hmac_sha256(
            &self.key,
            &[
                NONCE_CONTEXT,
                &issued_ms.to_be_bytes(),
                &serial.to_be_bytes(),
                realm.as_bytes(),
            ],
        );
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&mac[..16]);
        tag
    }

    /// Drops the nonces that have expired: they are refused as stale anyway.
    fn forget_expired(&mut self, now_ms: u64) {
        let lifetime_ms = millis(self.lifetime);
        while let Some(oldest) = self.highest_nc.first_entry() {
            if now_ms < oldest.key().issued_ms.saturating_add(lifetime_ms) {
                break;
            }
            let (nonce, _) = oldest.remove_entry();
            self.forget(nonce);
        }
    }

    fn forget(&mut self, nonce: NonceId) {
        self.forgotten_up_to = self.forgotten_up_to.max(Some(nonce));
    }

    /// Records `nc` for `nonce` if it is above every count accepted before.
    fn accept_nonce_count(&mut self, nonce: NonceId, nc: u32) -> Result<(), Verdict> {
        let highest = match self.highest_nc.get(&nonce) {
            Some(&highest) => highest,
            None if self.forgotten_up_to.is_some_and(|floor| nonce <= floor) => {
                return Err(Verdict::Stale);
            }
            None => 0,
        };
        if nc <= highest {
            return Err(Verdict::Replay);
        }
        self.highest_nc.insert(nonce, nc);
        while self.highest_nc.len() > self.max_tracked {
            match self.highest_nc.pop_first() {
                Some((oldest, _)) => self.forget(oldest),
                None => break,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Authenticator {
    /// Everything but the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("lifetime", &self.lifetime)
            .field("offered", &self.offered)
            .field("opaque", &self.opaque)
            .field("allow_rfc2069", &self.allow_rfc2069)
            .field("max_tracked", &self.max_tracked)
            .field("tracked", &self.highest_nc.len())
            .finish_non_exhaustive()
    }
}

/// Milliseconds of `d`, saturating (no clock reads 584 million years).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// HMAC-SHA-256 (RFC 2104) of the concatenated `parts` under a key already
/// padded to the 64-byte block.
fn hmac_sha256(key: &[u8; 64], parts: &[&[u8]]) -> [u8; 32] {
    let mut inner = Sha256::new();
    inner.update(key.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(key.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Compares a client's hex response with the expected lowercase one in time
/// that depends only on the length (which is public: it is the algorithm's).
fn hex_digest_eq(received: &str, expected: &str) -> bool {
    constant_time_eq(
        received.to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(difference) == 0
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    hex
}

/// Lowercase hex of exactly `2 * N` digits.
fn from_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Header text quoted back in an error message, cut so that a hostile
/// header cannot make a log line huge.
fn excerpt(s: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut chars = s.chars();
    let mut cut: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REALM: &str = "example.net";
    const SECRET: &[u8] = b"test secret, 32 bytes or more...";
    const LIFETIME: Duration = Duration::from_secs(300);
    /// 2023-11-14T22:13:20Z, an arbitrary wall-clock instant.
    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn registrar() -> Authenticator {
        Authenticator::new(SECRET, LIFETIME)
    }

    fn alice_ha1(algorithm: Algorithm) -> Option<String> {
        Some(ha1(algorithm, "alice", REALM, "correct horse"))
    }

    /// The challenge for `algorithm` among those `auth` offers.
    fn challenge_for(auth: &mut Authenticator, algorithm: Algorithm, now: Duration) -> String {
        auth.challenge(REALM, now, false)
            .into_iter()
            .find(|value| Challenge::parse(value).is_ok_and(|c| c.algorithm == algorithm))
            .expect("the authenticator offers both algorithms")
    }

    /// Alice's Authorization value for REGISTER with nonce count `nc`.
    fn answer(challenge: &str, password: &str, nc: u32) -> String {
        let challenge = Challenge::parse(challenge).unwrap();
        respond(
            &challenge,
            "REGISTER",
            "sip:example.net",
            "alice",
            password,
            "0a4f113b",
            nc,
        )
        .unwrap()
    }

    fn verify_at(
        auth: &mut Authenticator,
        authorization: &str,
        now: Duration,
    ) -> Result<(), Verdict> {
        let credentials = Credentials::parse(authorization).unwrap();
        auth.verify(&credentials, REALM, "REGISTER", alice_ha1, now)
    }

    #[test]
    fn rfc2617_md5_example_gives_the_published_response() {
        let challenge = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(challenge.algorithm, Algorithm::Md5);
        let authorization = respond(
            &challenge,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        )
        .unwrap();
        let credentials = Credentials::parse(&authorization).unwrap();
        assert_eq!(credentials.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(credentials.nc, Some(1));
        assert_eq!(
            credentials.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );

        // The Authorization of RFC 2617 §3.5, as published, reads back the same.
        let published = Credentials::parse(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(published, credentials);
    }

    #[test]
    fn rfc7616_sha256_example_gives_the_published_response() {
        // RFC 7616 §3.9.1 writes the password "Circle of Life" (lowercase
        // "of", unlike RFC 2617).
        let challenge = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        assert_eq!(
            challenge.qop_options().collect::<Vec<_>>(),
            ["auth", "auth-int"]
        );
        let authorization = respond(
            &challenge,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        )
        .unwrap();
        let credentials = Credentials::parse(&authorization).unwrap();
        assert_eq!(
            credentials.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(credentials.algorithm, Algorithm::Sha256);
    }

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        let mut key = [0u8; 64];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn challenges_offer_sha256_first_then_md5_with_qop_auth() {
        let values = registrar().challenge(REALM, T0, false);
        let challenges: Vec<_> = values
            .iter()
            .map(|v| Challenge::parse(v).unwrap())
            .collect();
        let algorithms: Vec<_> = challenges.iter().map(|c| c.algorithm).collect();
        assert_eq!(algorithms, [Algorithm::Sha256, Algorithm::Md5]);
        assert!(values[0].contains("algorithm=SHA-256"));
        assert!(values[1].contains("algorithm=MD5"));
        for challenge in &challenges {
            assert_eq!(challenge.realm, REALM);
            assert_eq!(challenge.nonce, challenges[0].nonce);
            assert_eq!(challenge.qop.as_deref(), Some("auth"));
            assert!(!challenge.stale);
            assert_eq!(challenge.opaque, None);
        }
    }

    #[test]
    fn stale_challenges_say_so_and_carry_the_opaque() {
        let mut auth = registrar().with_opaque("v1");
        for value in auth.challenge(REALM, T0, true) {
            let challenge = Challenge::parse(&value).unwrap();
            assert!(challenge.stale);
            assert_eq!(challenge.opaque.as_deref(), Some("v1"));
        }
    }

    #[test]
    fn successive_challenges_get_distinct_nonces_in_the_same_millisecond() {
        let mut auth = registrar();
        let first = auth.challenge(REALM, T0, false);
        let second = auth.challenge(REALM, T0, false);
        assert_ne!(
            Challenge::parse(&first[0]).unwrap().nonce,
            Challenge::parse(&second[0]).unwrap().nonce
        );
    }

    #[test]
    fn server_accepts_its_own_challenge_answered_with_either_algorithm() {
        for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
            let mut auth = registrar();
            let challenge = challenge_for(&mut auth, algorithm, T0);
            let authorization = answer(&challenge, "correct horse", 1);
            assert!(authorization.contains(&format!("algorithm={algorithm}")));
            assert_eq!(
                verify_at(&mut auth, &authorization, T0 + Duration::from_secs(1)),
                Ok(())
            );
        }
    }

    #[test]
    fn wrong_password_is_a_bad_response() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let authorization = answer(&challenge, "wrong horse", 1);
        assert_eq!(
            verify_at(&mut auth, &authorization, T0),
            Err(Verdict::BadResponse)
        );
    }

    #[test]
    fn response_digest_is_compared_case_insensitively() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Md5, T0);
        let authorization = answer(&challenge, "correct horse", 1);
        let response = Credentials::parse(&authorization)
            .unwrap()
            .response
            .into_owned();
        let shouted = authorization.replace(&response, &response.to_ascii_uppercase());
        assert_eq!(verify_at(&mut auth, &shouted, T0), Ok(()));
    }

    #[test]
    fn unknown_user_is_reported_apart_from_a_bad_password() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let credentials_text = answer(&challenge, "correct horse", 1);
        let credentials = Credentials::parse(&credentials_text).unwrap();
        let verdict = auth.verify(&credentials, REALM, "REGISTER", |_| None::<String>, T0);
        assert_eq!(verdict, Err(Verdict::UnknownUser));
    }

    #[test]
    fn nonce_is_stale_after_its_lifetime_and_fresh_just_before() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let just_before = T0 + LIFETIME - Duration::from_millis(1);
        assert_eq!(
            verify_at(
                &mut auth,
                &answer(&challenge, "correct horse", 1),
                just_before
            ),
            Ok(())
        );
        let expired = answer(&challenge, "correct horse", 2);
        assert_eq!(
            verify_at(&mut auth, &expired, T0 + LIFETIME),
            Err(Verdict::Stale)
        );
    }

    #[test]
    fn expired_nonce_with_wrong_password_is_a_bad_response_not_stale() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Md5, T0);
        let authorization = answer(&challenge, "wrong horse", 1);
        let later = T0 + 2 * LIFETIME;
        assert_eq!(
            verify_at(&mut auth, &authorization, later),
            Err(Verdict::BadResponse)
        );
    }

    #[test]
    fn nonce_from_far_in_the_future_is_stale() {
        // The clock stepped back by more than a lifetime since the nonce was issued.
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0 + 2 * LIFETIME);
        let authorization = answer(&challenge, "correct horse", 1);
        assert_eq!(
            verify_at(&mut auth, &authorization, T0),
            Err(Verdict::Stale)
        );
    }

    #[test]
    fn forged_or_altered_nonces_are_unknown() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let nonce = Challenge::parse(&challenge).unwrap().nonce.into_owned();

        // Moving the issue time forward to extend the nonce's life breaks the tag.
        let mut later = nonce.clone().into_bytes();
        later[14] = if later[14] == b'f' { b'e' } else { b'f' };
        let later = String::from_utf8(later).unwrap();
        // A nonce made with another secret.
        let mut other = Authenticator::new(b"another secret entirely, 32 byte", LIFETIME);
        let other_nonce = Challenge::parse(&challenge_for(&mut other, Algorithm::Sha256, T0))
            .unwrap()
            .nonce
            .into_owned();

        for forged in [
            later.as_str(),
            &other_nonce,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "",
            "é",
        ] {
            let challenge = challenge.replace(&nonce, forged);
            let authorization = answer(&challenge, "correct horse", 1);
            assert_eq!(
                verify_at(&mut auth, &authorization, T0),
                Err(Verdict::UnknownNonce),
                "nonce {forged:?}"
            );
        }
    }

    #[test]
    fn nonce_issued_for_another_realm_is_unknown_here() {
        let mut auth = registrar();
        let for_other_realm = auth.challenge("other.example.com", T0, false).remove(0);
        let challenge = Challenge::parse(&for_other_realm).unwrap();
        let spoofed = Challenge {
            realm: REALM.into(),
            ..challenge
        };
        let authorization = respond(
            &spoofed,
            "REGISTER",
            "sip:example.net",
            "alice",
            "correct horse",
            "c",
            1,
        )
        .unwrap();
        assert_eq!(
            verify_at(&mut auth, &authorization, T0),
            Err(Verdict::UnknownNonce)
        );
    }

    #[test]
    fn credentials_for_another_realm_are_a_realm_mismatch() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let credentials_text = answer(&challenge, "correct horse", 1);
        let credentials = Credentials::parse(&credentials_text).unwrap();
        let verdict = auth.verify(&credentials, "other.example.com", "REGISTER", alice_ha1, T0);
        assert_eq!(verdict, Err(Verdict::RealmMismatch));
    }

    #[test]
    fn replayed_nonce_count_is_refused() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let authorization = answer(&challenge, "correct horse", 1);
        assert_eq!(verify_at(&mut auth, &authorization, T0), Ok(()));
        assert_eq!(
            verify_at(&mut auth, &authorization, T0),
            Err(Verdict::Replay)
        );
    }

    #[test]
    fn increasing_nonce_counts_are_accepted_and_lower_ones_refused() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Md5, T0);
        for nc in [1, 2, 5, 0x1_0000] {
            assert_eq!(
                verify_at(&mut auth, &answer(&challenge, "correct horse", nc), T0),
                Ok(())
            );
        }
        let behind = answer(&challenge, "correct horse", 3);
        assert_eq!(verify_at(&mut auth, &behind, T0), Err(Verdict::Replay));
        let zero = answer(
            &registrar().challenge(REALM, T0, false)[0],
            "correct horse",
            0,
        );
        assert_eq!(verify_at(&mut registrar(), &zero, T0), Err(Verdict::Replay));
    }

    #[test]
    fn bad_response_does_not_advance_the_nonce_count() {
        let mut auth = registrar();
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let attacker = answer(&challenge, "guess", 9);
        assert_eq!(
            verify_at(&mut auth, &attacker, T0),
            Err(Verdict::BadResponse)
        );
        assert_eq!(
            verify_at(&mut auth, &answer(&challenge, "correct horse", 1), T0),
            Ok(())
        );
    }

    #[test]
    fn full_replay_guard_forgets_the_oldest_nonce_which_then_is_stale_not_replayable() {
        let mut auth = registrar().with_max_tracked_nonces(2);
        let oldest = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let replayable = answer(&oldest, "correct horse", 1);
        assert_eq!(verify_at(&mut auth, &replayable, T0), Ok(()));
        for _ in 0..2 {
            let next = challenge_for(&mut auth, Algorithm::Sha256, T0);
            assert_eq!(
                verify_at(&mut auth, &answer(&next, "correct horse", 1), T0),
                Ok(())
            );
        }
        assert_eq!(auth.tracked_nonces(), 2);
        assert_eq!(verify_at(&mut auth, &replayable, T0), Err(Verdict::Stale));
        let next_count = answer(&oldest, "correct horse", 2);
        assert_eq!(verify_at(&mut auth, &next_count, T0), Err(Verdict::Stale));
    }

    #[test]
    fn expired_nonces_leave_the_replay_guard() {
        let mut auth = registrar();
        let first = answer(
            &challenge_for(&mut auth, Algorithm::Sha256, T0),
            "correct horse",
            1,
        );
        assert_eq!(verify_at(&mut auth, &first, T0), Ok(()));
        assert_eq!(auth.tracked_nonces(), 1);
        let later = T0 + LIFETIME;
        let second = answer(
            &challenge_for(&mut auth, Algorithm::Sha256, later),
            "correct horse",
            1,
        );
        assert_eq!(verify_at(&mut auth, &second, later), Ok(()));
        assert_eq!(auth.tracked_nonces(), 1);
    }

    #[test]
    fn rfc2069_credentials_are_refused_unless_allowed_and_md5() {
        let offered = challenge_for(&mut registrar(), Algorithm::Md5, T0);
        let md5_without_qop = Challenge {
            qop: None,
            ..Challenge::parse(&offered).unwrap()
        };
        let authorization = respond(
            &md5_without_qop,
            "REGISTER",
            "sip:example.net",
            "alice",
            "correct horse",
            "unused",
            1,
        )
        .unwrap();
        assert!(!authorization.contains("qop"));
        assert!(!authorization.contains("cnonce"));
        assert_eq!(
            verify_at(&mut registrar(), &authorization, T0),
            Err(Verdict::LegacyDigestRefused)
        );
        let mut lenient = registrar().allow_rfc2069(true);
        assert_eq!(verify_at(&mut lenient, &authorization, T0), Ok(()));

        let sha256_without_qop = Challenge {
            algorithm: Algorithm::Sha256,
            ..md5_without_qop
        };
        let authorization = respond(
            &sha256_without_qop,
            "REGISTER",
            "sip:example.net",
            "alice",
            "correct horse",
            "unused",
            1,
        )
        .unwrap();
        assert_eq!(
            verify_at(&mut lenient, &authorization, T0),
            Err(Verdict::LegacyDigestRefused)
        );
    }

    #[test]
    fn qop_auth_without_cnonce_or_nc_names_the_missing_field() {
        let mut auth = registrar();
        let authorization = answer(
            &challenge_for(&mut auth, Algorithm::Sha256, T0),
            "correct horse",
            1,
        );
        let no_nc = authorization.replace(", nc=00000001", "");
        assert_eq!(
            verify_at(&mut auth, &no_nc, T0),
            Err(Verdict::MissingField("nc"))
        );
        let no_cnonce = authorization.replace(r#", cnonce="0a4f113b""#, "");
        assert_eq!(
            verify_at(&mut auth, &no_cnonce, T0),
            Err(Verdict::MissingField("cnonce"))
        );
        let auth_int = authorization.replace("qop=auth", "qop=auth-int");
        assert_eq!(
            verify_at(&mut auth, &auth_int, T0),
            Err(Verdict::UnsupportedQop)
        );
    }

    #[test]
    fn algorithm_not_offered_is_refused() {
        let mut sha256_only = registrar().with_algorithms(&[Algorithm::Sha256]);
        let offered = sha256_only.challenge(REALM, T0, false);
        assert_eq!(offered.len(), 1);
        let md5 = Challenge {
            algorithm: Algorithm::Md5,
            ..Challenge::parse(&offered[0]).unwrap()
        };
        let authorization = respond(
            &md5,
            "REGISTER",
            "sip:example.net",
            "alice",
            "correct horse",
            "c",
            1,
        )
        .unwrap();
        assert_eq!(
            verify_at(&mut sha256_only, &authorization, T0),
            Err(Verdict::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn configured_opaque_must_come_back() {
        let mut auth = registrar().with_opaque("v1");
        let challenge = challenge_for(&mut auth, Algorithm::Sha256, T0);
        let authorization = answer(&challenge, "correct horse", 1);
        assert!(authorization.contains(r#"opaque="v1""#));
        let altered = authorization.replace(r#"opaque="v1""#, r#"opaque="v2""#);
        assert_eq!(
            verify_at(&mut auth, &altered, T0),
            Err(Verdict::UnknownNonce)
        );
        assert_eq!(verify_at(&mut auth, &authorization, T0), Ok(()));
    }

    #[test]
    fn pick_challenge_prefers_sha256_whatever_the_order_and_skips_what_it_cannot_answer() {
        let md5 = r#"Digest realm="gw", nonce="n1", qop="auth""#;
        let sha256 = r#"Digest realm="gw", nonce="n2", qop="auth", algorithm=SHA-256"#;
        let sess = r#"Digest realm="gw", nonce="n3", algorithm=SHA-256-sess"#;
        let auth_int_only = r#"Digest realm="gw", nonce="n4", qop="auth-int", algorithm=SHA-256"#;
        let basic = r#"Basic realm="gw""#;
        for values in [[md5, sha256, sess, basic], [basic, sess, sha256, md5]] {
            assert_eq!(pick_challenge(values).unwrap().nonce, "n2");
        }
        assert_eq!(pick_challenge([auth_int_only, md5]).unwrap().nonce, "n1");
        assert_eq!(pick_challenge([basic, sess, auth_int_only]), None);
    }

    #[test]
    fn respond_refuses_a_challenge_without_qop_auth() {
        let challenge =
            Challenge::parse(r#"Digest realm="gw", nonce="n", qop="auth-int""#).unwrap();
        let answer = respond(&challenge, "INVITE", "sip:gw", "u", "p", "c", 1);
        assert_eq!(answer, Err(DigestError::NoSupportedQop));
    }

    #[test]
    fn respond_refuses_values_that_would_split_the_header() {
        let challenge = Challenge::parse(r#"Digest realm="gw", nonce="n", qop="auth""#).unwrap();
        let injected = respond(
            &challenge,
            "INVITE",
            "sip:gw",
            "u\r\nX-Evil: 1",
            "p",
            "c",
            1,
        );
        assert_eq!(
            injected.unwrap_err().to_string(),
            "Authorization header has a malformed username: contains a control character"
        );
        let folded_realm = Challenge {
            realm: "g\r\n w".into(),
            ..challenge
        };
        assert!(respond(&folded_realm, "INVITE", "sip:gw", "u", "p", "c", 1).is_err());
    }

    #[test]
    fn regaut01_unknown_scheme_is_an_error_not_a_panic() {
        let message = include_str!("../tests/rfc4475/regaut01.dat");
        let value = message
            .lines()
            .find_map(|line| line.strip_prefix("Authorization:"))
            .expect("regaut01 has an Authorization header");
        let error = Credentials::parse(value).unwrap_err();
        assert_eq!(
            error,
            DigestError::NotDigest {
                header: HeaderKind::Credentials,
                scheme: "NoOneKnowsThisScheme".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "Authorization header uses the 'NoOneKnowsThisScheme' scheme, not Digest"
        );
        assert!(Challenge::parse(value).is_err());
    }

    #[test]
    fn missing_required_fields_are_named() {
        let error =
            Credentials::parse(r#"Digest username="a", realm="r", uri="sip:x", response="00""#)
                .unwrap_err();
        assert_eq!(error.to_string(), "Authorization header has no nonce");
        let error = Challenge::parse(r#"Digest nonce="n""#).unwrap_err();
        assert_eq!(error.to_string(), "authentication challenge has no realm");
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_params_ignored() {
        let challenge =
            Challenge::parse(r#"DIGEST Realm="r", NONCE=abc/def=, Algorithm=sha-256, Stale=TRUE, charset=UTF-8, domain="sip:a sip:b""#)
                .unwrap();
        assert_eq!(challenge.realm, "r");
        assert_eq!(challenge.nonce, "abc/def=");
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        assert!(challenge.stale);
        assert_eq!(challenge.domain.as_deref(), Some("sip:a sip:b"));
    }

    #[test]
    fn quoted_values_are_unescaped_and_keep_commas() {
        let credentials = Credentials::parse(
            "Digest username=\"al\\\"ice, jr\", realm=\"r\",\r\n nonce=\"n\", uri=\"sip:x;a=1,2\", response=\"00\"",
        )
        .unwrap();
        assert_eq!(credentials.username, "al\"ice, jr");
        assert_eq!(credentials.uri, "sip:x;a=1,2");
    }

    #[test]
    fn algorithm_names_read_in_any_case_and_sess_variants_are_unsupported() {
        assert_eq!("md5".parse(), Ok(Algorithm::Md5));
        assert_eq!("Sha-256".parse(), Ok(Algorithm::Sha256));
        for name in ["MD5-sess", "SHA-256-sess", "SHA-512-256", "SHA256", ""] {
            assert_eq!(
                name.parse::<Algorithm>(),
                Err(DigestError::UnsupportedAlgorithm(name.into()))
            );
        }
        let error =
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#).unwrap_err();
        assert_eq!(error, DigestError::UnsupportedAlgorithm("MD5-sess".into()));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let cases = [
            ("", "no authentication scheme"),
            ("Digest realm", "auth-param without '=value'"),
            (r#"Digest realm="r"#, "unterminated quoted string"),
            (
                r#"Digest realm="r"x, nonce=n"#,
                "auth-param value is neither a token nor a quoted string",
            ),
            (
                "Digest realm=a b, nonce=n",
                "auth-param value is neither a token nor a quoted string",
            ),
            ("Digest re@lm=r", "auth-param name is not a token"),
        ];
        for (value, reason) in cases {
            assert_eq!(
                Challenge::parse(value),
                Err(DigestError::Syntax {
                    header: HeaderKind::Challenge,
                    reason
                }),
                "{value:?}"
            );
        }
        assert_eq!(
            Challenge::parse(r#"Digest realm="a", realm="b", nonce=n"#),
            Err(DigestError::Duplicate {
                header: HeaderKind::Challenge,
                field: "realm"
            })
        );
        let bad_nc =
            r#"Digest username="a", realm="r", nonce="n", uri="sip:x", response="00", nc=1"#;
        assert_eq!(
            Credentials::parse(bad_nc).unwrap_err().to_string(),
            "Authorization header has a malformed nc: not 8 lowercase hex digits"
        );
    }

    #[test]
    fn uri_matches_by_sip_equivalence() {
        let credentials = Credentials::parse(
            r#"Digest username="a", realm="r", nonce="n", uri="sip:Alice@EXAMPLE.net;transport=udp", response="00""#,
        )
        .unwrap();
        assert!(credentials.uri_matches("sip:Alice@example.net;transport=UDP"));
        assert!(!credentials.uri_matches("sip:alice@example.net;transport=udp"));
        assert!(!credentials.uri_matches("sip:Alice@example.org;transport=udp"));
        assert!(!credentials.uri_matches("not a uri"));
    }

    #[test]
    fn long_unknown_schemes_are_cut_in_the_error() {
        let scheme = "X".repeat(10_000);
        let Err(DigestError::NotDigest { scheme: shown, .. }) = Credentials::parse(&scheme) else {
            panic!("a non-Digest scheme is refused");
        };
        assert_eq!(shown.chars().count(), 41);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_text(value in any::<String>()) {
            let _ = Credentials::parse(&value);
            let _ = Challenge::parse(&value);
            let _ = pick_challenge([value.as_str()]);
        }

        #[test]
        fn parsers_never_panic_on_digest_like_text(
            value in r#"(Digest|digest|Basic)?[ \t]{0,2}([a-zA-Z]{1,9}[ ]?=[ ]?("([^"\\]|\\.){0,12}"|[!-~]{0,12}|"[^"]*)?[ ]?,?[ ]?){0,8}"#
        ) {
            if let Ok(credentials) = Credentials::parse(&value) {
                let _ = credentials.uri_matches("sip:example.net");
                let _ = registrar().verify(&credentials, REALM, "INVITE", alice_ha1, T0);
            }
            if let Ok(challenge) = Challenge::parse(&value) {
                let _ = respond(&challenge, "INVITE", "sip:x", "u", "p", "c", 1);
            }
        }

        #[test]
        fn any_username_and_password_round_trip_through_respond_and_verify(
            username in "\\PC*",
            password in any::<String>(),
            cnonce in "[!-~]{1,20}",
            nc in 1u32..,
        ) {
            let mut auth = registrar();
            let challenge_value = challenge_for(&mut auth, Algorithm::Sha256, T0);
            let challenge = Challenge::parse(&challenge_value).unwrap();
            let authorization =
                respond(&challenge, "INVITE", "sip:x", &username, &password, &cnonce, nc).unwrap();
            let credentials = Credentials::parse(&authorization).unwrap();
            prop_assert_eq!(&credentials.username, &username);
            let stored = |algorithm| Some(ha1(algorithm, &username, REALM, &password));
            prop_assert_eq!(auth.verify(&credentials, REALM, "INVITE", stored, T0), Ok(()));
        }
    }
}
