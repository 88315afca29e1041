//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), read without copying.
//!
//! Every part is kept exactly as received: a user part `6200-6200%23082`
//! stays `%23` (see [`Uri::user`]); [`Uri::user_decoded`] resolves escapes,
//! and [`Uri::equivalent`] compares two URIs by the rules of §19.1.4.

use std::borrow::Cow;

use crate::text::{self, ParamIter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other scheme (`http:`, `isbn:`, `soap.beep:` …): carried, never routed.
    Other,
}

/// A URI borrowed from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme,
    scheme_str: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    params: &'a str,
    headers: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub &'static str);

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl<'a> Uri<'a> {
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, UriError> {
        let colon = raw.find(':').ok_or(UriError("URI has no scheme"))?;
        let scheme_str = &raw[..colon];
        if !is_valid_scheme(scheme_str) {
            return Err(UriError("URI scheme is malformed"));
        }
        let rest = &raw[colon + 1..];
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        if rest.is_empty() {
            return Err(UriError("URI is empty after its scheme"));
        }
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(UriError(
                "URI contains white space or a forbidden character",
            ));
        }
        let mut uri = Uri {
            raw,
            scheme,
            scheme_str,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: "",
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest)?,
            Scheme::Tel => uri.parse_tel(rest)?,
            Scheme::Other => {}
        }
        Ok(uri)
    }

    fn parse_sip(&mut self, rest: &'a str) -> Result<(), UriError> {
        // A raw '@' can only end the userinfo: everywhere else it must be escaped.
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(UriError("URI user part is empty"));
            }
            if !user.bytes().all(is_user_char) || !valid_escapes(user) {
                return Err(UriError("URI user part has a forbidden character"));
            }
            if let Some(p) = password {
                if !p.bytes().all(is_password_char) || !valid_escapes(p) {
                    return Err(UriError("URI password has a forbidden character"));
                }
            }
            self.user = Some(user);
            self.password = password;
        }
        let (hostport, params_headers) = split_hostport(hostpart);
        let (host, port) = split_port(hostport)?;
        if !is_valid_host(host) {
            return Err(UriError("URI host is malformed"));
        }
        self.host = host;
        self.port = port;
        let (params, headers) = if let Some(rest) = params_headers.strip_prefix(';') {
            rest.split_once('?').unwrap_or((rest, ""))
        } else {
            ("", params_headers.strip_prefix('?').unwrap_or(""))
        };
        if !params.is_empty() {
            text::params(params)
                .check()
                .map_err(|_| UriError("URI has a malformed parameter"))?;
        }
        self.params = params;
        self.headers = headers;
        Ok(())
    }

    fn parse_tel(&mut self, rest: &'a str) -> Result<(), UriError> {
        let (number, params) = match rest.find(';') {
            Some(s) => (&rest[..s], &rest[s + 1..]),
            None => (rest, ""),
        };
        let digits = number.strip_prefix('+').unwrap_or(number);
        let ok = !digits.is_empty()
            && digits.bytes().all(|b| {
                b.is_ascii_hexdigit() || matches!(b, b'*' | b'#' | b'-' | b'.' | b'(' | b')' | b'%')
            });
        if !ok {
            return Err(UriError("tel URI number is malformed"));
        }
        if !params.is_empty() {
            text::params(params)
                .check()
                .map_err(|_| UriError("tel URI has a malformed parameter"))?;
        }
        self.user = Some(number);
        self.params = params;
        Ok(())
    }

    pub fn as_str(&self) -> &'a str {
        self.raw
    }
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    pub fn scheme_str(&self) -> &'a str {
        self.scheme_str
    }
    /// The user part exactly as received (escapes kept), or for `tel:` the
    /// number.
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }
    /// The user part with `%HH` escapes resolved.
    pub fn user_decoded(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(text::percent_decode)
    }
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }
    /// The host (IPv6 references keep their brackets); empty for tel and
    /// unknown schemes.
    pub fn host(&self) -> &'a str {
        self.host
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// Raw URI parameters after the first `;` (without the headers).
    pub fn raw_params(&self) -> &'a str {
        self.params
    }
    pub fn params(&self) -> ParamIter<'a> {
        text::params(self.params)
    }
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        if self.params.is_empty() {
            return None;
        }
        self.params().find(name)
    }
    /// Raw URI headers after `?`.
    pub fn raw_headers(&self) -> &'a str {
        self.headers
    }
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }
    /// `;lr` present: the element is a loose router (RFC 3261 §16.4).
    pub fn is_loose_router(&self) -> bool {
        self.param("lr").is_some()
    }

    /// URI equivalence of RFC 3261 §19.1.4.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if self.scheme == Scheme::Other {
            return self.scheme_str.eq_ignore_ascii_case(other.scheme_str)
                && self.raw[self.scheme_str.len()..] == other.raw[other.scheme_str.len()..];
        }
        if self.scheme == Scheme::Tel {
            let norm = |s: &str| -> String {
                s.chars()
                    .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
                    .collect::<String>()
                    .to_ascii_lowercase()
            };
            return self.user.map(norm) == other.user.map(norm)
                && params_equivalent(self.params, other.params);
        }
        self.user_decoded() == other.user_decoded()
            && self.password.map(text::percent_decode) == other.password.map(text::percent_decode)
            && self.host.eq_ignore_ascii_case(other.host)
            && self.port == other.port
            && params_equivalent(self.params, other.params)
            && headers_equivalent(self.headers, other.headers)
    }
}

impl std::fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.raw)
    }
}

/// Parameters that must match when either side has them (§19.1.4).
const STRICT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

fn params_equivalent(a: &str, b: &str) -> bool {
    let value = |s: &str, name: &str| -> Option<Option<Vec<u8>>> {
        if s.is_empty() {
            return None;
        }
        text::params(s)
            .find(name)
            .map(|v| v.map(|v| text::percent_decode(v).to_ascii_lowercase()))
    };
    for name in STRICT_PARAMS {
        if value(a, name) != value(b, name) {
            return false;
        }
    }
    // Any other parameter present on both sides must have the same value.
    for p in text::params(a).flatten() {
        if STRICT_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(p.name)) {
            continue;
        }
        if let Some(other) = value(b, p.name) {
            if Some(other) != value(a, p.name) {
                return false;
            }
        }
    }
    true
}

fn headers_equivalent(a: &str, b: &str) -> bool {
    let pairs = |s: &str| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = s
            .split('&')
            .filter(|h| !h.is_empty())
            .map(|h| {
                let (n, val) = h.split_once('=').unwrap_or((h, ""));
                (
                    n.to_ascii_lowercase(),
                    text::percent_decode(val).into_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    pairs(a) == pairs(b)
}

/// Splits `host[:port]` from what follows it (`;params` and/or `?headers`).
fn split_hostport(s: &str) -> (&str, &str) {
    let search_from = if s.starts_with('[') {
        s.find(']').unwrap_or(0)
    } else {
        0
    };
    let end = s[search_from..]
        .find([';', '?'])
        .map_or(s.len(), |i| search_from + i);
    s.split_at(end)
}

fn split_port(s: &str) -> Result<(&str, Option<u16>), UriError> {
    let port_colon = if s.starts_with('[') {
        let close = s
            .find(']')
            .ok_or(UriError("URI IPv6 reference is not closed"))?;
        match &s[close + 1..] {
            "" => None,
            r if r.starts_with(':') => Some(close + 1),
            _ => return Err(UriError("URI host is malformed")),
        }
    } else {
        s.find(':')
    };
    match port_colon {
        Some(c) => {
            let port = parse_port(&s[c + 1..]).ok_or(UriError("URI port is not a port number"))?;
            Ok((&s[..c], Some(port)))
        }
        None => Ok((s, None)),
    }
}

/// A decimal port number 0–65535.
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for b in s.bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + u32::from(digit);
    }
    u16::try_from(n).ok()
}

/// hostname / IPv4address / IPv6reference (RFC 3261 §25.1), leniently: a
/// hostname is labels of letters, digits, `-` and `_`, separated by single
/// dots.
pub fn is_valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let b = h.as_bytes();
    if b.is_empty() || b.len() > 255 || b[0] == b'.' {
        return false;
    }
    let mut previous = 0u8;
    b.iter().all(|&c| {
        let ok = text::is_host_char(c) && !(c == b'.' && previous == b'.');
        previous = c;
        ok
    })
}

fn is_valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
        )
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'%', &b[i..]) {
        let at = i + p;
        if at + 2 >= b.len() {
            return false;
        }
        if !(b[at + 1].is_ascii_hexdigit() && b[at + 2].is_ascii_hexdigit()) {
            return false;
        }
        i = at + 3;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri<'_> {
        Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sip_uri_parts() {
        let u = uri(
            "sip:alice:secret@atlanta.example.com:5070;transport=tcp;lr?subject=x&priority=urgent",
        );
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host(), "atlanta.example.com");
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.is_loose_router());
        assert_eq!(u.raw_headers(), "subject=x&priority=urgent");
    }

    #[test]
    fn escapes_are_preserved_exactly_and_decoded_on_demand() {
        let u = uri("sip:6200-6200%23082@callex.example.net");
        assert_eq!(u.user(), Some("6200-6200%23082"));
        assert_eq!(&*u.user_decoded().unwrap(), b"6200-6200#082");
        assert_eq!(u.as_str(), "sip:6200-6200%23082@callex.example.net");
    }

    #[test]
    fn unusual_but_legal_user_parts() {
        let u = uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(u.host(), "example.com");
        let u = uri("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        let u = uri("sip:null-%00-null@example.com");
        assert_eq!(&*u.user_decoded().unwrap(), b"null-\0-null");
    }

    #[test]
    fn ipv6_references() {
        let u = uri("sip:[2001:db8::10]:5070;transport=udp");
        assert_eq!(u.host(), "[2001:db8::10]");
        assert_eq!(u.port(), Some(5070));
        let u = uri("sip:alice@[2001:db8::10]");
        assert_eq!(u.port(), None);
        assert!(Uri::parse("sip:[2001:db8::zz]").is_err());
    }

    #[test]
    fn tel_and_unknown_schemes() {
        let u = uri("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(u.scheme(), Scheme::Tel);
        assert_eq!(u.user(), Some("+1-201-555-0123"));
        assert_eq!(uri("isbn:2983792873").scheme(), Scheme::Other);
        assert_eq!(uri("soap.beep://192.0.2.103:3002").scheme(), Scheme::Other);
    }

    #[test]
    fn malformed_uris_are_errors() {
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com lr",
            "sip:",
            "sip:@host",
            "sip:a@host:99999",
            "sip:a%4@host",
            "sip:a@ho st",
            "no-scheme",
            "1sip:a@b",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn equivalence_follows_rfc3261_19_1_4() {
        let eq = |a: &str, b: &str| uri(a).equivalent(&uri(b));
        // The RFC's examples of equivalent URIs.
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        // And of URIs that are not.
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp"
        ));
        assert!(!eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
        // %23 and # are the same user.
        assert!(eq("sip:6200-6200%23082@h", "sip:6200-6200%23082@H"));
        assert!(!eq("sips:a@h", "sip:a@h"));
    }
}
