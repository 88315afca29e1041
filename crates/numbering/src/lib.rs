//! Callex numbering: the numbers of SPEC.md section 1 and what a dial
//! string means.
//!
//! - [`Pin`] (individuals, `02-6200-6200-082`), [`Vns`] (companies,
//!   `6200-6200#082`), [`E164`] (the PSTN): one canonical form each, read
//!   from any written form (separators ignored, `#` raw or `%23`).
//! - [`E164::from_national`]: a number as written in a country
//!   (`010-1234-5678` in Korea is `+82 10-1234-5678`).
//! - [`Pin::to_e164`] / [`Pin::from_e164`]: a PIN whose middle part is a
//!   real number maps to it both ways, by libphonenumber's metadata.
//! - [`classify`](Classifier::classify): a dial string, the caller and the
//!   operator's configuration in, a [`Decision`] (with its explanation) or
//!   a [`DialError`] (with the SIP status it maps to) out.
//! - [`PrefixTable`]: longest-prefix match over E.164 digits, for the
//!   interconnect table (on-net numbers, partners' ranges, PSTN).
//! - [`enum_dns`]: numbers as DNS names for the ENUM-style directory.
//! - [`golden`](golden()): whether a number is premium ("golden":
//!   repeating, sequential or repeated digits), and why.
//!
//! It is pure: no IO, no clock, no database. What someone holds is asked
//! through the [`Registry`] trait, which the switch answers from its copy
//! of the store.
//!
//! ```
//! use numbering::{Number, Pin};
//!
//! let pin: Pin = "02-6200-6200-082".parse().unwrap();
//! assert_eq!(pin.key(), "0262006200082");
//! assert_eq!(pin.to_e164().unwrap().to_string(), "+82262006200");
//! let vns: Number = "6200-6200%23082".parse().unwrap();
//! assert_eq!(vns.to_string(), "6200-6200#082");
//! ```

mod classify;
pub mod enum_dns;
#[doc(hidden)]
pub mod fuzzing;
mod golden;
mod number;
mod plan;
mod prefix;

pub use classify::{
    Business, BusinessSignal, Caller, Classifier, Decision, Destination, DialError, DialString,
    How, Reading, Registry, Route, Target,
};
pub use golden::{classify_golden, golden, golden_digits, Golden};
pub use number::{
    candidates, Digits, Number, NumberError, NumberKind, Pin, Vns, E164, MAX_WRITTEN,
};
pub use plan::{dialing_rules, CountryCode, DialingRules, Dialled, Lengths};
pub use prefix::PrefixTable;
