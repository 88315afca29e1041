//! What an operator does to members' numbers, whether from the command line
//! (`callex number grant`) or the API (`POST /api/v1/members/{id}/numbers`):
//! one implementation for both, so they cannot drift apart.
//!
//! A member's SIP username is their number in canonical digits; the SIP
//! password is never stored, only its HA1 per digest algorithm in the
//! exchange's realm.

use rand::distributions::{Alphanumeric, DistString};
use sip::digest::{ha1, Algorithm};
use store::prelude::*;
use store::HeldNumber;

/// Every algorithm the registrar may challenge with; a password is stored
/// as one HA1 for each.
pub const DIGEST_ALGORITHMS: [Algorithm; 2] = [Algorithm::Md5, Algorithm::Sha256];

/// Length of a generated SIP password: 24 alphanumeric characters carry
/// about 143 random bits, and type safely into a phone's keypad menu.
const GENERATED_PASSWORD_LENGTH: usize = 24;

/// The shortest SIP password an operator may set by hand.
const MIN_PASSWORD_LENGTH: usize = 8;
const MAX_PASSWORD_LENGTH: usize = 128;

/// A number as typed by a person, in canonical digits, and the kind the
/// text implies (a `+` prefix means E.164).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberText {
    pub digits: String,
    pub e164: bool,
}

/// Reads `02-6200-6200-082`, `(02) 6200 6200 082`, `+82.2.6200.6200` and
/// the like: digits with `-`, `.`, spaces and parentheses between them, and
/// an optional leading `+`. Anything else is refused, naming what is wrong.
pub fn parse_number(text: &str) -> Result<NumberText, StoreError> {
    let trimmed = text.trim();
    let (e164, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '.' | ' ' | '(' | ')' => {}
            other => {
                return Err(StoreError::Invalid {
                    field: "number",
                    reason: format!(
                        "{text:?} has {other:?}: a number is digits, with - . ( ) or spaces \
                         between them and an optional leading + for E.164"
                    ),
                })
            }
        }
    }
    if digits.is_empty() {
        return Err(StoreError::Invalid {
            field: "number",
            reason: format!("{text:?} has no digits"),
        });
    }
    Ok(NumberText { digits, e164 })
}

/// The kind a number is granted as: the one asked for, else E.164 for a
/// `+` number and a PIN otherwise. A `+` on a PIN or VNS is a mistake.
pub fn number_kind(
    number: &NumberText,
    asked: Option<NumberKind>,
) -> Result<NumberKind, StoreError> {
    match (asked, number.e164) {
        (None, true) => Ok(NumberKind::E164),
        (None, false) => Ok(NumberKind::Pin),
        (Some(kind), true) if kind != NumberKind::E164 => Err(StoreError::Invalid {
            field: "number",
            reason: format!(
                "+{} has a + prefix, which marks an E.164 number, not a {kind}",
                number.digits
            ),
        }),
        (Some(kind), _) => Ok(kind),
    }
}

/// A SIP password to use: the one given (checked), or a new random one.
/// `generated` says whether it must be shown to the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct SipPassword {
    pub secret: String,
    pub generated: bool,
}

impl std::fmt::Debug for SipPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipPassword")
            .field("secret", &"<redacted>")
            .field("generated", &self.generated)
            .finish()
    }
}

impl SipPassword {
    pub fn given_or_generated(given: Option<&str>) -> Result<SipPassword, StoreError> {
        match given {
            Some(secret) => {
                check_password(secret)?;
                Ok(SipPassword {
                    secret: secret.to_owned(),
                    generated: false,
                })
            }
            None => Ok(SipPassword {
                // ThreadRng is a CSPRNG seeded from the OS.
                secret: Alphanumeric
                    .sample_string(&mut rand::thread_rng(), GENERATED_PASSWORD_LENGTH),
                generated: true,
            }),
        }
    }
}

fn check_password(secret: &str) -> Result<(), StoreError> {
    let length = secret.chars().count();
    let reason = if !(MIN_PASSWORD_LENGTH..=MAX_PASSWORD_LENGTH).contains(&length) {
        format!(
            "{length} characters; a SIP password is {MIN_PASSWORD_LENGTH} to \
             {MAX_PASSWORD_LENGTH} (leave it out to have a strong one generated)"
        )
    } else if secret.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "it contains spaces or control characters, which phones cannot send".to_owned()
    } else {
        return Ok(());
    };
    Err(StoreError::Invalid {
        field: "SIP password",
        reason,
    })
}

/// A number just granted, with the credentials to give the member.
#[derive(Debug, Clone)]
pub struct GrantedNumber {
    pub held: HeldNumber,
    /// The SIP username: the number in digits.
    pub sip_username: String,
    pub password: SipPassword,
}

/// Grants `number` to `member` and sets its SIP password (the one given,
/// or a generated one). A number anyone holds already, the same member
/// included, is a `Conflict`: granting never silently replaces a working
/// password; [`reset_sip_password`] is for that. An unknown member is
/// `NotFound`.
pub async fn grant_number<S>(
    store: &S,
    realm: &str,
    number: &str,
    kind: Option<NumberKind>,
    member: MemberId,
    sip_password: Option<&str>,
) -> Result<GrantedNumber, StoreError>
where
    S: Numbers + SipCredentials + Sync,
{
    let text = parse_number(number)?;
    let kind = number_kind(&text, kind)?;
    let password = SipPassword::given_or_generated(sip_password)?;
    // The store takes a grant to the same holder as a no-op; here that
    // would hand out a password that never took effect. Other holders are
    // the store's to refuse, in its words.
    if let Some(held) = store.holder(&text.digits).await? {
        if held.member_id == member {
            return Err(StoreError::Conflict {
                what: format!(
                    "number {} is already held by member {member} (as {}); reset its SIP                      password instead",
                    held.number, held.kind
                ),
            });
        }
    }
    let held = store.grant(&text.digits, kind, member).await?;
    set_password(store, realm, &held.number, &password.secret).await?;
    Ok(GrantedNumber {
        sip_username: held.number.clone(),
        held,
        password,
    })
}

/// Replaces the SIP password of a held number; the old one stops working
/// at once (its HA1s are overwritten in one transaction).
pub async fn reset_sip_password<S>(
    store: &S,
    realm: &str,
    number: &str,
    sip_password: Option<&str>,
) -> Result<GrantedNumber, StoreError>
where
    S: Numbers + SipCredentials + Sync,
{
    let text = parse_number(number)?;
    let password = SipPassword::given_or_generated(sip_password)?;
    let Some(held) = store.holder(&text.digits).await? else {
        return Err(StoreError::NotFound {
            what: format!("nobody holds number {}", text.digits),
        });
    };
    set_password(store, realm, &held.number, &password.secret).await?;
    Ok(GrantedNumber {
        sip_username: held.number.clone(),
        held,
        password,
    })
}

async fn set_password<S>(
    store: &S,
    realm: &str,
    username: &str,
    secret: &str,
) -> Result<(), StoreError>
where
    S: SipCredentials + Sync,
{
    let ha1s =
        DIGEST_ALGORITHMS.map(|algorithm| (algorithm, ha1(algorithm, username, realm, secret)));
    let pairs: Vec<(Algorithm, &str)> = ha1s.iter().map(|(a, h)| (*a, h.as_str())).collect();
    store.set_password_ha1s(username, realm, &pairs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_stripped_and_a_plus_marks_e164() {
        assert_eq!(
            parse_number("02-6200-6200-082").unwrap(),
            NumberText {
                digits: "0262006200082".into(),
                e164: false
            }
        );
        assert_eq!(
            parse_number(" (02) 6200.6200 082 ").unwrap().digits,
            "0262006200082"
        );
        let e164 = parse_number("+44 20 7946 0000").unwrap();
        assert!(e164.e164);
        assert_eq!(e164.digits, "442079460000");
    }

    #[test]
    fn letters_a_second_plus_and_empty_text_are_refused_with_what_is_wrong() {
        for bad in ["02-6200-ABC", "++4420", "4420+1", "", " - ", "12#3", "1/2"] {
            let err = parse_number(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid number:"), "{bad:?}: {err}");
        }
        assert!(parse_number("02x6200")
            .unwrap_err()
            .to_string()
            .contains("'x'"));
    }

    #[test]
    fn the_kind_defaults_from_the_text_and_a_plus_on_a_pin_is_refused() {
        let plain = parse_number("4420").unwrap();
        let plus = parse_number("+4420").unwrap();
        assert_eq!(number_kind(&plain, None).unwrap(), NumberKind::Pin);
        assert_eq!(number_kind(&plus, None).unwrap(), NumberKind::E164);
        assert_eq!(
            number_kind(&plain, Some(NumberKind::Vns)).unwrap(),
            NumberKind::Vns
        );
        assert!(number_kind(&plus, Some(NumberKind::Pin)).is_err());
    }

    #[test]
    fn generated_passwords_are_long_random_and_differ() {
        let a = SipPassword::given_or_generated(None).unwrap();
        let b = SipPassword::given_or_generated(None).unwrap();
        assert!(a.generated);
        assert_eq!(a.secret.len(), GENERATED_PASSWORD_LENGTH);
        assert!(a.secret.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.secret, b.secret);
        assert!(!format!("{a:?}").contains(&a.secret), "Debug hides it");
    }

    #[test]
    fn a_given_password_must_be_long_enough_and_printable() {
        assert!(
            !SipPassword::given_or_generated(Some("s3cret-enough"))
                .unwrap()
                .generated
        );
        assert!(SipPassword::given_or_generated(Some("short")).is_err());
        assert!(SipPassword::given_or_generated(Some("has a space")).is_err());
        assert!(SipPassword::given_or_generated(Some("line\nbreak!")).is_err());
    }
}
