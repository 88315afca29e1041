//! The number directory (SPEC §7): what a held number resolves to besides a
//! phone, and the one form — ENUM NAPTR records (RFC 6116, RFC 3403) — in
//! which both the DNS directory and the HTTP API state it.
//!
//! A holder lists up to three entries per number: a SIP address, a home
//! page and a mailbox. They are checked here before they reach the
//! database, so that every stored entry makes a valid NAPTR record: an
//! ASCII URI (RFC 3986 characters, well-formed `%` escapes), of the right
//! scheme, short enough for its regexp (`!^.*$!URI!`) to fit one DNS
//! character-string of 255 bytes.

use crate::error::{Result, StoreError};
use crate::model::{excerpt, MemberId, NumberKind};

/// A NAPTR regexp field is one DNS character-string: at most 255 bytes.
const CHARACTER_STRING: usize = 255;
/// What the regexp adds around the URI: `!^.*$!` and `!`.
const REGEXP_FRAME: usize = "!^.*$!!".len();

/// The longest entries, in characters (ASCII, so bytes too).
pub mod limits {
    /// A SIP URI, and a home page URL: `!^.*$!URI!` in 255 bytes.
    pub const URI: usize = super::CHARACTER_STRING - super::REGEXP_FRAME;
    /// An e-mail address: `mailto:` goes before it in the record.
    pub const EMAIL: usize = URI - "mailto:".len();
}

/// The NAPTR order of every record: ENUM clients choose among them by
/// service and preference, not by order (RFC 6116 §2.4).
pub const ORDER: u16 = 100;

/// What a number's holder lists in the directory. `None` is "not listed".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryEntries {
    /// A `sip:` or `sips:` URI (`sip:alice@example.com`).
    pub sip: Option<String>,
    /// An `http:` or `https:` URL (`https://alice.example.com/`).
    pub web: Option<String>,
    /// An e-mail address without `mailto:` (`alice@example.com`).
    pub email: Option<String>,
}

impl DirectoryEntries {
    /// Nothing listed.
    pub fn is_empty(&self) -> bool {
        self.sip.is_none() && self.web.is_none() && self.email.is_none()
    }

    /// Refuses, naming the field and what is wrong, an entry that would not
    /// make a valid NAPTR record.
    pub fn validate(&self) -> Result<()> {
        if let Some(sip) = &self.sip {
            check_sip_uri(sip)?;
        }
        if let Some(web) = &self.web {
            check_web_url(web)?;
        }
        if let Some(email) = &self.email {
            check_mailbox(email)?;
        }
        Ok(())
    }

    /// The entries as ENUM records, in preference order: SIP, then the
    /// home page, then the mailbox.
    pub fn records(&self) -> Vec<EnumRecord> {
        let mut records = Vec::with_capacity(3);
        if let Some(sip) = &self.sip {
            records.push(EnumRecord::new(10, "E2U+sip", sip.clone()));
        }
        if let Some(web) = &self.web {
            let service = if scheme_is(web, "https") {
                "E2U+web:https"
            } else {
                "E2U+web:http"
            };
            records.push(EnumRecord::new(20, service, web.clone()));
        }
        if let Some(email) = &self.email {
            records.push(EnumRecord::new(
                30,
                "E2U+email:mailto",
                format!("mailto:{email}"),
            ));
        }
        records
    }
}

/// One directory record, as NAPTR (RFC 3403) carries it: flags `u` (the
/// result is a URI), replacement `.`, and a regexp that rewrites any
/// number to [`uri`](Self::uri).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumRecord {
    pub order: u16,
    pub preference: u16,
    /// The ENUM service (`E2U+sip`, `E2U+web:https`, `E2U+email:mailto`).
    pub service: &'static str,
    pub uri: String,
}

impl EnumRecord {
    fn new(preference: u16, service: &'static str, uri: String) -> EnumRecord {
        EnumRecord {
            order: ORDER,
            preference,
            service,
            uri,
        }
    }

    /// The NAPTR regexp `!^.*$!URI!`, with any `!` of the URI escaped as
    /// the delimiter (RFC 3402 §3.2). At most 255 bytes for a validated
    /// entry.
    pub fn regexp(&self) -> String {
        format!("!^.*$!{}!", self.uri.replace('!', "\\!"))
    }
}

/// A held number and what it lists (possibly nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryListing {
    /// The number's key, as `numbers.number` holds it.
    pub number: String,
    /// Which tree of the DNS directory the number is named in.
    pub kind: NumberKind,
    pub holder: MemberId,
    pub entries: DirectoryEntries,
}

fn scheme_is(uri: &str, scheme: &str) -> bool {
    uri.split_once(':')
        .is_some_and(|(given, _)| given.eq_ignore_ascii_case(scheme))
}

/// RFC 3986's characters (unreserved, reserved and `%`), which also keeps
/// out spaces, control characters, quotes, `\` and anything not ASCII.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Characters, `%` escapes and length: what every entry shares.
fn check_uri_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(StoreError::invalid(field, "it is empty"));
    }
    if let Some(bad) = value.chars().find(|&c| !is_uri_char(c)) {
        let why = if bad.is_control() {
            "a control character".to_owned()
        } else if bad == ' ' {
            "a space".to_owned()
        } else {
            format!("{bad:?}")
        };
        return Err(StoreError::invalid(
            field,
            format!(
                "{:?} contains {why}: write it as ASCII with %-escapes (RFC 3986)",
                excerpt(value)
            ),
        ));
    }
    let bytes = value.as_bytes();
    for (i, _) in value.match_indices('%') {
        let escape = bytes.get(i + 1..i + 3);
        if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
            return Err(StoreError::invalid(
                field,
                format!(
                    "{:?} has a % that is not followed by two hex digits",
                    excerpt(value)
                ),
            ));
        }
    }
    // With `!` escaped, the record's regexp must still fit.
    let length = value.len() + value.matches('!').count();
    if length > max {
        return Err(StoreError::invalid(
            field,
            format!(
                "{length} characters, more than {max} (a DNS record holds no more); \
                 use a shorter address"
            ),
        ));
    }
    Ok(())
}

fn check_sip_uri(value: &str) -> Result<()> {
    const FIELD: &str = "SIP address";
    check_uri_text(FIELD, value, limits::URI)?;
    if !(scheme_is(value, "sip") || scheme_is(value, "sips")) {
        return Err(StoreError::invalid(
            FIELD,
            format!(
                "{:?} is not a sip: or sips: URI (e.g. sip:alice@example.com)",
                excerpt(value)
            ),
        ));
    }
    sip::uri::Uri::parse(value)
        .map_err(|err| StoreError::invalid(FIELD, format!("{:?}: {err}", excerpt(value))))?;
    Ok(())
}

fn check_web_url(value: &str) -> Result<()> {
    const FIELD: &str = "home page";
    check_uri_text(FIELD, value, limits::URI)?;
    let rest = ["http", "https"].iter().find_map(|scheme| {
        value
            .get(..scheme.len() + 3)
            .filter(|prefix| prefix.eq_ignore_ascii_case(&format!("{scheme}://")))
            .map(|prefix| &value[prefix.len()..])
    });
    let Some(rest) = rest else {
        return Err(StoreError::invalid(
            FIELD,
            format!(
                "{:?} is not an http:// or https:// URL (e.g. https://alice.example.com/)",
                excerpt(value)
            ),
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        // An IPv6 reference's own colons are inside its brackets.
        Some((host, port)) if !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => host_port,
    };
    if !sip::uri::is_valid_host(host) {
        return Err(StoreError::invalid(
            FIELD,
            format!("{:?} has no valid host name after //", excerpt(value)),
        ));
    }
    Ok(())
}

fn check_mailbox(value: &str) -> Result<()> {
    const FIELD: &str = "mailbox";
    if scheme_is(value, "mailto") {
        return Err(StoreError::invalid(
            FIELD,
            format!(
                "{:?}: give the address alone, without mailto:",
                excerpt(value)
            ),
        ));
    }
    check_uri_text(FIELD, value, limits::EMAIL)?;
    // Local parts that need no escaping in a mailto: URI (RFC 6068).
    let local_ok = |local: &str| {
        !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".!$&'*+-=^_~".contains(c))
    };
    let domain_ok = |domain: &str| {
        !domain.starts_with('[') && !domain.contains('_') && sip::uri::is_valid_host(domain)
    };
    match value.split_once('@') {
        Some((local, domain)) if local_ok(local) && domain_ok(domain) => Ok(()),
        _ => Err(StoreError::invalid(
            FIELD,
            format!(
                "{:?} is not an e-mail address of the form name@domain",
                excerpt(value)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(sip: Option<&str>, web: Option<&str>, email: Option<&str>) -> DirectoryEntries {
        DirectoryEntries {
            sip: sip.map(Into::into),
            web: web.map(Into::into),
            email: email.map(Into::into),
        }
    }

    #[test]
    fn good_entries_make_one_record_each_in_preference_order() {
        let listed = entries(
            Some("sip:alice@example.com"),
            Some("https://alice.example.com/"),
            Some("alice@example.com"),
        );
        listed.validate().unwrap();
        let records = listed.records();
        let services: Vec<_> = records.iter().map(|r| r.service).collect();
        assert_eq!(services, ["E2U+sip", "E2U+web:https", "E2U+email:mailto"]);
        assert!(records.iter().all(|r| r.order == ORDER));
        assert!(records
            .windows(2)
            .all(|w| w[0].preference < w[1].preference));
        assert_eq!(records[2].uri, "mailto:alice@example.com");
        assert_eq!(records[0].regexp(), "!^.*$!sip:alice@example.com!");
    }

    #[test]
    fn the_web_service_follows_the_url_scheme() {
        let http = entries(None, Some("HTTP://example.com"), None);
        http.validate().unwrap();
        assert_eq!(http.records()[0].service, "E2U+web:http");
        let https = entries(None, Some("https://example.com:8443/a?b=c#d"), None);
        https.validate().unwrap();
        assert_eq!(https.records()[0].service, "E2U+web:https");
    }

    #[test]
    fn a_bang_in_a_uri_is_escaped_in_the_regexp() {
        let record = &entries(None, Some("https://example.com/#!/home"), None).records()[0];
        assert_eq!(record.regexp(), "!^.*$!https://example.com/#\\!/home!");
    }

    #[test]
    fn wrong_schemes_characters_and_shapes_are_refused_naming_the_field() {
        let bad = [
            entries(Some("tel:+82262006200"), None, None),
            entries(Some("sip:"), None, None),
            entries(Some("sip:alice@exa mple.com"), None, None),
            entries(Some("sip:alice@example.com\r\nVia: x"), None, None),
            entries(None, Some("ftp://example.com"), None),
            entries(None, Some("https://"), None),
            entries(None, Some("https://exämple.com/"), None),
            entries(None, Some("https://example.com/%zz"), None),
            entries(None, Some("javascript:alert(1)"), None),
            entries(None, None, Some("mailto:alice@example.com")),
            entries(None, None, Some("alice")),
            entries(None, None, Some("alice@")),
            entries(None, None, Some("a b@example.com")),
            entries(None, None, Some("alice@exa\u{7f}mple.com")),
        ];
        for listed in bad {
            let err = listed.validate().unwrap_err().to_string();
            assert!(err.starts_with("invalid "), "{listed:?}: {err}");
        }
    }

    #[test]
    fn entries_longer_than_a_dns_record_holds_are_refused() {
        let host = "a".repeat(limits::URI - "https://".len());
        let longest = entries(None, Some(&format!("https://{host}")), None);
        longest.validate().unwrap();
        assert_eq!(longest.records()[0].regexp().len(), 255);
        let longer = entries(None, Some(&format!("https://{host}a")), None);
        assert!(longer.validate().is_err());
        let bangs = entries(None, Some(&format!("https://{}/!", &host[2..])), None);
        assert!(bangs.validate().is_err(), "an escaped ! counts twice");
        let local = "a".repeat(limits::EMAIL - "@b.c".len());
        let mailbox = entries(None, None, Some(&format!("{local}@b.c")));
        mailbox.validate().unwrap();
        assert_eq!(mailbox.records()[0].regexp().len(), 255);
    }
}
