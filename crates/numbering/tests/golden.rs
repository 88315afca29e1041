//! Properties of the premium ("golden") classification over generated
//! digits: what it reports is really in the digits, and every planted
//! pattern is found.

use numbering::{classify_golden, Golden};
use proptest::prelude::*;

/// Whether `digits` has `length` digits in a row, each `step` from the last.
fn has_run(digits: &[u8], length: usize, step: i16) -> bool {
    digits.windows(length).any(|w| {
        w.windows(2)
            .all(|p| i16::from(p[1]) - i16::from(p[0]) == step)
    })
}

proptest! {
    #[test]
    fn a_reported_class_is_in_the_digits(digits in "[0-9]{0,20}") {
        let digits = digits.as_bytes();
        match classify_golden(digits) {
            Some(Golden::Repeating { length }) => {
                prop_assert!(length >= 4 && has_run(digits, length, 0));
                prop_assert!(!has_run(digits, length + 1, 0));
            }
            Some(Golden::Sequential { length }) => {
                prop_assert!(length >= 4);
                prop_assert!(has_run(digits, length, 1) || has_run(digits, length, -1));
                prop_assert!(!has_run(digits, 4, 0));
            }
            Some(Golden::Repeated { length }) => {
                let tail = &digits[digits.len() - length..];
                prop_assert_eq!(&tail[..length / 2], &tail[length / 2..]);
                prop_assert!(!has_run(digits, 4, 0));
                prop_assert!(!has_run(digits, 4, 1) && !has_run(digits, 4, -1));
            }
            None => {
                prop_assert!(!has_run(digits, 4, 0));
                prop_assert!(!has_run(digits, 4, 1) && !has_run(digits, 4, -1));
                for length in [4, 6, 8] {
                    if digits.len() >= length {
                        let tail = &digits[digits.len() - length..];
                        prop_assert_ne!(&tail[..length / 2], &tail[length / 2..]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_planted_pattern_makes_the_number_premium(
        prefix in "[0-9]{0,8}",
        digit in 0u8..10,
        half in "[0-9]{4}",
        start in 0u8..7,
        which in 0usize..3,
    ) {
        let planted = match which {
            0 => [b'0' + digit; 4].to_vec(),
            1 => (start..start + 4).map(|d| b'0' + d).collect(),
            _ => format!("{half}{half}").into_bytes(),
        };
        let digits = [prefix.as_bytes(), &planted].concat();
        prop_assert!(classify_golden(&digits).is_some(), "{}", String::from_utf8_lossy(&digits));
    }
}
