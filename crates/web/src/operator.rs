//! What an operator does to members' numbers, whether from the command line
//! (`callex number grant`) or the API (`POST /api/v1/members/{id}/numbers`):
//! one implementation for both, so they cannot drift apart.
//!
//! Numbers are read by the numbering crate: any written form in, the
//! store key out. A member's SIP username is that key; the SIP
//! password is never stored, only its HA1 per digest algorithm in the
//! exchange's realm.

use numbering::{Number, NumberError};
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

/// Reads a number as a person writes it (`02-6200-6200-082`,
/// `(02) 6200.6200 082`, `6200-6200%23082`, `+44 20 7946 0000`), as the
/// numbering crate reads it everywhere. With an `asked` kind it is the
/// first reading of that kind; without, the first reading
/// ([`numbering::candidates`]: E.164 with a `+`, a company number with a
/// `#`, else a PIN when the digits end in a country code, else a company
/// number).
pub fn read_number(written: &str, asked: Option<NumberKind>) -> Result<Number, StoreError> {
    let readings = readings_of(written)?;
    let Some(asked) = asked else {
        // `candidates` returns at least one reading or an error.
        return Ok(readings[0]);
    };
    if let Some(number) = readings
        .iter()
        .find(|number| NumberKind::from(number.kind()) == asked)
    {
        return Ok(*number);
    }
    // None of the readings is of the asked kind: the kind's own reading
    // says why.
    let why = match read_as(written, asked) {
        Ok(number) => return Ok(number),
        Err(NumberError::MisplacedPlus) => "a leading + marks an E.164 number".to_owned(),
        Err(error) => error.to_string(),
    };
    Err(StoreError::Invalid {
        field: "number",
        reason: format!(
            "{} is not {}: {why} (it reads as {} {})",
            quoted(written),
            described(asked),
            described(readings[0].kind().into()),
            readings[0]
        ),
    })
}

/// Every reading of `written`, most likely first; at least one.
fn readings_of(written: &str) -> Result<Vec<Number>, StoreError> {
    numbering::candidates(written).map_err(|error| StoreError::Invalid {
        field: "number",
        reason: format!("{}: {error}", quoted(written)),
    })
}

/// `written` quoted for a message, cut short: it may be anything sent.
pub(crate) fn quoted(written: &str) -> String {
    const SHOWN: usize = 40;
    let mut shown: String = written.chars().take(SHOWN).collect();
    if written.chars().count() > SHOWN {
        shown.push('…');
    }
    format!("{shown:?}")
}

fn read_as(written: &str, kind: NumberKind) -> Result<Number, NumberError> {
    Ok(match kind {
        NumberKind::Pin => Number::Pin(written.parse()?),
        NumberKind::Vns => Number::Vns(written.parse()?),
        NumberKind::E164 => Number::E164(written.parse()?),
    })
}

fn described(kind: NumberKind) -> &'static str {
    match kind {
        NumberKind::Pin => "a PIN",
        NumberKind::Vns => "a company number",
        NumberKind::E164 => "an E.164 number",
    }
}

/// The held number a person means by `written`: the first of its readings
/// that someone holds (a `0262006200082` may be a PIN or a bare company
/// number; whichever is held is meant).
pub async fn held_number<S>(store: &S, written: &str) -> Result<HeldNumber, StoreError>
where
    S: Numbers + Sync,
{
    let readings = readings_of(written)?;
    for number in &readings {
        if let Some(held) = store.holder(&number.key()).await? {
            return Ok(held);
        }
    }
    let read: Vec<String> = readings
        .iter()
        .map(|number| format!("{} {number}", described(number.kind().into())))
        .collect();
    Err(StoreError::NotFound {
        what: format!(
            "nobody holds number {written} (read as {})",
            read.join(" or ")
        ),
    })
}

/// The ISO 3166-1 alpha-2 code `written` names (any case, spaces around
/// ignored), if the exchange has a numbering plan for that country;
/// otherwise the reason, in words a person can act on.
pub fn known_country(written: &str) -> Result<String, String> {
    let code = written.trim().to_ascii_uppercase();
    if code.len() == 2 && numbering::dialing_rules(&code).is_some() {
        return Ok(code);
    }
    let shown: String = written.chars().take(40).collect();
    Err(format!(
        "{shown:?} is not a country the exchange knows: give its ISO 3166-1 two-letter code \
         (KR, US, DE)"
    ))
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
    /// The SIP username: the number's store key ([`Number::key`]).
    pub sip_username: String,
    pub password: SipPassword,
}

/// Grants `number` ([`read_number`]) to `member` and sets its SIP
/// password (the one given, or a generated one). A number anyone holds
/// already, the same member included, is a `Conflict`: granting never
/// silently replaces a working password; [`reset_sip_password`] is for
/// that. An unknown member is `NotFound`.
pub async fn grant_number<S>(
    store: &S,
    realm: &str,
    number: &Number,
    member: MemberId,
    sip_password: Option<&str>,
) -> Result<GrantedNumber, StoreError>
where
    S: Numbers + SipCredentials + Sync,
{
    let key = number.key();
    let password = SipPassword::given_or_generated(sip_password)?;
    // The store takes a grant to the same holder as a no-op; here that
    // would hand out a password that never took effect. Other holders are
    // the store's to refuse, in its words.
    if let Some(held) = store.holder(&key).await? {
        if held.member_id == member {
            return Err(StoreError::Conflict {
                what: format!(
                    "number {} is already held by member {member} (as {}); reset its SIP \
                     password instead",
                    held.number, held.kind
                ),
            });
        }
    }
    let held = store.grant(&key, number.kind().into(), member).await?;
    set_password(store, realm, &key, &password.secret).await?;
    Ok(GrantedNumber {
        sip_username: key,
        held,
        password,
    })
}

/// Replaces the SIP password of the held number `written` means
/// ([`held_number`]); the old one stops working at once (its HA1s are
/// overwritten in one transaction).
pub async fn reset_sip_password<S>(
    store: &S,
    realm: &str,
    written: &str,
    sip_password: Option<&str>,
) -> Result<GrantedNumber, StoreError>
where
    S: Numbers + SipCredentials + Sync,
{
    let password = SipPassword::given_or_generated(sip_password)?;
    let held = held_number(store, written).await?;
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

    fn key(written: &str, asked: Option<NumberKind>) -> String {
        read_number(written, asked)
            .unwrap_or_else(|err| panic!("{written:?}: {err}"))
            .key()
    }

    #[test]
    fn any_written_form_reads_to_the_store_key() {
        for (written, expected) in [
            ("02-6200-6200-082", "0262006200082"),
            (" (02) 6200.6200 082 ", "0262006200082"),
            ("6200-6200#082", "62006200#082"),
            ("6200-6200%23082", "62006200#082"),
            ("6200 6200", "62006200"),
            ("+44 20 7946 0000", "+442079460000"),
        ] {
            assert_eq!(key(written, None), expected, "{written:?}");
        }
    }

    #[test]
    fn an_asked_kind_takes_the_first_reading_of_that_kind() {
        assert_eq!(key("0262006200082", Some(NumberKind::Vns)), "0262006200082");
        assert_eq!(
            read_number("0262006200082", Some(NumberKind::Vns))
                .unwrap()
                .kind(),
            numbering::NumberKind::Vns
        );
        assert_eq!(
            key("00 44 20 7946 0000", Some(NumberKind::E164)),
            "+442079460000"
        );
    }

    #[test]
    fn a_number_not_of_the_asked_kind_is_refused_saying_why() {
        for (written, asked, why) in [
            (
                "+44 20 7946 0000",
                NumberKind::Pin,
                "a leading + marks an E.164 number",
            ),
            ("4420", NumberKind::E164, "starts with +"),
            ("4420", NumberKind::Pin, "fewer than 7"),
            ("6200-6200#082", NumberKind::Pin, "one #"),
        ] {
            let err = read_number(written, Some(asked)).unwrap_err().to_string();
            assert!(err.starts_with("invalid number:"), "{written:?}: {err}");
            assert!(err.contains(why), "{written:?} as {asked}: {err}");
        }
    }

    #[test]
    fn what_is_not_a_number_is_refused_with_what_is_wrong() {
        for bad in [
            "02-6200-ABC",
            "++4420",
            "4420+1",
            "",
            " - ",
            "12#3",
            "1/2",
            "+82 1",
            "123",
        ] {
            let err = read_number(bad, None).unwrap_err().to_string();
            assert!(err.starts_with("invalid number:"), "{bad:?}: {err}");
        }
        assert!(read_number("02x6200", None)
            .unwrap_err()
            .to_string()
            .contains("'x'"));
        let long = "1".repeat(10_000);
        assert!(read_number(&long, None).unwrap_err().to_string().len() < 200);
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
