//! Premium ("golden") numbers: digits people remember and pay more for.
//!
//! The classification looks only at digits and is deliberately small, so an
//! operator can predict it and a buyer can see why a number is premium:
//!
//! | class | rule | example |
//! |---|---|---|
//! | [`Golden::Repeating`] | 4 or more equal digits in a row | `02-7777-1234-082` |
//! | [`Golden::Sequential`] | 4 or more digits counting up or down by one | `+82 2 1234 9000`, `4321` |
//! | [`Golden::Repeated`] | the last 8 digits are two equal halves (`6200-6200`), or the last 6 are (`123-123`), or the last 4 are a pair twice (`1212`) | `02-6200-6200-082` |
//!
//! When several rules match, the first in that order wins. The score
//! ([`Golden::score`]) orders premium numbers for display: a longer run is
//! rarer, so it scores higher.
//!
//! Which digits to look at is the caller's choice: for the inventory, the
//! subscriber part of a number ([`golden_digits`]), not the country code a
//! PIN ends with nor the `+` and country code an E.164 number starts with,
//! which every number of a country shares.
//!
//! ```
//! use numbering::{classify_golden, Golden};
//!
//! assert_eq!(classify_golden(b"62006200"), Some(Golden::Repeated { length: 8 }));
//! assert_eq!(classify_golden(b"27777123"), Some(Golden::Repeating { length: 4 }));
//! assert_eq!(classify_golden(b"21234900"), Some(Golden::Sequential { length: 4 }));
//! assert_eq!(classify_golden(b"26185309"), None);
//! ```

use std::fmt;

use crate::number::Number;

/// The shortest run that makes a number premium.
pub const MIN_RUN: usize = 4;

/// Why a number is premium. `length` is how many digits the pattern covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Golden {
    /// `length` (≥ 4) equal digits in a row: `7777`.
    Repeating { length: usize },
    /// `length` (≥ 4) digits counting up or down by one: `1234`, `4321`
    /// (`0` does not follow `9`).
    Sequential { length: usize },
    /// The number ends in two equal halves of `length / 2` digits:
    /// `6200-6200` (8), `123-123` (6), `12-12` (4).
    Repeated { length: usize },
}

impl Golden {
    /// The class's name as the store and the API spell it.
    pub fn class(self) -> &'static str {
        match self {
            Golden::Repeating { .. } => "repeating",
            Golden::Sequential { .. } => "sequential",
            Golden::Repeated { .. } => "repeated",
        }
    }

    /// Every class name, in precedence order.
    pub const CLASSES: [&'static str; 3] = ["repeating", "sequential", "repeated"];

    /// How remarkable the number is, for ordering premium numbers: the
    /// digits the pattern covers, plus 2 for a repeating run (7777 is
    /// rarer than 1234, and 1234 than 1212). 6 to 22 for a 20-digit PIN.
    pub fn score(self) -> u32 {
        let (length, bonus) = match self {
            Golden::Repeating { length } => (length, 2),
            Golden::Sequential { length } => (length, 1),
            Golden::Repeated { length } => (length, 0),
        };
        u32::try_from(length)
            .unwrap_or(u32::MAX)
            .saturating_add(bonus)
    }
}

impl fmt::Display for Golden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class())
    }
}

/// The premium class of `digits` (ASCII digits; anything else breaks a
/// run), or `None` for an ordinary number. See the module's table.
pub fn classify_golden(digits: &[u8]) -> Option<Golden> {
    let longest = |step: i16| {
        let mut best = 0;
        let mut run = 0;
        for (i, &d) in digits.iter().enumerate() {
            let continues = i > 0
                && d.is_ascii_digit()
                && digits[i - 1].is_ascii_digit()
                && i16::from(d) - i16::from(digits[i - 1]) == step;
            run = if continues {
                run + 1
            } else {
                usize::from(d.is_ascii_digit())
            };
            best = best.max(run);
        }
        best
    };
    let repeating = longest(0);
    if repeating >= MIN_RUN {
        return Some(Golden::Repeating { length: repeating });
    }
    let sequential = longest(1).max(longest(-1));
    if sequential >= MIN_RUN {
        return Some(Golden::Sequential { length: sequential });
    }
    [8, 6, 4]
        .into_iter()
        .find(|&length| {
            digits.len() >= length && {
                let tail = &digits[digits.len() - length..];
                let (a, b) = tail.split_at(length / 2);
                a == b && tail.iter().all(u8::is_ascii_digit)
            }
        })
        .map(|length| Golden::Repeated { length })
}

/// The digits of `number` a buyer reads as "the number": a PIN's area and
/// local parts (without the country code it ends with), a VNS's
/// identification number, an E.164 number's national significant number.
pub fn golden_digits(number: &Number) -> &str {
    match number {
        Number::Pin(pin) => pin.national(),
        Number::Vns(vns) => vns.ident(),
        Number::E164(e164) => e164.national(),
    }
}

/// [`classify_golden`] of [`golden_digits`].
pub fn golden(number: &Number) -> Option<Golden> {
    classify_golden(golden_digits(number).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(digits: &str) -> Option<&'static str> {
        classify_golden(digits.as_bytes()).map(Golden::class)
    }

    #[test]
    fn four_equal_digits_in_a_row_are_repeating() {
        assert_eq!(
            classify_golden(b"27777123"),
            Some(Golden::Repeating { length: 4 })
        );
        assert_eq!(
            classify_golden(b"200000009"),
            Some(Golden::Repeating { length: 7 })
        );
        assert_eq!(class("2777123"), None, "three is not enough");
    }

    #[test]
    fn counting_up_or_down_is_sequential() {
        assert_eq!(class("21234900"), Some("sequential"));
        assert_eq!(class("29876100"), Some("sequential"));
        assert_eq!(
            classify_golden(b"0123456789"),
            Some(Golden::Sequential { length: 10 })
        );
        assert_eq!(class("28901731"), None, "9 to 0 is not a step");
        assert_eq!(class("21235900"), None);
    }

    #[test]
    fn equal_halves_at_the_end_are_repeated() {
        assert_eq!(
            classify_golden(b"262006200"),
            Some(Golden::Repeated { length: 8 })
        );
        assert_eq!(
            classify_golden(b"2415415"),
            Some(Golden::Repeated { length: 6 })
        );
        assert_eq!(
            classify_golden(b"2613131"),
            Some(Golden::Repeated { length: 4 })
        );
        assert_eq!(class("62006201"), None);
        assert_eq!(class("12121999"), None, "the pattern must end the number");
    }

    #[test]
    fn repeating_wins_over_the_other_classes() {
        // 1111-1111 is also two equal halves.
        assert_eq!(class("11111111"), Some("repeating"));
        // 2345-2345 is sequential and repeated.
        assert_eq!(class("23452345"), Some("sequential"));
    }

    #[test]
    fn non_digits_break_runs() {
        assert_eq!(class("77#77"), None);
        assert_eq!(class(""), None);
    }

    #[test]
    fn scores_order_rarer_patterns_first() {
        assert!(Golden::Repeating { length: 4 }.score() > Golden::Sequential { length: 4 }.score());
        assert!(Golden::Sequential { length: 4 }.score() > Golden::Repeated { length: 4 }.score());
        assert!(Golden::Repeated { length: 8 }.score() > Golden::Repeating { length: 4 }.score());
    }

    #[test]
    fn the_seeds_pin_is_golden_by_its_local_part_not_its_country_code() {
        let pin: Number = "02-6200-6200-082".parse().unwrap();
        assert_eq!(golden_digits(&pin), "0262006200");
        assert_eq!(golden(&pin), Some(Golden::Repeated { length: 8 }));
        let vns: Number = "6200-6200#082".parse().unwrap();
        assert_eq!(golden(&vns), Some(Golden::Repeated { length: 8 }));
        let plain: Number = "+82 2 6185 3091".parse().unwrap();
        assert_eq!(golden(&plain), None);
        // +1 111…: the country code is not part of the run.
        let nanp: Number = "+1 212 111 5093".parse().unwrap();
        assert_eq!(golden(&nanp), None);
    }
}
