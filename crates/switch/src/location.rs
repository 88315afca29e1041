//! The location service's hot copy (RFC 3261 §10: "usrloc"): the bindings
//! of every address-of-record this node knows, in memory, so that a call or
//! a registration query finds its contacts without a database round trip.
//!
//! The store stays the authority: the registrar writes there first and
//! replaces an AOR's entry here with what the store then returns, a node
//! loads everything unexpired at start, and expired bindings are hidden on
//! read and purged on a timer.

use std::collections::HashMap;

use store::{Binding, UnixMillis};

/// Bindings per address-of-record.
#[derive(Debug, Default)]
pub struct Locations {
    by_aor: HashMap<String, Vec<Binding>>,
}

impl Locations {
    /// The cache as loaded from the store's unexpired bindings.
    pub fn from_bindings(bindings: Vec<Binding>) -> Locations {
        let mut locations = Locations::default();
        for binding in bindings {
            locations
                .by_aor
                .entry(binding.aor.clone())
                .or_default()
                .push(binding);
        }
        for bindings in locations.by_aor.values_mut() {
            sort_by_preference(bindings);
        }
        locations
    }

    /// The bindings of `aor` that expire after `now`, highest q first (the
    /// order a call tries them in).
    pub fn current(&self, aor: &str, now: UnixMillis) -> Vec<&Binding> {
        self.by_aor
            .get(aor)
            .map(|bindings| bindings.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    /// Replaces the bindings of `aor` with `bindings` (what the store holds
    /// after a registration).
    pub fn replace(&mut self, aor: &str, mut bindings: Vec<Binding>) {
        if bindings.is_empty() {
            self.by_aor.remove(aor);
        } else {
            sort_by_preference(&mut bindings);
            self.by_aor.insert(aor.to_owned(), bindings);
        }
    }

    /// Applies a registrar's write that the store made durable, and
    /// returns the AOR's bindings after it (what the 200 lists).
    pub fn apply(&mut self, write: &crate::registrar::Write, now: UnixMillis) -> Vec<Binding> {
        use crate::registrar::Write;
        match write {
            Write::RemoveAll { aor } => {
                self.by_aor.remove(aor);
                Vec::new()
            }
            Write::Bindings { aor, bindings } => {
                let mut current = self.by_aor.remove(aor).unwrap_or_default();
                for binding in bindings {
                    current.retain(|b| b.contact != binding.contact);
                    current.push(binding.clone());
                }
                current.retain(|b| b.expires_at > now);
                self.replace(aor, current);
                self.by_aor.get(aor).cloned().unwrap_or_default()
            }
        }
    }

    /// Drops the bindings that expired at or before `now`; how many.
    pub fn purge_expired(&mut self, now: UnixMillis) -> usize {
        let mut purged = 0;
        self.by_aor.retain(|_, bindings| {
            let before = bindings.len();
            bindings.retain(|b| b.expires_at > now);
            purged += before - bindings.len();
            !bindings.is_empty()
        });
        purged
    }

    /// Addresses-of-record with at least one binding (expired or not).
    pub fn len(&self) -> usize {
        self.by_aor.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_aor.is_empty()
    }
}

/// Highest q first; among equals the most recently refreshed first.
fn sort_by_preference(bindings: &mut [Binding]) {
    bindings.sort_by(|a, b| b.q.cmp(&a.q).then(b.updated_at.cmp(&a.updated_at)));
}
