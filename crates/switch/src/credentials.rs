//! The hot copy of what authentication and routing read on every request:
//! each SIP username's HA1 per digest algorithm and its holder's country,
//! whether a number is held, and what verified e-mail addresses and domains
//! resolve to. Without it every REGISTER and every call would cost two database
//! reads.
//!
//! The store stays the authority. The engine reads the store's directory
//! version every [`POLL`]: a counter that moves whenever a credential or a
//! holder changes, from any process (the CLI, the API, another node). When
//! it has moved, the cache is emptied, so a password reset or a released
//! number takes effect within one poll. Answers read from the store are
//! kept only if no change was seen while they were being read.

use std::collections::HashMap;
use std::time::Duration;

use sip::digest::Algorithm;
use store::ClaimKind;

use crate::dialplan::Answers;

/// How often the directory version is read.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Entries at most; past it the cache starts again empty.
const CAPACITY: usize = 250_000;

/// Identifies the cache's contents between two invalidations: a read
/// started under one epoch is not kept under another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    version: Option<i64>,
    epoch: u64,
    /// Per username, the HA1 (or its absence) per algorithm asked for.
    ha1: HashMap<String, Vec<(Algorithm, Option<String>)>>,
    held: HashMap<String, bool>,
    /// Per e-mail address or domain, the number its verified claim
    /// resolves to (`None`: not verified).
    claimed: HashMap<(ClaimKind, String), Option<String>>,
    /// Per SIP username, its holder's country (`None`: no holder).
    regions: HashMap<String, Option<String>>,
}

impl CredentialCache {
    pub(crate) fn epoch(&self) -> Epoch {
        Epoch(self.epoch)
    }

    /// The HA1 of `username` for `algorithm`, if known here (`Some(None)`:
    /// known to have none).
    pub(crate) fn ha1(&self, username: &str, algorithm: Algorithm) -> Option<Option<String>> {
        self.ha1
            .get(username)?
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(_, ha1)| ha1.clone())
    }

    pub(crate) fn held(&self, number: &str) -> Option<bool> {
        self.held.get(number).copied()
    }

    /// The number a verified claim of this address or domain resolves to,
    /// if known here (`Some(None)`: known to be unverified).
    pub(crate) fn claimed(&self, question: &(ClaimKind, String)) -> Option<Option<String>> {
        self.claimed.get(question).cloned()
    }

    /// The country of the member holding `username`, if known here
    /// (`Some(None)`: known to have no holder).
    pub(crate) fn region(&self, username: &str) -> Option<Option<&str>> {
        self.regions.get(username).map(Option::as_deref)
    }

    /// Keeps what a call's look-up read besides the HA1: the caller's
    /// country and whether the numbers its dial string may mean are held.
    pub(crate) fn remember_call(
        &mut self,
        read_under: Epoch,
        username: &str,
        region: Option<&str>,
        answers: &Answers,
    ) {
        if read_under != self.epoch() {
            return;
        }
        if self.ha1.len() + self.held.len() + self.regions.len() + self.claimed.len() >= CAPACITY {
            self.clear();
        }
        self.regions
            .insert(username.to_owned(), region.map(str::to_owned));
        for (number, &held) in &answers.held {
            self.held.insert(number.clone(), held);
        }
        for (question, number) in &answers.claimed {
            self.claimed.insert(question.clone(), number.clone());
        }
    }

    /// Keeps what the store answered, unless the cache was emptied since
    /// the read began.
    pub(crate) fn remember(
        &mut self,
        read_under: Epoch,
        username: &str,
        algorithm: Algorithm,
        ha1: Option<String>,
        held: Option<(&str, bool)>,
    ) {
        if read_under != self.epoch() {
            return;
        }
        if self.ha1.len() + self.held.len() >= CAPACITY {
            self.clear();
        }
        let known = self.ha1.entry(username.to_owned()).or_default();
        known.retain(|(a, _)| *a != algorithm);
        known.push((algorithm, ha1));
        if let Some((number, held)) = held {
            self.held.insert(number.to_owned(), held);
        }
    }

    /// The store's directory version now: the cache empties if it moved
    /// (or if it was never read, as entries may predate it).
    pub(crate) fn saw_version(&mut self, version: i64) {
        if self.version != Some(version) {
            self.version = Some(version);
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.ha1.clear();
        self.held.clear();
        self.claimed.clear();
        self.regions.clear();
        self.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_version_empties_the_cache_and_drops_reads_begun_before() {
        let mut cache = CredentialCache::default();
        cache.saw_version(7);
        let before = cache.epoch();
        cache.remember(
            before,
            "100",
            Algorithm::Md5,
            Some("aa".into()),
            Some(("200", true)),
        );
        assert_eq!(cache.ha1("100", Algorithm::Md5), Some(Some("aa".into())));
        assert_eq!(cache.ha1("100", Algorithm::Sha256), None);
        assert_eq!(cache.held("200"), Some(true));

        cache.saw_version(7);
        assert_eq!(cache.held("200"), Some(true), "the same version keeps it");

        let reading = cache.epoch();
        cache.saw_version(8);
        assert_eq!(cache.held("200"), None);
        cache.remember(reading, "100", Algorithm::Md5, Some("old".into()), None);
        assert_eq!(
            cache.ha1("100", Algorithm::Md5),
            None,
            "a read begun before the change is not kept"
        );
    }

    #[test]
    fn an_unknown_user_is_remembered_as_having_no_ha1() {
        let mut cache = CredentialCache::default();
        cache.saw_version(1);
        cache.remember(
            cache.epoch(),
            "999",
            Algorithm::Md5,
            None,
            Some(("999", false)),
        );
        assert_eq!(cache.ha1("999", Algorithm::Md5), Some(None));
        assert_eq!(cache.held("999"), Some(false));
    }
}
