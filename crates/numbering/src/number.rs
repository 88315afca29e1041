//! The numbers Callex knows, each with one canonical form: [`Pin`] for
//! individuals, [`Vns`] for companies, [`E164`] for the world's PSTN.

use std::fmt;
use std::str::FromStr;

use crate::plan::CountryCode;

/// The longest written form read at all. Longer input is refused before
/// any other work.
pub const MAX_WRITTEN: usize = 64;

/// At most this many digits in any number (a PIN's 17 + 3).
const MAX_DIGITS: usize = 20;

/// A PIN's area and local parts together: at least a short
/// identification number, at most what a national number can be with its
/// trunk prefix.
const PIN_NATIONAL: std::ops::RangeInclusive<usize> = 4..=17;

/// A VNS identification number.
const VNS_IDENT: std::ops::RangeInclusive<usize> = 4..=15;

/// E.164 section 6: at most 15 digits with the country code.
const E164_MAX: usize = 15;

/// Why a written number was refused. Each says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    Empty,
    TooLong {
        length: usize,
    },
    NotAscii,
    BadCharacter {
        character: char,
        position: usize,
    },
    MisplacedPlus,
    MisplacedHash,
    MissingBranch,
    UnknownCountryCode {
        digits: String,
    },
    TooFewDigits {
        what: &'static str,
        digits: usize,
        min: usize,
    },
    TooManyDigits {
        what: &'static str,
        digits: usize,
        max: usize,
    },
    NotANumber {
        reason: &'static str,
    },
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::Empty => f.write_str("no number given"),
            NumberError::TooLong { length } => write!(
                f,
                "{length} characters is too long for a number (at most {MAX_WRITTEN})"
            ),
            NumberError::NotAscii => {
                f.write_str("a number is written with digits 0-9, + and # only")
            }
            NumberError::BadCharacter {
                character,
                position,
            } => write!(
                f,
                "{character:?} at position {position} is not part of a number (digits, + at the start, one #, separators - . space ( ))"
            ),
            NumberError::MisplacedPlus => f.write_str("+ may only start a number"),
            NumberError::MisplacedHash => {
                f.write_str("a company number has one # between its identification number and a country code")
            }
            NumberError::MissingBranch => {
                f.write_str("# must be followed by a 3-digit country code, such as #082")
            }
            NumberError::UnknownCountryCode { digits } => {
                write!(f, "{digits} is not a country calling code")
            }
            NumberError::TooFewDigits { what, digits, min } => {
                write!(f, "{what} has {digits} digits, fewer than {min}")
            }
            NumberError::TooManyDigits { what, digits, max } => {
                write!(f, "{what} has {digits} digits, more than {max}")
            }
            NumberError::NotANumber { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for NumberError {}

/// Up to 20 decimal digits, inline: numbers are made on every call, and
/// this keeps them off the heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits {
    len: u8,
    bytes: [u8; MAX_DIGITS],
}

impl Digits {
    /// `Some` if `digits` are 0-9 only and at most 20 of them.
    pub fn new(digits: &[u8]) -> Option<Digits> {
        if digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut bytes = [0; MAX_DIGITS];
        bytes[..digits.len()].copy_from_slice(digits);
        Some(Digits {
            len: digits.len() as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.as_bytes()).expect("digits are ASCII")
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A written number with its separators gone: whether it began with `+`,
/// its digits, and where its `#` was (as an index into the digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub plus: bool,
    pub digits: [u8; MAX_WRITTEN],
    pub len: usize,
    pub hash: Option<usize>,
}

impl Written {
    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Reads any written form: separators `-` `.` space `(` `)` ignored,
    /// `+` first, one `#` raw or as `%23`.
    pub fn read(written: &str) -> Result<Written, NumberError> {
        if written.len() > MAX_WRITTEN {
            return Err(NumberError::TooLong {
                length: written.chars().count(),
            });
        }
        if !written.is_ascii() {
            return Err(NumberError::NotAscii);
        }
        let bytes = written.as_bytes();
        let mut out = Written {
            plus: false,
            digits: [0; MAX_WRITTEN],
            len: 0,
            hash: None,
        };
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'0'..=b'9' => {
                    out.digits[out.len] = b;
                    out.len += 1;
                }
                b'-' | b'.' | b' ' | b'(' | b')' => {}
                b'+' if out.len == 0 && !out.plus && out.hash.is_none() => out.plus = true,
                b'+' => return Err(NumberError::MisplacedPlus),
                b'#' | b'%' => {
                    if b == b'%' {
                        if !bytes[i..]
                            .get(..3)
                            .is_some_and(|e| e.eq_ignore_ascii_case(b"%23"))
                        {
                            return Err(NumberError::BadCharacter {
                                character: '%',
                                position: i + 1,
                            });
                        }
                        i += 2;
                    }
                    if out.hash.is_some() || out.plus || out.len == 0 {
                        return Err(NumberError::MisplacedHash);
                    }
                    out.hash = Some(out.len);
                }
                _ => {
                    return Err(NumberError::BadCharacter {
                        character: char::from(b),
                        position: i + 1,
                    })
                }
            }
            i += 1;
        }
        if out.len == 0 {
            return Err(NumberError::Empty);
        }
        Ok(out)
    }
}

/// Digits grouped in fours from the right: `62006200` → `6200-6200`.
fn write_in_fours(f: &mut fmt::Formatter<'_>, digits: &[u8]) -> fmt::Result {
    let first = match digits.len() % 4 {
        0 => 4.min(digits.len()),
        n => n,
    };
    let (head, rest) = digits.split_at(first);
    f.write_str(ascii(head))?;
    for group in rest.chunks(4) {
        f.write_str("-")?;
        f.write_str(ascii(group))?;
    }
    Ok(())
}

fn ascii(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).expect("digits are ASCII")
}

// ---------------------------------------------------------------- E.164

/// An international public telecommunication number (ITU-T E.164): a
/// country code and a national significant number, 15 digits at most.
/// Canonical form `+82262006200`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    digits: Digits,
    code: CountryCode,
}

impl E164 {
    /// From the digits after `+` (or after an international prefix).
    pub fn from_digits(digits: &[u8]) -> Result<E164, NumberError> {
        let code = CountryCode::leading(digits).ok_or_else(|| NumberError::UnknownCountryCode {
            digits: format!("+{}", ascii(&digits[..digits.len().min(3)])),
        })?;
        if digits.len() > E164_MAX {
            return Err(NumberError::TooManyDigits {
                what: "an international number",
                digits: digits.len(),
                max: E164_MAX,
            });
        }
        let national = digits.len() - code.digit_count();
        let lengths = code.national_lengths();
        if national < lengths.min() {
            return Err(NumberError::TooFewDigits {
                what: "the national part of this number",
                digits: national,
                min: lengths.min(),
            });
        }
        if national > lengths.max() {
            return Err(NumberError::TooManyDigits {
                what: "the national part of this number",
                digits: national,
                max: lengths.max(),
            });
        }
        Ok(E164 {
            digits: Digits::new(digits).expect("checked: at most 15 ASCII digits"),
            code,
        })
    }

    /// A number as written by someone in `region` (ISO 3166, `"KR"`):
    /// `010-1234-5678` there is `+82 10-1234-5678`; `+…` and `00…` are
    /// read as international.
    pub fn from_national(written: &str, region: &str) -> Result<E164, NumberError> {
        let read = Written::read(written)?;
        if read.hash.is_some() {
            return Err(NumberError::MisplacedHash);
        }
        if read.plus {
            return E164::from_digits(read.digits());
        }
        let rules = crate::plan::dialing_rules(region).ok_or(NumberError::NotANumber {
            reason: "no numbering plan for that country",
        })?;
        Ok(rules.number(read.digits())?.0)
    }

    pub fn code(&self) -> CountryCode {
        self.code
    }

    /// All digits, country code first, without `+`.
    pub fn digits(&self) -> &str {
        self.digits.as_str()
    }

    /// The national significant number.
    pub fn national(&self) -> &str {
        &self.digits()[self.code.digit_count()..]
    }

    /// The form people read: `+82 2-6200-6200`, grouped as the country
    /// writes it (libphonenumber's metadata), or plain when it does not
    /// know the number.
    pub fn international(&self) -> String {
        match self.metadata_number() {
            Some(number) => number
                .format()
                .mode(phonenumber::Mode::International)
                .to_string(),
            None => format!("{} {}", self.code, self.national()),
        }
    }

    /// The number as the metadata knows it, if it is a valid one.
    pub(crate) fn metadata_number(&self) -> Option<phonenumber::PhoneNumber> {
        let number = phonenumber::parse(None, format!("+{}", self.digits())).ok()?;
        let same = number.code().value() == self.code.value()
            && number.national().to_string() == self.national();
        (same && phonenumber::is_valid(&number)).then_some(number)
    }

    /// Whether the metadata holds this a valid number, not merely one of a
    /// possible length.
    pub fn is_valid(&self) -> bool {
        self.metadata_number().is_some()
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits())
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({self})")
    }
}

impl FromStr for E164 {
    type Err = NumberError;

    fn from_str(written: &str) -> Result<E164, NumberError> {
        let read = Written::read(written)?;
        if read.hash.is_some() {
            return Err(NumberError::MisplacedHash);
        }
        if !read.plus {
            return Err(NumberError::NotANumber {
                reason: "an international number starts with + and its country code",
            });
        }
        E164::from_digits(read.digits())
    }
}

// ---------------------------------------------------------------- PIN

/// A personal number (SPEC.md section 1): area code (or identifier code),
/// the existing PSTN number (or an identification number), and the
/// zero-padded country code. `02-6200-6200-082`.
///
/// Its identity is its digits: `0262006200082`, however it was written.
/// The groups it is shown in come from the country's national format
/// when the middle part is a real number there, else fours from the right.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin {
    national: Digits,
    code: CountryCode,
}

impl Pin {
    /// From all its digits, the country code's three last.
    pub fn from_digits(digits: &[u8]) -> Result<Pin, NumberError> {
        if digits.len() < PIN_NATIONAL.start() + 3 {
            return Err(NumberError::TooFewDigits {
                what: "a PIN",
                digits: digits.len(),
                min: PIN_NATIONAL.start() + 3,
            });
        }
        if digits.len() > PIN_NATIONAL.end() + 3 {
            return Err(NumberError::TooManyDigits {
                what: "a PIN",
                digits: digits.len(),
                max: PIN_NATIONAL.end() + 3,
            });
        }
        let (national, code) = digits.split_at(digits.len() - 3);
        let code =
            CountryCode::from_padded(code).ok_or_else(|| NumberError::UnknownCountryCode {
                digits: ascii(code).to_owned(),
            })?;
        let national = Digits::new(national).ok_or(NumberError::NotANumber {
            reason: "a PIN is digits only",
        })?;
        Ok(Pin { national, code })
    }

    /// The PIN of a real number: its national form (with the trunk prefix
    /// where the country writes one) and its country code.
    /// `+82 2 6200 6200` → `02-6200-6200-082`.
    pub fn from_e164(number: &E164) -> Result<Pin, NumberError> {
        if number.code().main_region().len() != 2 {
            return Err(NumberError::NotANumber {
                reason: "a non-geographic number (+800, +882, …) has no PIN",
            });
        }
        let Some(parsed) = number.metadata_number() else {
            return Err(NumberError::NotANumber {
                reason: "only a valid national number has a PIN of its own",
            });
        };
        let national_format = parsed
            .format()
            .mode(phonenumber::Mode::National)
            .to_string();
        let digits: Vec<u8> = national_format.bytes().filter(u8::is_ascii_digit).collect();
        let national = Digits::new(&digits).ok_or(NumberError::TooManyDigits {
            what: "a PIN",
            digits: digits.len() + 3,
            max: PIN_NATIONAL.end() + 3,
        })?;
        Ok(Pin {
            national,
            code: number.code(),
        })
    }

    pub fn code(&self) -> CountryCode {
        self.code
    }

    /// The area and local parts together, as dialled in the country.
    pub fn national(&self) -> &str {
        self.national.as_str()
    }

    /// The store's key and the SIP username: all digits.
    pub fn key(&self) -> String {
        let mut key = String::with_capacity(self.national.len() + 3);
        key.push_str(self.national());
        key.push_str(ascii(&self.code.padded()));
        key
    }

    /// The E.164 number this PIN stands for, when its middle part is a
    /// real number of its country written as the country writes it.
    pub fn to_e164(&self) -> Option<E164> {
        self.real_number().map(|(e164, _)| e164)
    }

    /// The E.164 number of this PIN and the groups its country writes the
    /// national part in, when that part is a real number written as the
    /// country writes it (one parse of the metadata for both).
    fn real_number(&self) -> Option<(E164, Vec<String>)> {
        let region: phonenumber::country::Id = self.code.main_region().parse().ok()?;
        let parsed = phonenumber::parse(Some(region), self.national()).ok()?;
        if parsed.code().value() != self.code.value() || !phonenumber::is_valid(&parsed) {
            return None;
        }
        let formatted = parsed
            .format()
            .mode(phonenumber::Mode::National)
            .to_string();
        let groups: Vec<String> = formatted
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        if groups.concat() != self.national() {
            return None;
        }
        let digits = format!("{}{}", self.code.value(), parsed.national());
        let e164 = E164::from_digits(digits.as_bytes()).ok()?;
        Some((e164, groups))
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.real_number() {
            Some((_, groups)) => f.write_str(&groups.join("-"))?,
            None => write_in_fours(f, self.national.as_bytes())?,
        }
        write!(f, "-{}", ascii(&self.code.padded()))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({}-{})", self.national(), ascii(&self.code.padded()))
    }
}

impl FromStr for Pin {
    type Err = NumberError;

    fn from_str(written: &str) -> Result<Pin, NumberError> {
        let read = Written::read(written)?;
        if read.plus {
            return Err(NumberError::MisplacedPlus);
        }
        if read.hash.is_some() {
            return Err(NumberError::MisplacedHash);
        }
        Pin::from_digits(read.digits())
    }
}

// ---------------------------------------------------------------- VNS

/// A company number (SPEC.md section 1): one identification number
/// worldwide, and `#CC` for the branch in a country. `6200-6200#082`;
/// bare (`6200-6200`) it reaches the branch of the caller's country.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vns {
    ident: Digits,
    branch: Option<CountryCode>,
}

impl Vns {
    pub fn new(ident: &[u8], branch: Option<CountryCode>) -> Result<Vns, NumberError> {
        if ident.len() < *VNS_IDENT.start() {
            return Err(NumberError::TooFewDigits {
                what: "a company's identification number",
                digits: ident.len(),
                min: *VNS_IDENT.start(),
            });
        }
        if ident.len() > *VNS_IDENT.end() {
            return Err(NumberError::TooManyDigits {
                what: "a company's identification number",
                digits: ident.len(),
                max: *VNS_IDENT.end(),
            });
        }
        let ident = Digits::new(ident).ok_or(NumberError::NotANumber {
            reason: "a company's identification number is digits only",
        })?;
        Ok(Vns { ident, branch })
    }

    pub(crate) fn from_written(read: &Written) -> Result<Vns, NumberError> {
        if read.plus {
            return Err(NumberError::MisplacedPlus);
        }
        let digits = read.digits();
        match read.hash {
            None => Vns::new(digits, None),
            Some(at) => {
                let (ident, code) = digits.split_at(at);
                if code.is_empty() {
                    return Err(NumberError::MissingBranch);
                }
                let branch = CountryCode::from_padded(code).ok_or_else(|| {
                    if code.len() == 3 {
                        NumberError::UnknownCountryCode {
                            digits: ascii(code).to_owned(),
                        }
                    } else {
                        NumberError::MissingBranch
                    }
                })?;
                Vns::new(ident, Some(branch))
            }
        }
    }

    /// The identification number, digits only.
    pub fn ident(&self) -> &str {
        self.ident.as_str()
    }

    pub fn branch(&self) -> Option<CountryCode> {
        self.branch
    }

    /// The same company's number for another branch (or bare).
    pub fn with_branch(&self, branch: Option<CountryCode>) -> Vns {
        Vns {
            ident: self.ident,
            branch,
        }
    }

    /// The store's key: `62006200#082`, or `62006200` bare. In a SIP URI
    /// the `#` is written `%23` (RFC 3261 section 25.1).
    pub fn key(&self) -> String {
        let mut key = self.ident().to_owned();
        if let Some(branch) = self.branch {
            key.push('#');
            key.push_str(ascii(&branch.padded()));
        }
        key
    }
}

impl fmt::Display for Vns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_in_fours(f, self.ident.as_bytes())?;
        if let Some(branch) = self.branch {
            write!(f, "#{}", ascii(&branch.padded()))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Vns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vns({})", self.key())
    }
}

impl FromStr for Vns {
    type Err = NumberError;

    fn from_str(written: &str) -> Result<Vns, NumberError> {
        Vns::from_written(&Written::read(written)?)
    }
}

// ---------------------------------------------------------------- any number

/// What kind of number, as the store and the API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    Pin,
    Vns,
    E164,
}

impl NumberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::Pin => "pin",
            NumberKind::Vns => "vns",
            NumberKind::E164 => "e164",
        }
    }
}

/// Any number Callex can hold or route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Number {
    Pin(Pin),
    Vns(Vns),
    E164(E164),
}

impl Number {
    pub fn kind(&self) -> NumberKind {
        match self {
            Number::Pin(_) => NumberKind::Pin,
            Number::Vns(_) => NumberKind::Vns,
            Number::E164(_) => NumberKind::E164,
        }
    }

    /// The store's key (the `numbers.number` column) and, for PIN and VNS,
    /// the SIP username: `0262006200082`, `62006200#082`, `+82262006200`.
    pub fn key(&self) -> String {
        match self {
            Number::Pin(pin) => pin.key(),
            Number::Vns(vns) => vns.key(),
            Number::E164(e164) => e164.to_string(),
        }
    }

    /// Reads a store key back (the inverse of [`Number::key`] for `kind`).
    pub fn from_key(kind: NumberKind, key: &str) -> Result<Number, NumberError> {
        let number = match kind {
            NumberKind::Pin => Number::Pin(key.parse()?),
            NumberKind::Vns => Number::Vns(key.parse()?),
            NumberKind::E164 => Number::E164(key.parse()?),
        };
        if number.key() != key {
            return Err(NumberError::NotANumber {
                reason: "a store key is the number's digits without separators",
            });
        }
        Ok(number)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Pin(pin) => pin.fmt(f),
            Number::Vns(vns) => vns.fmt(f),
            Number::E164(e164) => e164.fmt(f),
        }
    }
}

/// The numbers a written form may mean, most likely first, without asking
/// anyone who holds what: a `#` makes a VNS, a `+` (or `00`) an E.164
/// number; plain digits may be a PIN (when they end in a country code), a
/// bare VNS, and after `00` an E.164 number. The caller takes the first
/// that someone holds, as the directory does. National numbers need the
/// caller's country: that is the classifier's job.
pub fn candidates(written: &str) -> Result<Vec<Number>, NumberError> {
    let read = Written::read(written)?;
    if read.hash.is_some() {
        return Ok(vec![Number::Vns(Vns::from_written(&read)?)]);
    }
    if read.plus {
        return Ok(vec![Number::E164(E164::from_digits(read.digits())?)]);
    }
    let digits = read.digits();
    let mut found = Vec::new();
    let mut first_error = None;
    match Pin::from_digits(digits) {
        Ok(pin) => found.push(Number::Pin(pin)),
        Err(e) => first_error = Some(e),
    }
    if let Ok(vns) = Vns::new(digits, None) {
        found.push(Number::Vns(vns));
    }
    if let Some(international) = digits.strip_prefix(b"00") {
        match E164::from_digits(international) {
            Ok(e164) => found.push(Number::E164(e164)),
            Err(e) => first_error = Some(e),
        }
    }
    if found.is_empty() {
        return Err(first_error.unwrap_or(NumberError::NotANumber {
            reason: "not a PIN, a company number or an international number",
        }));
    }
    Ok(found)
}

impl FromStr for Number {
    type Err = NumberError;

    /// The first of the [`candidates`].
    fn from_str(written: &str) -> Result<Number, NumberError> {
        Ok(candidates(written)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_pin_maps_to_e164_and_back() {
        let pin: Pin = "02-6200-6200-082".parse().unwrap();
        assert_eq!(pin.key(), "0262006200082");
        let e164 = pin.to_e164().unwrap();
        assert_eq!(e164.to_string(), "+82262006200");
        assert_eq!(Pin::from_e164(&e164).unwrap(), pin);
        assert_eq!(pin.to_string(), "02-6200-6200-082");
    }

    #[test]
    fn a_nanp_pin_maps_to_e164_and_back() {
        let pin: Pin = "212-555-0100-001".parse().unwrap();
        assert_eq!(pin.to_e164().unwrap().to_string(), "+12125550100");
        let back = Pin::from_e164(&"+1 212 555 0100".parse().unwrap()).unwrap();
        assert_eq!(back, pin);
        assert_eq!(back.to_string(), "212-555-0100-001");
    }

    #[test]
    fn separators_do_not_change_a_pin() {
        let a: Pin = "02-6200-6200-082".parse().unwrap();
        for written in ["0262006200082", "(02) 6200.6200 082", "026-200-620-0082"] {
            assert_eq!(written.parse::<Pin>().unwrap(), a, "{written}");
        }
    }

    #[test]
    fn an_identification_pin_is_grouped_in_fours() {
        // Not a Korean number: 9 is no area code there.
        let pin: Pin = "9123-4567-082".parse().unwrap();
        assert_eq!(pin.to_e164(), None);
        assert_eq!(pin.to_string(), "9123-4567-082");
    }

    #[test]
    fn a_trunk_prefix_variant_is_another_pin() {
        let with_one: Pin = "1-212-555-0100-001".parse().unwrap();
        assert_eq!(with_one.to_e164(), None);
        assert_eq!(with_one.key(), "12125550100001");
    }

    #[test]
    fn vns_forms() {
        let vns: Vns = "6200-6200#082".parse().unwrap();
        assert_eq!(vns.key(), "62006200#082");
        assert_eq!(vns.to_string(), "6200-6200#082");
        assert_eq!("62006200%23082".parse::<Vns>().unwrap(), vns);
        assert_eq!("62006200#082".parse::<Vns>().unwrap(), vns);
        let bare: Vns = "6200-6200".parse().unwrap();
        assert_eq!(bare.branch(), None);
        assert_eq!(vns.with_branch(None), bare);
        assert_eq!("6200-6200#".parse::<Vns>(), Err(NumberError::MissingBranch));
        assert!(matches!(
            "6200-6200#200".parse::<Vns>(),
            Err(NumberError::UnknownCountryCode { .. })
        ));
        assert_eq!("#082".parse::<Vns>(), Err(NumberError::MisplacedHash));
        assert_eq!("62#00#082".parse::<Vns>(), Err(NumberError::MisplacedHash));
    }

    #[test]
    fn e164_forms_and_limits() {
        let n: E164 = "+82 2 6200 6200".parse().unwrap();
        assert_eq!(n.to_string(), "+82262006200");
        assert_eq!(n.national(), "262006200");
        assert_eq!(n.international(), "+82 2-6200-6200");
        assert!(matches!(
            "+82 2 6200 6200 6200 6200".parse::<E164>(),
            Err(NumberError::TooManyDigits { .. })
        ));
        assert!(matches!(
            "+999 1234".parse::<E164>(),
            Err(NumberError::UnknownCountryCode { .. })
        ));
        assert!(matches!(
            "+82 1".parse::<E164>(),
            Err(NumberError::TooFewDigits { .. })
        ));
    }

    #[test]
    fn national_numbers_are_relative_to_a_country() {
        let mobile = E164::from_national("010-1234-5678", "KR").unwrap();
        assert_eq!(mobile.to_string(), "+821012345678");
        assert_eq!(
            E164::from_national("(212) 555-0100", "US")
                .unwrap()
                .to_string(),
            "+12125550100"
        );
        assert_eq!(
            E164::from_national("1 212 555 0100", "US")
                .unwrap()
                .to_string(),
            "+12125550100"
        );
        assert_eq!(
            E164::from_national("011 82 2 6200 6200", "US")
                .unwrap()
                .to_string(),
            "+82262006200"
        );
        assert_eq!(
            E164::from_national("06 1234 5678", "IT")
                .unwrap()
                .to_string(),
            "+390612345678"
        );
        assert!(E164::from_national("010-1234-5678", "XX").is_err());
        assert!(E164::from_national("010", "KR").is_err());
    }

    #[test]
    fn letters_are_not_digits() {
        // The phonenumber crate maps letters to keypad digits; we do not.
        assert!(matches!(
            "+1 800 FLOWERS".parse::<E164>(),
            Err(NumberError::BadCharacter { character: 'F', .. })
        ));
        assert!("02-6200-62OO-082".parse::<Pin>().is_err());
    }

    #[test]
    fn over_long_numbers_are_refused() {
        // The phonenumber crate has reported over-long numbers valid.
        let long = "+1 212 555 0100 0100";
        assert!(long.parse::<E164>().is_err());
        assert!(!"+1 212 555 0100"
            .parse::<E164>()
            .unwrap()
            .international()
            .is_empty());
        assert!(Written::read(&"1".repeat(65)).is_err());
    }

    #[test]
    fn hostile_input_is_refused_cleanly() {
        for bad in [
            "",
            "  ",
            "+",
            "++82",
            "8+2",
            "٣٤٥",
            "02–6200",
            "%2",
            "%24",
            "0%2",
            "\0",
            "#",
        ] {
            assert!(candidates(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn candidates_in_precedence_order() {
        let found = candidates("0262006200082").unwrap();
        assert_eq!(found[0].kind(), NumberKind::Pin);
        assert_eq!(found.len(), 2, "{found:?}"); // PIN, bare VNS
        let found = candidates("00 82 2 6200 6200").unwrap();
        assert_eq!(found.last().unwrap().key(), "+82262006200");
        assert_eq!(
            candidates("6200-6200").unwrap(),
            [Number::Vns("6200-6200".parse().unwrap())]
        );
    }

    #[test]
    fn keys_read_back() {
        for (kind, key) in [
            (NumberKind::Pin, "0262006200082"),
            (NumberKind::Vns, "62006200#082"),
            (NumberKind::Vns, "62006200"),
            (NumberKind::E164, "+82262006200"),
        ] {
            assert_eq!(Number::from_key(kind, key).unwrap().key(), key);
        }
        assert!(Number::from_key(NumberKind::Pin, "02-6200-6200-082").is_err());
    }
}
