//! Claims (SPEC §3): an individual claims an e-mail address, a company a
//! domain name; once verified, a call to `sip:alice@example.com` reaches
//! the member's PIN and a call to `sip:example.com` the company's VNS
//! (SPEC §1, step 2).
//!
//! The rules of a claim live here, once, for the API, the CLI and the
//! store: how a value is normalised, what a token or code looks like, how
//! long it is good for, how many wrong tries it takes, and how it is kept
//! (hashed with the value, never as itself). The DNS look-up and the
//! sending of mail are the edges' (`web::claims`); they hand the store what
//! they found or were given, and [`Claims::verify_claim`] decides.
//!
//! - A domain is verified by a DNS TXT record at
//!   [`challenge_name`]`(domain)` holding [`challenge_text`]`(token)`.
//! - An e-mail address is verified by a 6-digit code sent to it, good for
//!   [`CODE_VALID_MS`] and [`MAX_ATTEMPTS`] wrong tries.
//! - The operator may verify any pending claim without a token.

use std::fmt;
use std::fmt::Write as _;
use std::future::Future;
use std::str::FromStr;

use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};
use crate::model::{excerpt, text_enum, MemberId, NumberKind, UnixMillis};
use crate::{Backend, Store};

/// How long an e-mail code is good for: 30 minutes.
pub const CODE_VALID_MS: i64 = 30 * 60 * 1000;
/// How long a domain's token is good for: publishing a DNS record can take
/// the member a while (7 days).
pub const TOKEN_VALID_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Wrong codes or tokens a claim takes before it must be claimed again.
pub const MAX_ATTEMPTS: i64 = 5;
/// The longest value: an e-mail address (RFC 5321 path limit).
pub const MAX_VALUE: usize = 254;

text_enum! {
    /// What is claimed.
    pub enum ClaimKind ("claim kind") {
        /// An e-mail address, resolving to a PIN.
        Email = "email",
        /// A domain name, resolving to a VNS.
        Domain = "domain",
    }
}

text_enum! {
    /// Where a claim is in its life.
    pub enum ClaimState ("claim state") {
        Pending = "pending",
        Verified = "verified",
        Revoked = "revoked",
    }
}

text_enum! {
    /// Who verified a claim.
    pub enum VerifiedBy ("verified by") {
        /// The domain's DNS TXT record held the token.
        Dns = "dns",
        /// The member gave back the code mailed to the address.
        Email = "email",
        /// The operator vouched for it.
        Operator = "operator",
    }
}

impl ClaimKind {
    /// The kind of number a claim of this kind resolves to.
    pub fn number_kind(self) -> NumberKind {
        match self {
            ClaimKind::Email => NumberKind::Pin,
            ClaimKind::Domain => NumberKind::Vns,
        }
    }

    /// Who verifies a claim of this kind when the member proves it.
    pub fn proof(self) -> VerifiedBy {
        match self {
            ClaimKind::Email => VerifiedBy::Email,
            ClaimKind::Domain => VerifiedBy::Dns,
        }
    }

    fn valid_for(self) -> i64 {
        match self {
            ClaimKind::Email => CODE_VALID_MS,
            ClaimKind::Domain => TOKEN_VALID_MS,
        }
    }
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub member_id: MemberId,
    pub kind: ClaimKind,
    /// Normalised: see [`normalise`].
    pub value: String,
    /// The store key of the number it resolves to.
    pub number: String,
    pub state: ClaimState,
    /// Wrong tokens or codes tried so far.
    pub attempts: i64,
    /// When the token or code stops being accepted.
    pub expires_at: UnixMillis,
    pub created_at: UnixMillis,
    pub verified_at: Option<UnixMillis>,
    pub verified_by: Option<VerifiedBy>,
}

/// A new claim and its one-time token (a domain's) or code (an address's):
/// shown to the member once, kept by the store only as a hash.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub claim: Claim,
    pub token: String,
}

/// The repository of claims.
pub trait Claims {
    /// Records a pending claim of `value` by `member`, resolving to
    /// `number` (a PIN the member holds for an address, a VNS for a
    /// domain), and returns it with its one-time token. `Invalid` for a
    /// value of the wrong shape, `NotFound` for a number the member does
    /// not hold, `Conflict` if another member has verified the value.
    fn create_claim(
        &self,
        member: MemberId,
        kind: ClaimKind,
        value: &str,
        number: &str,
    ) -> impl Future<Output = Result<NewClaim>> + Send;

    /// Verifies claim `id` of `member` if `token` is its token, unexpired,
    /// within [`MAX_ATTEMPTS`]; a wrong token counts as an attempt and is
    /// `Invalid`. `Conflict` if another member verified the value first
    /// (or the claim was revoked); `NotFound` if `member` has no claim `id`.
    fn verify_claim(
        &self,
        member: MemberId,
        id: i64,
        token: &str,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Like [`verify_claim`](Claims::verify_claim), with every token found
    /// (a domain's TXT records): verified if any is the claim's, and one
    /// attempt counted if none is, however many there were.
    fn verify_claim_with_any(
        &self,
        member: MemberId,
        id: i64,
        tokens: &[&str],
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// The operator verifies pending claim `id` without a token.
    fn verify_claim_as_operator(&self, id: i64) -> impl Future<Output = Result<Claim>> + Send;

    /// Revokes claim `id` (pending or verified): the value stops resolving
    /// at once. `NotFound` if there is no such claim of `member` (any
    /// member's with `None`).
    fn revoke_claim(
        &self,
        member: Option<MemberId>,
        id: i64,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Claim `id`, whoever's.
    fn claim(&self, id: i64) -> impl Future<Output = Result<Option<Claim>>> + Send;

    /// A member's claims, in id order.
    fn claims_of(&self, member: MemberId) -> impl Future<Output = Result<Vec<Claim>>> + Send;

    /// The number key the verified `kind` claim of `value` resolves to (the
    /// switch's question; `value` is normalised first, and a value of the
    /// wrong shape is nobody's).
    fn verified_claim(
        &self,
        kind: ClaimKind,
        value: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// Calls the same method on whichever engine the store is.
macro_rules! on_engine {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(store) => store.$method($($arg),*).await,
            Backend::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

impl Claims for Store {
    async fn create_claim(
        &self,
        member: MemberId,
        kind: ClaimKind,
        value: &str,
        number: &str,
    ) -> Result<NewClaim> {
        on_engine!(self.create_claim(member, kind, value, number))
    }
    async fn verify_claim(&self, member: MemberId, id: i64, token: &str) -> Result<Claim> {
        on_engine!(self.verify_claim(member, id, token))
    }
    async fn verify_claim_with_any(
        &self,
        member: MemberId,
        id: i64,
        tokens: &[&str],
    ) -> Result<Claim> {
        on_engine!(self.verify_claim_with_any(member, id, tokens))
    }
    async fn verify_claim_as_operator(&self, id: i64) -> Result<Claim> {
        on_engine!(self.verify_claim_as_operator(id))
    }
    async fn revoke_claim(&self, member: Option<MemberId>, id: i64) -> Result<Claim> {
        on_engine!(self.revoke_claim(member, id))
    }
    async fn claim(&self, id: i64) -> Result<Option<Claim>> {
        on_engine!(self.claim(id))
    }
    async fn claims_of(&self, member: MemberId) -> Result<Vec<Claim>> {
        on_engine!(self.claims_of(member))
    }
    async fn verified_claim(&self, kind: ClaimKind, value: &str) -> Result<Option<String>> {
        on_engine!(self.verified_claim(kind, value))
    }
}

// ---------------------------------------------------------------- rules

/// The DNS name whose TXT record proves control of `domain`.
pub fn challenge_name(domain: &str) -> String {
    format!("_callex-challenge.{domain}")
}

/// What the TXT record at [`challenge_name`] holds for `token`.
pub fn challenge_text(token: &str) -> String {
    format!("callex-verify={token}")
}

/// The token in a TXT record's text, if it is a Callex challenge.
pub fn token_in_challenge(text: &str) -> Option<&str> {
    text.trim().strip_prefix("callex-verify=").map(str::trim)
}

/// `value` in the form claims are stored and looked up by: lowercase; a
/// domain without its trailing dot. Domains must be ASCII (an IDN as its
/// `xn--` form), of at least two labels of letters, digits and hyphens.
pub fn normalise(kind: ClaimKind, value: &str) -> Result<String> {
    let value = value.trim();
    match kind {
        ClaimKind::Domain => normalise_domain("domain", value),
        ClaimKind::Email => {
            let Some((local, domain)) = value.rsplit_once('@') else {
                return Err(StoreError::invalid(
                    "e-mail",
                    format!("{:?} is not of the form name@domain", excerpt(value)),
                ));
            };
            let local_ok = !local.is_empty()
                && local.len() <= 64
                && local
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"@<>()[]\\,;:\"".contains(&b));
            if !local_ok {
                return Err(StoreError::invalid(
                    "e-mail",
                    format!(
                        "the name before @ in {:?} must be 1 to 64 printable ASCII characters \
                         without spaces, quotes or <>()[],;:@\\",
                        excerpt(value)
                    ),
                ));
            }
            let domain = normalise_domain("e-mail", domain)?;
            let email = format!("{}@{domain}", local.to_ascii_lowercase());
            if email.len() > MAX_VALUE {
                return Err(StoreError::invalid(
                    "e-mail",
                    format!("an address has at most {MAX_VALUE} characters"),
                ));
            }
            Ok(email)
        }
    }
}

fn normalise_domain(field: &'static str, domain: &str) -> Result<String> {
    if !domain.is_ascii() {
        return Err(StoreError::invalid(
            field,
            format!(
                "{:?} is not ASCII: write an internationalised domain in its xn-- (punycode) form",
                excerpt(domain)
            ),
        ));
    }
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(StoreError::invalid(
            field,
            format!(
                "{:?} is not a domain name: at least two dot-separated labels of 1 to 63 \
                 letters, digits and inner hyphens, 253 characters at most",
                excerpt(&domain)
            ),
        ));
    }
    Ok(domain)
}

/// A fresh token for a `kind` claim: 6 digits for an address (typed by a
/// person from a mail), 128 random bits in hex for a domain (published in
/// DNS, never typed).
pub(crate) fn generate_token(kind: ClaimKind) -> String {
    match kind {
        ClaimKind::Email => format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32)),
        ClaimKind::Domain => {
            let mut secret = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            secret.iter().fold(String::with_capacity(32), |mut out, b| {
                // Writing to a String cannot fail.
                let _ = write!(out, "{b:02x}");
                out
            })
        }
    }
}

/// What the store keeps of a token: SHA-256 over the claim's kind, value
/// and the token, so that one code's hash says nothing of another claim's.
pub(crate) fn token_hash(kind: ClaimKind, value: &str, token: &str) -> String {
    let digest = Sha256::digest(format!("{kind}\n{value}\n{}", token.trim()).as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut out, b| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// When a token made at `now` for a `kind` claim expires.
pub(crate) fn expires_at(kind: ClaimKind, now: UnixMillis) -> UnixMillis {
    now + kind.valid_for()
}

/// Why `tokens` cannot verify `claim` at `now`, if they cannot; `Ok(true)`
/// if one of them is its token, `Ok(false)` if none is (one attempt to
/// count).
pub(crate) fn check_token(
    claim: &Claim,
    stored_hash: &str,
    tokens: &[&str],
    now: UnixMillis,
) -> Result<bool> {
    let what = format!("claim {} ({} {})", claim.id, claim.kind, claim.value);
    match claim.state {
        ClaimState::Pending => {}
        ClaimState::Verified => {
            return Err(StoreError::conflict(format!("{what} is already verified")))
        }
        ClaimState::Revoked => {
            return Err(StoreError::conflict(format!(
                "{what} was revoked; claim it again for a new code"
            )))
        }
    }
    if claim.attempts >= MAX_ATTEMPTS {
        return Err(StoreError::conflict(format!(
            "{what} took {MAX_ATTEMPTS} wrong codes; claim it again for a new one"
        )));
    }
    if now >= claim.expires_at {
        return Err(StoreError::conflict(format!(
            "the code of {what} expired; claim it again for a new one"
        )));
    }
    Ok(tokens
        .iter()
        .any(|token| token_hash(claim.kind, &claim.value, token) == stored_hash))
}

/// What a wrong token is told.
pub(crate) fn wrong_token(claim: &Claim) -> StoreError {
    let left = MAX_ATTEMPTS - claim.attempts - 1;
    StoreError::invalid(
        "code",
        format!(
            "that is not the {} of claim {} ({} {}); {left} attempt{} left",
            match claim.kind {
                ClaimKind::Email => "code",
                ClaimKind::Domain => "token",
            },
            claim.id,
            claim.kind,
            claim.value,
            if left == 1 { "" } else { "s" }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_normalised_once() {
        assert_eq!(
            normalise(ClaimKind::Domain, "Example.COM.").unwrap(),
            "example.com"
        );
        assert_eq!(
            normalise(ClaimKind::Email, " Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            normalise(ClaimKind::Domain, "xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "bücher.example",
            "example",
            "-a.example",
            "a..example",
            "a b.com",
        ] {
            assert!(normalise(ClaimKind::Domain, bad).is_err(), "{bad}");
        }
        for bad in [
            "alice",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
        ] {
            assert!(normalise(ClaimKind::Email, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_tokens_32_hex() {
        let code = generate_token(ClaimKind::Email);
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        let token = generate_token(ClaimKind::Domain);
        assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(token_in_challenge(&challenge_text(&token)), Some(&*token));
    }
}
