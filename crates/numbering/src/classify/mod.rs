//! What a dial string means (SPEC.md section 1, "The dial string"), decided
//! in this order:
//!
//! 1. the business-call signal (SPEC.md section 5): the caller's phone
//!    asked for a business call (the SIP header alternative), or the
//!    operator's prefix and/or suffix surrounds the number — see
//!    [`BusinessSignal`] for how it is told apart from the national and
//!    international prefixes;
//! 2. `user@domain` that is a member's verified e-mail → that member's PIN;
//!    a bare domain that is a company's verified domain → its VNS; a
//!    number at any domain is read as a number (phones write the domain
//!    they were set up with); any other address at a foreign domain is
//!    another provider's;
//! 3. a `#` (raw or `%23`) → a VNS;
//! 4. digits that end in a country code and are a PIN someone holds → PIN;
//!    digits that are a company's identification number → its branch in
//!    the caller's country, else its default branch;
//! 5. `+CC…`, an international prefix (`00`, the caller's own such as
//!    `011`), or a national number of the caller's country → E.164, then
//!    on-net if a member holds it, else the longest prefix of the
//!    interconnect table (a partner's range, a PSTN route), else the PSTN;
//! 6. anything else → a [`DialError`] with its SIP status and a reason a
//!    person can read.

use std::fmt;

use crate::number::{NumberError, Pin, Vns, Written, E164, MAX_WRITTEN};
use crate::plan::{dialing_rules, CountryCode, DialingRules, Dialled};
use crate::prefix::PrefixTable;

/// What a terminal dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialString<'a> {
    /// A `sip:`/`sips:` Request-URI: its user part as received
    /// (percent-encoded) and its host.
    Sip {
        user: Option<&'a str>,
        host: &'a str,
    },
    /// A `tel:` URI's number (RFC 3966), parameters removed or not.
    Tel(&'a str),
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The caller's country, ISO 3166 (`"KR"`): national numbers are
    /// relative to it, and a company's bare number reaches its branch there.
    pub region: &'a str,
    /// The caller has a pool of business numbers: only then is the
    /// business-call signal read from the digits.
    pub business_pool: bool,
    /// The phone asked for a business call out of band (a SIP header).
    pub business_requested: bool,
}

/// What the store knows, asked synchronously: the switch answers from its
/// hot copy, tests from maps.
pub trait Registry {
    /// A member holds this PIN.
    fn pin_held(&self, pin: &Pin) -> bool;
    /// A company holds this number: bare, the company itself (its default
    /// branch); with `#CC`, its branch in that country.
    fn vns_held(&self, vns: &Vns) -> bool;
    /// A member holds this E.164 number (a virtual business number, a
    /// DID): the call stays on-net.
    fn e164_held(&self, number: &E164) -> bool;
    /// The PIN of the member who verified this e-mail address (lowercase).
    fn member_email(&self, address: &str) -> Option<Pin>;
    /// The company number of the company that verified this domain
    /// (lowercase, no trailing dot).
    fn company_domain(&self, domain: &str) -> Option<Vns>;
}

/// Where a number goes when no member holds it, as the operator's
/// interconnect table says. Identifiers are the routing tables'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// A range the operator's own members are in (numbers not held yet
    /// are unallocated).
    OnNet,
    /// A partner VoIP provider's range, reached over its interconnect.
    Partner(u32),
    /// The PSTN, through this gateway group.
    Pstn(u32),
}

/// The operator's business-call signal: digits (and `*`, `#`) dialled
/// before and/or after the number, like the seed's `0`.
///
/// The signal is read only for callers with a business pool, and only
/// where it cannot be mistaken for a prefix: a dial string is read both
/// literally and with the signal removed; if only one reading is a number
/// that can be called, that reading wins; if both are, the one that is
/// surely a number (held by someone, or valid in libphonenumber's metadata
/// rather than only of a possible length) wins; if that does not decide,
/// the call is refused as ambiguous (485) rather than guessed — so `0` + `010-1234-5678` is a
/// business call, `00 82 2 6200 6200` stays an international personal
/// call, and a business call is never silently made personal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessSignal {
    prefix: Option<String>,
    suffix: Option<String>,
}

impl BusinessSignal {
    /// `None` for either side means not used there.
    pub fn new(prefix: Option<&str>, suffix: Option<&str>) -> Result<BusinessSignal, String> {
        let check = |side: &str, signal: Option<&str>| -> Result<Option<String>, String> {
            let Some(signal) = signal.filter(|s| !s.is_empty()) else {
                return Ok(None);
            };
            if signal.len() > 8
                || !signal
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
            {
                return Err(format!(
                    "the business-call {side} {signal:?} must be 1 to 8 of 0-9, * and #"
                ));
            }
            Ok(Some(signal.to_owned()))
        };
        Ok(BusinessSignal {
            prefix: check("prefix", prefix)?,
            suffix: check("suffix", suffix)?,
        })
    }

    pub fn is_set(&self) -> bool {
        self.prefix.is_some() || self.suffix.is_some()
    }

    /// The dial string without the signal, if the signal is there.
    fn strip<'a>(&self, dialled: &'a str) -> Option<&'a str> {
        let mut rest = dialled;
        let mut found = false;
        if let Some(stripped) = self.prefix.as_deref().and_then(|p| rest.strip_prefix(p)) {
            rest = stripped;
            found = true;
        }
        if let Some(stripped) = self.suffix.as_deref().and_then(|s| rest.strip_suffix(s)) {
            rest = stripped;
            found = true;
        }
        (found && !rest.is_empty()).then_some(rest)
    }
}

/// How the classifier knew the call was a business call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Business {
    /// The phone asked for it (SIP header).
    Requested,
    /// The operator's signal was dialled.
    Signal,
}

/// Where the call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A member, by PIN.
    Member(Pin),
    /// A company: a branch (`#CC`) or, bare, its default branch.
    Company(Vns),
    /// A number of the world's numbering plan, and the way to it.
    Number { number: E164, route: Destination },
    /// An address at another provider's domain (`user@domain`, or the
    /// domain alone), reached by SIP.
    Address {
        user: Option<String>,
        domain: String,
    },
}

/// How an E.164 number is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A member holds it.
    Member,
    /// The interconnect table's longest matching prefix, of this many
    /// digits.
    Prefix { route: Route, length: usize },
    /// Nothing matched: the PSTN by default.
    Pstn,
}

/// How the dial string was read, for the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Email(String),
    Domain(String),
    ForeignAddress,
    CompanyHash,
    Pin,
    BareCompany { caller_country: bool },
    Plus,
    International { prefix: String },
    National { region: String, trunk_prefix: bool },
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub business: Option<Business>,
    pub target: Target,
    pub reading: Reading,
}

/// Why a dial string cannot be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The digits are not a number (with what is wrong).
    Number(NumberError),
    /// Nothing was dialled.
    Nothing,
    /// A well-formed number nobody holds where the plan says somebody must.
    NotHeld { what: String },
    /// A business signal that can equally be a prefix.
    Ambiguous { literal: String, business: String },
    /// The caller's country has no numbering plan we know.
    UnknownRegion(String),
}

impl DialError {
    /// The SIP status the switch answers with.
    pub fn sip_status(&self) -> u16 {
        match self {
            DialError::Nothing | DialError::Number(NumberError::TooFewDigits { .. }) => 484,
            DialError::Number(NumberError::MissingBranch) => 484,
            DialError::Ambiguous { .. } => 485,
            _ => 404,
        }
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Number(e) => e.fmt(f),
            DialError::Nothing => f.write_str("no number dialled"),
            DialError::NotHeld { what } => write!(f, "{what} is not in service"),
            DialError::Ambiguous { literal, business } => write!(
                f,
                "ambiguous: {literal} as dialled, or a business call to {business}"
            ),
            DialError::UnknownRegion(region) => {
                write!(f, "no numbering plan for the caller's country {region:?}")
            }
        }
    }
}

impl std::error::Error for DialError {}

impl From<NumberError> for DialError {
    fn from(e: NumberError) -> DialError {
        DialError::Number(e)
    }
}

/// The operator's numbering configuration, ready to classify.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    own_hosts: Vec<String>,
    business: BusinessSignal,
    interconnect: PrefixTable<Route>,
}

impl Classifier {
    /// `own_hosts`: the exchange's domains and host names (a Request-URI
    /// at one of them, or at an IP address, dials a number).
    pub fn new(
        own_hosts: &[&str],
        business: BusinessSignal,
        interconnect: PrefixTable<Route>,
    ) -> Classifier {
        // The numbering plans are read from the metadata now, not on the
        // first call that needs them.
        crate::plan::Plan::get();
        Classifier {
            own_hosts: own_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            business,
            interconnect,
        }
    }

    pub fn interconnect(&self) -> &PrefixTable<Route> {
        &self.interconnect
    }

    fn is_own_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        host.is_empty()
            || host.starts_with('[')
            || host.parse::<std::net::Ipv4Addr>().is_ok()
            || self
                .own_hosts
                .iter()
                .any(|own| own.eq_ignore_ascii_case(host))
    }

    pub fn classify(
        &self,
        dialled: DialString<'_>,
        caller: &Caller<'_>,
        registry: &impl Registry,
    ) -> Result<Decision, DialError> {
        let requested = caller.business_requested.then_some(Business::Requested);
        let number_text = match dialled {
            DialString::Tel(number) => number.split(';').next().unwrap_or_default(),
            DialString::Sip { user, host } if self.is_own_host(host) => {
                user.ok_or(DialError::Nothing)?
            }
            DialString::Sip { user, host } => {
                let (target, reading) = address(user, host, registry)?;
                match (&target, user) {
                    // Not anyone's e-mail, and a number: phones write the
                    // domain they were configured with, whatever ours is
                    // called, and numbers are global.
                    (Target::Address { .. }, Some(user)) if reads_as_number(user) => user,
                    _ => {
                        return Ok(Decision {
                            business: requested,
                            target,
                            reading,
                        })
                    }
                }
            }
        };
        let mut decoded = [0u8; MAX_WRITTEN];
        let text = percent_decode(number_text, &mut decoded)?;
        let rules = dialing_rules(caller.region)
            .ok_or_else(|| DialError::UnknownRegion(caller.region.chars().take(8).collect()))?;
        let literal = self.number(text, rules, registry);
        let stripped = match requested {
            None if caller.business_pool => self.business.strip(text),
            _ => None,
        };
        let Some(stripped) = stripped else {
            let (target, reading) = literal?;
            return Ok(Decision {
                business: requested,
                target,
                reading,
            });
        };
        let (literal, business) = match (literal, self.number(stripped, rules, registry)) {
            (Ok(literal), Err(_)) => (literal, None),
            (Err(_), Ok(business)) => (business, Some(Business::Signal)),
            (Err(e), Err(_)) => return Err(e),
            // Both readings can be called: a number the metadata knows (or
            // one somebody holds) beats one of a merely possible length.
            (Ok(literal), Ok(business)) => match (certain(&literal.0), certain(&business.0)) {
                (true, false) => (literal, None),
                (false, true) => (business, Some(Business::Signal)),
                _ => {
                    return Err(DialError::Ambiguous {
                        literal: literal.0.to_string(),
                        business: business.0.to_string(),
                    })
                }
            },
        };
        let (target, reading) = literal;
        Ok(Decision {
            business,
            target,
            reading,
        })
    }

    /// Steps 3 to 5 for a number as dialled (percent-decoded).
    fn number(
        &self,
        text: &str,
        rules: &DialingRules,
        registry: &impl Registry,
    ) -> Result<(Target, Reading), DialError> {
        let written = Written::read(text)?;
        if written.hash.is_some() {
            let vns = Vns::from_written(&written)?;
            if registry.vns_held(&vns) {
                return Ok((Target::Company(vns), Reading::CompanyHash));
            }
            let what = if registry.vns_held(&vns.with_branch(None)) {
                format!("{vns} (the company has no branch there)")
            } else {
                vns.to_string()
            };
            return Err(DialError::NotHeld { what });
        }
        if written.plus {
            let number = E164::from_digits(written.digits())?;
            return Ok((self.number_target(number, registry), Reading::Plus));
        }
        let digits = written.digits();
        if let Ok(pin) = Pin::from_digits(digits) {
            if registry.pin_held(&pin) {
                return Ok((Target::Member(pin), Reading::Pin));
            }
        }
        if let Ok(company) = Vns::new(digits, None) {
            let branch = company.with_branch(Some(rules.code));
            if registry.vns_held(&branch) {
                return Ok((
                    Target::Company(branch),
                    Reading::BareCompany {
                        caller_country: true,
                    },
                ));
            }
            if registry.vns_held(&company) {
                return Ok((
                    Target::Company(company),
                    Reading::BareCompany {
                        caller_country: false,
                    },
                ));
            }
        }
        let (number, how) = rules.number(digits)?;
        let reading = match how {
            Dialled::International { prefix } => Reading::International {
                prefix: prefix.to_owned(),
            },
            Dialled::National { trunk_prefix } => Reading::National {
                region: rules.region.clone(),
                trunk_prefix,
            },
        };
        Ok((self.number_target(number, registry), reading))
    }

    fn number_target(&self, number: E164, registry: &impl Registry) -> Target {
        let route = if registry.e164_held(&number) {
            Destination::Member
        } else {
            match self.interconnect.longest_match(number.digits().as_bytes()) {
                Some((length, &route)) => Destination::Prefix { route, length },
                None => Destination::Pstn,
            }
        };
        Target::Number { number, route }
    }
}

/// A reading that is surely a number: somebody holds it, or the world's
/// numbering plans know it (not only its length).
fn certain(target: &Target) -> bool {
    match target {
        Target::Number { number, route } => *route == Destination::Member || number.is_valid(),
        _ => true,
    }
}

/// Step 2: an address at a domain that is not the exchange's.
fn address(
    user: Option<&str>,
    host: &str,
    registry: &impl Registry,
) -> Result<(Target, Reading), DialError> {
    let domain = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if domain.len() > 253
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(NumberError::NotANumber {
            reason: "not a domain name",
        }
        .into());
    }
    let Some(user) = user else {
        return Ok(match registry.company_domain(&domain) {
            Some(vns) => (Target::Company(vns), Reading::Domain(domain)),
            None => (
                Target::Address { user: None, domain },
                Reading::ForeignAddress,
            ),
        });
    };
    let mut decoded = [0u8; MAX_WRITTEN];
    let user = percent_decode(user, &mut decoded)?.to_ascii_lowercase();
    let email = format!("{user}@{domain}");
    Ok(match registry.member_email(&email) {
        Some(pin) => (Target::Member(pin), Reading::Email(email)),
        None => (
            Target::Address {
                user: Some(user),
                domain,
            },
            Reading::ForeignAddress,
        ),
    })
}

/// A user part that is written like a number (digits, `+`, `#`,
/// separators), not like a name.
fn reads_as_number(user: &str) -> bool {
    let mut decoded = [0u8; MAX_WRITTEN];
    percent_decode(user, &mut decoded).is_ok_and(|text| Written::read(text).is_ok())
}

/// RFC 3986 percent-decoding of a user part into `buffer`; the result
/// must be ASCII.
fn percent_decode<'b>(text: &str, buffer: &'b mut [u8; MAX_WRITTEN]) -> Result<&'b str, DialError> {
    let bytes = text.as_bytes();
    let mut length = 0;
    let mut i = 0;
    while i < bytes.len() {
        if length == buffer.len() {
            return Err(NumberError::TooLong { length: text.len() }.into());
        }
        let byte = match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(NumberError::BadCharacter {
                        character: '%',
                        position: i + 1,
                    })?;
                i += 2;
                hex
            }
            b => b,
        };
        if !byte.is_ascii() {
            return Err(NumberError::NotAscii.into());
        }
        buffer[length] = byte;
        length += 1;
        i += 1;
    }
    // Every byte was checked to be ASCII.
    Ok(std::str::from_utf8(&buffer[..length]).expect("ASCII"))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Member(pin) => write!(f, "member {pin}"),
            Target::Company(vns) if vns.branch().is_none() => {
                write!(f, "company {vns} (default branch)")
            }
            Target::Company(vns) => write!(f, "company {vns}"),
            Target::Number { number, route } => {
                write!(f, "{}", number.international())?;
                match route {
                    Destination::Member => f.write_str(" (held by a member)"),
                    Destination::Prefix { route, length } => {
                        let prefix = &number.digits()[..*length];
                        match route {
                            Route::OnNet => write!(f, " (on-net range +{prefix})"),
                            Route::Partner(id) => write!(f, " (partner {id}, range +{prefix})"),
                            Route::Pstn(id) => write!(f, " (PSTN route {id}, prefix +{prefix})"),
                        }
                    }
                    Destination::Pstn => f.write_str(" (PSTN)"),
                }
            }
            Target::Address {
                user: Some(user),
                domain,
            } => write!(f, "sip:{user}@{domain}"),
            Target::Address { user: None, domain } => write!(f, "sip:{domain}"),
        }
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Email(email) => write!(f, "{email} is a member's verified e-mail"),
            Reading::Domain(domain) => write!(f, "{domain} is a company's verified domain"),
            Reading::ForeignAddress => f.write_str("an address at another domain"),
            Reading::CompanyHash => f.write_str("a company number (#)"),
            Reading::Pin => f.write_str("a PIN"),
            Reading::BareCompany {
                caller_country: true,
            } => f.write_str("a company's number, its branch in the caller's country"),
            Reading::BareCompany {
                caller_country: false,
            } => f.write_str("a company's number, no branch in the caller's country"),
            Reading::Plus => f.write_str("an international number (+)"),
            Reading::International { prefix } => {
                write!(f, "an international number (prefix {prefix})")
            }
            Reading::National {
                region,
                trunk_prefix,
            } => write!(
                f,
                "a national number of {region}{}",
                if *trunk_prefix { " (trunk prefix)" } else { "" }
            ),
        }
    }
}

/// How a call was read, without where it goes: cheap to write (no
/// number formatting), for a call record that names its callee already.
pub struct How<'a>(&'a Decision);

impl fmt::Display for How<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.business {
            Some(Business::Requested) => f.write_str("business call (asked for by the phone); ")?,
            Some(Business::Signal) => f.write_str("business call (signal dialled); ")?,
            None => {}
        }
        self.0.reading.fmt(f)
    }
}

impl Decision {
    /// The explanation without the target: "business call (signal
    /// dialled); a national number of KR (trunk prefix)".
    pub fn how(&self) -> How<'_> {
        How(self)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.how(), self.target)
    }
}

impl CountryCode {
    /// The code of an ISO 3166 region, if it has a numbering plan.
    pub fn of_region(region: &str) -> Option<CountryCode> {
        dialing_rules(region).map(|rules| rules.code)
    }
}

#[cfg(test)]
mod tests;
