//! Failed log-ins, counted per e-mail address, so that a password cannot
//! be guessed at the portal's speed: after [`MAX_FAILURES`] failures in
//! [`WINDOW`], that address is refused until the window has passed.
//!
//! The count is this node's, in memory, and bounded: when
//! [`MAX_TRACKED`] addresses are tracked, the stalest are forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// How long `email` must wait before trying again, if it must.
    pub fn wait(&self, email: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let &(count, since) = failures.get(&email.to_lowercase())?;
        let left = WINDOW.checked_sub(now.saturating_duration_since(since))?;
        (count >= MAX_FAILURES && !left.is_zero()).then_some(left)
    }

    /// One more failed log-in for `email`.
    pub fn failed(&self, email: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| now.saturating_duration_since(*since) < WINDOW);
            if failures.len() >= MAX_TRACKED {
                // All recent: forget the oldest half rather than grow.
                let mut ages: Vec<Instant> = failures.values().map(|(_, since)| *since).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                failures.retain(|_, (_, since)| *since > cut);
            }
        }
        let entry = failures.entry(email.to_lowercase()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// A good log-in clears the count.
    pub fn succeeded(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&email.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_five_failures_until_the_window_passes() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.failed("Alice@example.net", start);
        }
        assert_eq!(throttle.wait("alice@example.net", start), None);
        throttle.failed("alice@example.net", start);
        assert_eq!(throttle.wait("ALICE@example.net", start), Some(WINDOW));
        assert_eq!(throttle.wait("bob@example.net", start), None);
        assert_eq!(throttle.wait("alice@example.net", start + WINDOW), None);
        // A new failure after the window starts a new count.
        throttle.failed("alice@example.net", start + WINDOW);
        assert_eq!(throttle.wait("alice@example.net", start + WINDOW), None);
        throttle.succeeded("alice@example.net");
        assert!(throttle.failures.lock().unwrap().is_empty());
    }

    #[test]
    fn it_remembers_a_bounded_number_of_addresses() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for i in 0..MAX_TRACKED + 10 {
            throttle.failed(
                &format!("{i}@example.net"),
                start + Duration::from_millis(i as u64),
            );
        }
        assert!(throttle.failures.lock().unwrap().len() <= MAX_TRACKED);
    }
}
