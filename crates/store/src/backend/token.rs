//! Operator API tokens: random, shown once, stored as SHA-256.
//!
//! A token carries 256 random bits, so a fast hash is enough to make the
//! stored value useless to whoever reads the database (argon2 is for
//! passwords, which people choose and which can be guessed).

use std::fmt::Write;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// `cxt_` and 64 hex digits; the prefix makes a leaked token easy to
/// recognise in logs and secret scanners.
pub(crate) fn generate() -> String {
    generate_with_prefix("cxt_")
}

/// `prefix` and 64 hex digits of OS randomness.
pub(crate) fn generate_with_prefix(prefix: &str) -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{prefix}{}", hex(&secret))
}

/// What the store keeps and looks tokens up by.
pub(crate) fn hash(plaintext: &str) -> String {
    hex(&Sha256::digest(plaintext.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}
