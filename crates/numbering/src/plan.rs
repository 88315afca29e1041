//! The world's numbering plans, as the classifier needs them on every call:
//! which country calling codes exist, how long a national significant
//! number may be behind each, and how a caller in a country dials national
//! and international numbers. Read once from libphonenumber's metadata
//! (through the `phonenumber` crate) into flat tables, so that classifying
//! a dial string never runs a regular expression.

use std::fmt;
use std::sync::OnceLock;

use phonenumber::metadata::DATABASE;
use rustc_hash::FxHashMap;

use crate::number::{NumberError, E164, MAX_WRITTEN};

/// An E.164 country calling code that the ITU has assigned (`1`, `82`,
/// `852`, also the non-geographic `800`, `882`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(u16);

impl CountryCode {
    /// `Some` if `code` is an assigned country calling code.
    pub fn new(code: u16) -> Option<CountryCode> {
        Plan::get().codes.get(usize::from(code))?.as_ref()?;
        Some(CountryCode(code))
    }

    pub fn value(self) -> u16 {
        self.0
    }

    /// How many digits the code has in an E.164 number (1 to 3).
    pub fn digit_count(self) -> usize {
        match self.0 {
            0..=9 => 1,
            10..=99 => 2,
            _ => 3,
        }
    }

    /// The three digits that end a PIN and follow the `#` of a VNS:
    /// zero-padded, `082` for Korea, `001` for the NANP.
    pub fn padded(self) -> [u8; 3] {
        let c = self.0;
        [
            b'0' + (c / 100) as u8,
            b'0' + (c / 10 % 10) as u8,
            b'0' + (c % 10) as u8,
        ]
    }

    /// The main region of the code (`KR` for 82, `US` for 1, `001` for the
    /// non-geographic codes).
    pub fn main_region(self) -> &'static str {
        &Plan::get().code(self).main_region
    }

    /// Possible lengths of the national significant number behind this
    /// code, in digits.
    pub fn national_lengths(self) -> Lengths {
        Plan::get().code(self).lengths
    }

    /// The code that `digits` (an international number without `+`) starts
    /// with. Country codes are prefix-free, so at most one matches.
    pub fn leading(digits: &[u8]) -> Option<CountryCode> {
        let mut value = 0u16;
        for &d in digits.iter().take(3) {
            if !d.is_ascii_digit() || (value == 0 && d == b'0') {
                return None;
            }
            value = value * 10 + u16::from(d - b'0');
            if let Some(code) = CountryCode::new(value) {
                return Some(code);
            }
        }
        None
    }

    /// The code written as three zero-padded digits at the end of a PIN.
    pub fn from_padded(digits: &[u8]) -> Option<CountryCode> {
        let [a, b, c] = digits else { return None };
        if ![a, b, c].iter().all(|d| d.is_ascii_digit()) {
            return None;
        }
        let value = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
        CountryCode::new(value)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// A set of lengths from 1 to 17 digits, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lengths(u32);

impl Lengths {
    pub fn contains(self, length: usize) -> bool {
        length < 32 && self.0 & (1 << length) != 0
    }

    pub fn min(self) -> usize {
        self.0.trailing_zeros() as usize
    }

    pub fn max(self) -> usize {
        31 - self.0.leading_zeros() as usize
    }

    fn insert(&mut self, length: u16) {
        if length < 32 {
            self.0 |= 1 << length;
        }
    }
}

/// How a caller in one region dials: the trunk (national) prefix before a
/// national number, and the international prefixes before a country code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingRules {
    pub region: String,
    pub code: CountryCode,
    /// `0` in Korea and the UK, `1` in the NANP, none in Italy or Spain.
    pub national_prefix: Option<String>,
    /// `00` everywhere (ITU-T E.164's recommended prefix, and what
    /// SPEC.md promises), plus the region's own where it is one plain digit
    /// string (`011` in the NANP, `010` in Japan). Longest first.
    pub international_prefixes: Vec<String>,
}

/// How digits dialled in a region reached an E.164 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialled<'a> {
    /// After an international prefix (`00`, `011`).
    International { prefix: &'a str },
    /// A national number of the region, with or without its trunk prefix.
    National { trunk_prefix: bool },
}

impl DialingRules {
    /// The E.164 number that `digits` (0-9 only, as dialled in this
    /// region) stand for: after an international prefix, a country code;
    /// otherwise a national number, its trunk prefix optional.
    pub fn number(&self, digits: &[u8]) -> Result<(E164, Dialled<'_>), NumberError> {
        for prefix in &self.international_prefixes {
            if let Some(international) = digits.strip_prefix(prefix.as_bytes()) {
                let number = E164::from_digits(international)?;
                return Ok((number, Dialled::International { prefix }));
            }
        }
        let (national, trunk_prefix) = match self.national_prefix.as_deref() {
            Some(prefix) => match digits.strip_prefix(prefix.as_bytes()) {
                Some(national) => (national, true),
                None => (digits, false),
            },
            None => (digits, false),
        };
        // The country code and the national number, on the stack: this
        // runs for most calls.
        let mut international = [0u8; 3 + MAX_WRITTEN];
        let padded = self.code.padded();
        let code = &padded[3 - self.code.digit_count()..];
        let length = code.len() + national.len();
        if length > international.len() {
            return Err(NumberError::TooLong { length });
        }
        international[..code.len()].copy_from_slice(code);
        international[code.len()..length].copy_from_slice(national);
        let number = E164::from_digits(&international[..length])?;
        Ok((number, Dialled::National { trunk_prefix }))
    }
}

#[derive(Debug)]
struct CodeInfo {
    main_region: String,
    lengths: Lengths,
}

#[derive(Debug)]
pub(crate) struct Plan {
    /// Indexed by the code's value (0..1000).
    codes: Vec<Option<CodeInfo>>,
    /// Looked up on every call: a fast hash for two-letter keys.
    regions: FxHashMap<String, DialingRules>,
}

impl Plan {
    pub(crate) fn get() -> &'static Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        PLAN.get_or_init(Plan::load)
    }

    fn code(&self, code: CountryCode) -> &CodeInfo {
        // A CountryCode is only made for a code present here.
        self.codes[usize::from(code.0)]
            .as_ref()
            .expect("a CountryCode is always in the plan")
    }

    pub(crate) fn region(&self, region: &str) -> Option<&DialingRules> {
        self.regions.get(region)
    }

    fn load() -> Plan {
        let mut codes: Vec<Option<CodeInfo>> = (0..1000).map(|_| None).collect();
        let mut regions = FxHashMap::default();
        // Each code's entries (the by-code index also holds the
        // non-geographic ones, which the by-region iterator folds together).
        let metas = (1..1000u16)
            .filter_map(|code| DATABASE.by_code(&code))
            .flatten();
        for meta in metas {
            let value = meta.country_code();
            let Some(slot) = codes.get_mut(usize::from(value)) else {
                continue;
            };
            let info = slot.get_or_insert_with(|| CodeInfo {
                main_region: meta.id().to_owned(),
                lengths: Lengths::default(),
            });
            if meta.is_main_country_for_code() {
                info.main_region = meta.id().to_owned();
            }
            // Numbers people dial across borders; short codes and
            // emergency numbers are national only.
            let d = meta.descriptors();
            let kinds = [
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for descriptor in kinds.into_iter().flatten() {
                for &length in descriptor.possible_length() {
                    info.lengths.insert(length);
                }
            }
            if meta.id().len() != 2 {
                continue; // non-geographic: nobody dials from there
            }
            let mut international_prefixes = vec!["00".to_owned()];
            let own = meta
                .preferred_international_prefix()
                .map(str::to_owned)
                .or_else(|| meta.international_prefix().map(|p| p.as_str().to_owned()));
            if let Some(own) =
                own.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                if !international_prefixes.contains(&own) {
                    international_prefixes.push(own);
                }
            }
            international_prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
            regions.insert(
                meta.id().to_owned(),
                DialingRules {
                    region: meta.id().to_owned(),
                    code: CountryCode(value),
                    national_prefix: meta
                        .national_prefix()
                        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                        .map(str::to_owned),
                    international_prefixes,
                },
            );
        }
        for info in codes.iter_mut().flatten() {
            if info.lengths == Lengths::default() {
                for length in 1..=14 {
                    info.lengths.insert(length);
                }
            }
        }
        Plan { codes, regions }
    }
}

/// The dialling rules of a region (`"KR"`, `"US"`), if it has a numbering
/// plan.
pub fn dialing_rules(region: &str) -> Option<&'static DialingRules> {
    Plan::get().region(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_come_from_the_metadata() {
        assert_eq!(CountryCode::new(82).unwrap().main_region(), "KR");
        assert_eq!(CountryCode::new(1).unwrap().main_region(), "US");
        assert!(CountryCode::new(800).is_some(), "international freephone");
        assert!(CountryCode::new(0).is_none());
        assert!(CountryCode::new(200).is_none(), "unassigned");
        assert!(CountryCode::new(999).is_none());
    }

    #[test]
    fn leading_country_code_is_prefix_free() {
        assert_eq!(
            CountryCode::leading(b"82262006200").map(|c| c.value()),
            Some(82)
        );
        assert_eq!(
            CountryCode::leading(b"12125550100").map(|c| c.value()),
            Some(1)
        );
        assert_eq!(
            CountryCode::leading(b"85221234567").map(|c| c.value()),
            Some(852)
        );
        assert_eq!(CountryCode::leading(b"0123"), None);
    }

    #[test]
    fn dialing_rules_of_korea_and_the_nanp() {
        let kr = dialing_rules("KR").unwrap();
        assert_eq!(kr.national_prefix.as_deref(), Some("0"));
        assert_eq!(kr.international_prefixes, ["00"]);
        let us = dialing_rules("US").unwrap();
        assert_eq!(us.national_prefix.as_deref(), Some("1"));
        assert_eq!(us.international_prefixes, ["011", "00"]);
        assert!(dialing_rules("IT").unwrap().national_prefix.is_none());
    }

    #[test]
    fn padded_codes() {
        assert_eq!(&CountryCode::new(82).unwrap().padded(), b"082");
        assert_eq!(CountryCode::from_padded(b"001").map(|c| c.value()), Some(1));
        assert_eq!(CountryCode::from_padded(b"200"), None);
    }
}
