//! Numbers as DNS names below the directory's apex, ENUM style (RFC 6116):
//! one digit per label, least significant first, so that the tree under a
//! name is the numbers that share its leading digits and each part can be
//! delegated.
//!
//! | number | name below the apex |
//! |---|---|
//! | E.164 `+82 2 6200 6200` | `0.0.2.6.0.0.2.6.2.2.8.e164` (as under `e164.arpa`) |
//! | PIN `02-6200-6200-082` | `0.0.2.6.0.0.2.6.2.0.082.pin` |
//! | VNS `6200-6200#082` | `082.#.0.0.2.6.0.0.2.6.vns` |
//! | VNS `6200-6200` (bare) | `0.0.2.6.0.0.2.6.vns` |
//!
//! A PIN's country code is one label at the top of its tree, so the
//! operator can delegate `082.pin` to the Korean communication center. A
//! company's identification number is the tree under `vns`, and its
//! branches hang below the company as `#` then the country code: the
//! company's node holds every branch.

use crate::number::{Digits, Number, NumberError, Pin, Vns, E164};
use crate::plan::CountryCode;

/// The labels of `number` below the apex, leftmost first.
pub fn labels(number: &Number) -> Vec<String> {
    let mut labels = Vec::new();
    let reversed = |digits: &str, labels: &mut Vec<String>| {
        labels.extend(digits.bytes().rev().map(|d| char::from(d).to_string()));
    };
    match number {
        Number::E164(e164) => {
            reversed(e164.digits(), &mut labels);
            labels.push("e164".into());
        }
        Number::Pin(pin) => {
            reversed(pin.national(), &mut labels);
            labels.push(padded(pin.code()));
            labels.push("pin".into());
        }
        Number::Vns(vns) => {
            if let Some(branch) = vns.branch() {
                labels.push(padded(branch));
                labels.push("#".into());
            }
            reversed(vns.ident(), &mut labels);
            labels.push("vns".into());
        }
    }
    labels
}

fn padded(code: CountryCode) -> String {
    code.padded().iter().map(|&d| char::from(d)).collect()
}

/// The number named by `labels` (below the apex, leftmost first; case
/// does not matter).
pub fn number(labels: &[&str]) -> Result<Number, NumberError> {
    let not_a_name = NumberError::NotANumber {
        reason: "not a number's name: single digits, then e164, pin or vns",
    };
    let Some((tree, below)) = labels.split_last() else {
        return Err(not_a_name);
    };
    let tree = tree.to_ascii_lowercase();
    match tree.as_str() {
        "e164" => E164::from_digits(&single_digits(below)?).map(Number::E164),
        "pin" => {
            let Some((code, national)) = below.split_last() else {
                return Err(not_a_name);
            };
            let code = three_digit_code(code)?;
            let mut digits = single_digits(national)?;
            digits.extend_from_slice(&code.padded());
            Pin::from_digits(&digits).map(Number::Pin)
        }
        "vns" => {
            let (branch, ident) = match below {
                [code, "#", ident @ ..] => (Some(three_digit_code(code)?), ident),
                ident => (None, ident),
            };
            Vns::new(&single_digits(ident)?, branch).map(Number::Vns)
        }
        _ => Err(not_a_name),
    }
}

/// Labels of one digit each, least significant first, as the digits they
/// stand for.
fn single_digits(labels: &[&str]) -> Result<Vec<u8>, NumberError> {
    if labels.len() > 20 {
        return Err(NumberError::TooManyDigits {
            what: "the name",
            digits: labels.len(),
            max: 20,
        });
    }
    let digits: Vec<u8> = labels
        .iter()
        .rev()
        .map(|label| match label.as_bytes() {
            [d] if d.is_ascii_digit() => Ok(*d),
            _ => Err(NumberError::NotANumber {
                reason: "each label of a number's digits is one digit",
            }),
        })
        .collect::<Result<_, _>>()?;
    Digits::new(&digits).ok_or(NumberError::NotANumber {
        reason: "each label of a number's digits is one digit",
    })?;
    Ok(digits)
}

fn three_digit_code(label: &str) -> Result<CountryCode, NumberError> {
    CountryCode::from_padded(label.as_bytes()).ok_or_else(|| NumberError::UnknownCountryCode {
        digits: label.chars().take(8).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(written: &str) -> String {
        labels(&written.parse().unwrap()).join(".")
    }

    #[test]
    fn names_of_each_kind() {
        assert_eq!(name("+82 2 6200 6200"), "0.0.2.6.0.0.2.6.2.2.8.e164");
        assert_eq!(name("02-6200-6200-082"), "0.0.2.6.0.0.2.6.2.0.082.pin");
        assert_eq!(name("6200-6200#082"), "082.#.0.0.2.6.0.0.2.6.vns");
        assert_eq!(name("6200-6200"), "0.0.2.6.0.0.2.6.vns");
    }

    #[test]
    fn names_read_back() {
        for written in [
            "+82 2 6200 6200",
            "02-6200-6200-082",
            "6200-6200#082",
            "6200-6200",
        ] {
            let n: Number = written.parse().unwrap();
            let labels = labels(&n);
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            assert_eq!(number(&refs).unwrap(), n, "{written}");
        }
        assert!(number(&["2", "8", "E164"]).is_err(), "too short for +82");
    }

    #[test]
    fn junk_names_are_refused() {
        for junk in [
            &[][..],
            &["www"],
            &["12", "e164"],
            &["a", "e164"],
            &["0", "0", "2", "6", "999", "pin"],
            &["082", "#", "vns"],
            &["#", "0", "0", "2", "6", "vns"],
            &["é", "pin"],
        ] {
            assert!(number(junk).is_err(), "{junk:?}");
        }
        let deep = vec!["1"; 40];
        let mut deep = deep.clone();
        deep.push("e164");
        assert!(number(&deep).is_err());
    }
}
