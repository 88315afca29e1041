//! `name-addr` and `addr-spec` with header parameters: the shape of From,
//! To, Contact, Route, Record-Route, P-Asserted-Identity… (RFC 3261 §20.10).

use std::borrow::Cow;

use crate::text::{self, ParamIter};
use crate::uri::{Uri, UriError};

/// `"Display" <uri>;params` or `uri;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display: Option<&'a str>,
    uri: &'a str,
    params: &'a str,
    bracketed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddrError(pub &'static str);

impl std::fmt::Display for NameAddrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl<'a> NameAddr<'a> {
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, NameAddrError> {
        let v = text::trim_lws(value);
        if v.is_empty() {
            return Err(NameAddrError("address is empty"));
        }
        let open_angle = text::find_unquoted(v, b'<').map_err(|e| NameAddrError(e.describe()))?;
        let addr = match open_angle {
            Some(open) => {
                let close = v[open..]
                    .find('>')
                    .map(|i| open + i)
                    .ok_or(NameAddrError("'<' without matching '>'"))?;
                let display = text::trim_lws(&v[..open]);
                let display = if display.is_empty() {
                    None
                } else {
                    check_display_name(display)?;
                    Some(display)
                };
                let uri = text::trim_lws(&v[open + 1..close]);
                let after = text::trim_lws(&v[close + 1..]);
                let params = match after.strip_prefix(';') {
                    Some(p) => p,
                    None if after.is_empty() => "",
                    None => return Err(NameAddrError("unexpected text after '>'")),
                };
                NameAddr {
                    display,
                    uri,
                    params,
                    bracketed: true,
                }
            }
            None => {
                // addr-spec: parameters after the URI belong to the header.
                let (uri, params) = match v.find(';') {
                    Some(s) => (text::trim_lws(&v[..s]), &v[s + 1..]),
                    None => (v, ""),
                };
                if uri.contains(|c: char| c.is_ascii() && text::is_lws(c as u8)) {
                    return Err(NameAddrError("address has white space inside its URI"));
                }
                if uri.contains(['?', ',']) {
                    return Err(NameAddrError(
                        "a URI with headers or commas must be enclosed in '<' '>'",
                    ));
                }
                NameAddr {
                    display: None,
                    uri,
                    params,
                    bracketed: false,
                }
            }
        };
        if addr.uri.is_empty() {
            return Err(NameAddrError("address has an empty URI"));
        }
        Ok(addr)
    }

    /// Parses and checks every header parameter too (what a validator
    /// wants; [`NameAddr::parse`] leaves parameters to be read on demand).
    pub fn parse_strict(value: &'a str) -> Result<NameAddr<'a>, NameAddrError> {
        let addr = NameAddr::parse(value)?;
        addr.params()
            .check()
            .map_err(|e| NameAddrError(e.describe()))?;
        Ok(addr)
    }

    /// The display name as written (quoted or not).
    pub fn raw_display_name(&self) -> Option<&'a str> {
        self.display
    }

    /// The display name with quotes and escapes resolved.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(text::unquote)
    }

    pub fn uri_str(&self) -> &'a str {
        self.uri
    }

    pub fn uri(&self) -> Result<Uri<'a>, UriError> {
        Uri::parse(self.uri)
    }

    pub fn is_bracketed(&self) -> bool {
        self.bracketed
    }

    /// Header parameters (after the address), raw.
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

    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }
}

/// display-name = *(token LWS) / quoted-string
fn check_display_name(d: &str) -> Result<(), NameAddrError> {
    if d.starts_with('"') {
        return match text::quoted_len(d.as_bytes()) {
            Ok(n) if n == d.len() => Ok(()),
            Ok(_) => Err(NameAddrError("text after the quoted display name")),
            Err(_) => Err(NameAddrError("display name has an unterminated quote")),
        };
    }
    let ok = d
        .bytes()
        .all(|b| text::is_token_char(b) || text::is_lws(b) || b >= 0x80);
    if ok {
        Ok(())
    } else {
        Err(NameAddrError(
            "unquoted display name has characters that need quotes",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_with_quoted_display_name_and_tag() {
        let a = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(a.display_name().unwrap(), r#"J Rosenberg \""#);
        assert_eq!(a.uri_str(), "sip:jdrosen@example.com");
        assert_eq!(a.tag(), Some("98asjd8"));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let a =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(a.uri_str(), "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(a.tag(), Some("1918181833n"));
        assert!(!a.is_bracketed());
    }

    #[test]
    fn no_space_before_angle_bracket() {
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name().unwrap(), "caller");
        assert_eq!(a.tag(), Some("323"));
    }

    #[test]
    fn uri_params_inside_brackets_are_not_header_params() {
        let a = NameAddr::parse("<sip:user@host;tag=inner>;tag=outer").unwrap();
        assert_eq!(a.tag(), Some("outer"));
        assert_eq!(a.uri().unwrap().param("tag"), Some(Some("inner")));
    }

    #[test]
    fn malformed_addresses() {
        for bad in [
            "",
            "\"unterminated <sip:a@b>",
            "<sip:a@b",
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>",
            "<sip:a@b>;;",
            "<sip:a@b> junk",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<>",
        ] {
            assert!(NameAddr::parse_strict(bad).is_err(), "{bad}");
        }
    }
}
