//! Provisioning links (SPEC §3, the seed's "flash card"): a short-lived
//! link a member's softphone downloads its SIP account from, one per held
//! number.
//!
//! SIP passwords are otherwise never stored, only their HA1s; a link must
//! still hand the password to the phone, so the link keeps it *sealed*
//! under its own random token. The token itself is stored only as its
//! SHA-256, like API tokens: whoever reads the database sees neither the
//! token nor, without it, the password.
//!
//! The seal is built from SHA-256 alone (already the store's hash for
//! tokens), not an AEAD crate: the key is a fresh 256-bit random token
//! used for exactly one plaintext, so a SHA-256 counter keystream never
//! repeats, and a SHA-256 tag over token and ciphertext detects a wrong
//! token or a changed row. Domain-separation prefixes keep the key
//! stream, the tag and the lookup hash apart.

use std::fmt;
use std::future::Future;

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};
use crate::model::{MemberId, UnixMillis};

/// How long a link works unless said otherwise: 24 hours.
pub const DEFAULT_LINK_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// The longest lifetime a link may be given: 30 days.
pub const MAX_LINK_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The longest password a link seals (the operator's SIP password limit).
pub const MAX_SEALED_PASSWORD: usize = 128;

/// A provisioning link, without its token or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningLink {
    pub id: i64,
    /// The number's store key: the SIP username.
    pub number: String,
    pub member_id: MemberId,
    pub created_at: UnixMillis,
    /// The link stops working at this time.
    pub expires_at: UnixMillis,
    /// How many times the profile was downloaded.
    pub fetches: i64,
    pub last_fetched_at: Option<UnixMillis>,
}

/// A link just created: its token is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewProvisioningLink {
    pub link: ProvisioningLink,
    pub token: String,
}

impl fmt::Debug for NewProvisioningLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProvisioningLink")
            .field("link", &self.link)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A link opened with its token: what the profile is rendered from.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenedLink {
    /// As it is after this fetch was counted.
    pub link: ProvisioningLink,
    pub sip_password: String,
}

impl fmt::Debug for OpenedLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedLink")
            .field("link", &self.link)
            .field("sip_password", &"<redacted>")
            .finish()
    }
}

/// Provisioning links, per held number.
pub trait Provisioning {
    /// A new link for `number` (a store key) that `member` holds, sealing
    /// `sip_password`, working from `now` for `ttl_ms`
    /// ([`DEFAULT_LINK_TTL_MS`] is the usual). A number has one link: the
    /// new one replaces the earlier one in the same statement, so the old
    /// token stops working at once. `NotFound` if `member`
    /// does not hold `number`; `Invalid` for an empty or over-long
    /// password or a lifetime outside 1 ms to [`MAX_LINK_TTL_MS`].
    fn create_link(
        &self,
        number: &str,
        member: MemberId,
        sip_password: &str,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<NewProvisioningLink>> + Send;

    /// The link and its password if `token` is a link's and it has not
    /// expired at `now`, counting the fetch; `None` otherwise (unknown,
    /// malformed, expired: the caller cannot tell which).
    fn open_link(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<OpenedLink>>> + Send;

    /// The number's link, expired or not (until a new link, a revocation
    /// or the number's release deletes it).
    fn link(&self, number: &str) -> impl Future<Output = Result<Option<ProvisioningLink>>> + Send;

    /// Deletes the link of `number`; `false` if there was none. Releasing
    /// the number deletes it too.
    fn revoke_link(&self, number: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Deletes the links that expired by `now` (their sealed passwords
    /// with them); how many.
    fn purge_links(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;
}

pub(crate) fn check_link_input(sip_password: &str, ttl_ms: i64) -> Result<()> {
    if sip_password.is_empty() || sip_password.chars().count() > MAX_SEALED_PASSWORD {
        return Err(StoreError::invalid(
            "SIP password",
            format!("a link seals a password of 1 to {MAX_SEALED_PASSWORD} characters"),
        ));
    }
    if !(1..=MAX_LINK_TTL_MS).contains(&ttl_ms) {
        return Err(StoreError::invalid(
            "link lifetime",
            format!("{ttl_ms} ms; a link works for 1 ms to {MAX_LINK_TTL_MS} ms (30 days)"),
        ));
    }
    Ok(())
}

const KEYSTREAM: &[u8] = b"callex provisioning keystream\0";
const TAG: &[u8] = b"callex provisioning tag\0";
const TAG_LEN: usize = 32;

fn keystream_block(token: &str, counter: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(KEYSTREAM)
        .chain_update(token.as_bytes())
        .chain_update(counter.to_be_bytes())
        .finalize()
        .into()
}

fn tag(token: &str, ciphertext: &[u8]) -> [u8; TAG_LEN] {
    Sha256::new()
        .chain_update(TAG)
        .chain_update(token.as_bytes())
        .chain_update(ciphertext)
        .finalize()
        .into()
}

fn apply_keystream(token: &str, bytes: &mut [u8]) {
    for (counter, chunk) in (0u64..).zip(bytes.chunks_mut(32)) {
        let block = keystream_block(token, counter);
        for (byte, key) in chunk.iter_mut().zip(block) {
            *byte ^= key;
        }
    }
}

/// `password` sealed under `token`: ciphertext then tag.
pub(crate) fn seal(token: &str, password: &str) -> Vec<u8> {
    let mut sealed = password.as_bytes().to_vec();
    apply_keystream(token, &mut sealed);
    let tag = tag(token, &sealed);
    sealed.extend_from_slice(&tag);
    sealed
}

/// The password `sealed` holds, if `token` is the one it was sealed under
/// and nothing changed it.
pub(crate) fn unseal(token: &str, sealed: &[u8]) -> Option<String> {
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let (ciphertext, given_tag) = sealed.split_at(split);
    let expected = tag(token, ciphertext);
    // Constant time: the comparison must not tell how much of a forged
    // tag was right.
    let differs = expected
        .iter()
        .zip(given_tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differs != 0 {
        return None;
    }
    let mut plain = ciphertext.to_vec();
    apply_keystream(token, &mut plain);
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_with_its_token_only() {
        let token = "cxp_0123";
        let password = "a long SIP password that spans more than one block ✓";
        let sealed = seal(token, password);
        assert_eq!(sealed.len(), password.len() + TAG_LEN);
        assert!(!sealed
            .windows(8)
            .any(|w| password.as_bytes().windows(8).any(|p| p == w)));
        assert_eq!(unseal(token, &sealed).as_deref(), Some(password));
        assert_eq!(unseal("cxp_0124", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(unseal(token, &tampered), None);
        assert_eq!(unseal(token, &sealed[..10]), None);
    }

    #[test]
    fn two_tokens_seal_the_same_password_differently() {
        assert_ne!(seal("cxp_a", "password"), seal("cxp_b", "password"));
    }
}
