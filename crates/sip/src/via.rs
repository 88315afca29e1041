//! The Via header (RFC 3261 §20.42, §18.2.1) with the RFC 3581 `rport`.

use crate::text::{self, ParamIter, TextError};
use crate::uri;

/// The RFC 3261 branch prefix: a branch that starts with it identifies the
/// transaction on its own (§17.2.3).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value, e.g. `SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK77;rport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    protocol_name: &'a str,
    protocol_version: &'a str,
    transport: &'a str,
    host: &'a str,
    port: Option<u16>,
    params: &'a str,
}

/// Why a Via value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaError(pub &'static str);

impl std::fmt::Display for ViaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl<'a> Via<'a> {
    pub fn parse(value: &'a str) -> Result<Via<'a>, ViaError> {
        // Nearly every Via on the wire starts with exactly "SIP/2.0/": read
        // the protocol without the general tokenizer then.
        let (protocol_name, protocol_version, mut cur) = match value.strip_prefix("SIP/2.0/") {
            Some(_) => (&value[..3], &value[4..7], Cursor { s: value, pos: 8 }),
            None => {
                let mut cur = Cursor { s: value, pos: 0 };
                cur.skip_lws();
                let name = cur.token().ok_or(ViaError("Via has no protocol name"))?;
                cur.expect_sep(b'/')
                    .ok_or(ViaError("Via protocol is not name/version/transport"))?;
                let version = cur.token().ok_or(ViaError("Via has no protocol version"))?;
                cur.expect_sep(b'/')
                    .ok_or(ViaError("Via protocol is not name/version/transport"))?;
                (name, version, cur)
            }
        };
        let transport = cur.token().ok_or(ViaError("Via has no transport"))?;
        if cur.skip_lws() == 0 {
            return Err(ViaError("Via has no sent-by"));
        }
        let rest = &value[cur.pos..];
        let host_len = if rest.starts_with('[') {
            rest.find(']')
                .map(|i| i + 1)
                .ok_or(ViaError("Via IPv6 reference is not closed"))?
        } else {
            rest.bytes()
                .position(|c| c == b';' || c == b':' || c == b',' || text::is_lws(c))
                .unwrap_or(rest.len())
        };
        let host = &rest[..host_len];
        if !uri::is_valid_host(host) {
            return Err(ViaError("Via sent-by host is malformed"));
        }
        cur.pos += host_len;
        cur.skip_lws();
        let mut port = None;
        if cur.peek() == Some(b':') {
            cur.pos += 1;
            cur.skip_lws();
            let digits = cur.take_while(|c| c.is_ascii_digit());
            port = Some(
                uri::parse_port(digits).ok_or(ViaError("Via sent-by port is not a port number"))?,
            );
            cur.skip_lws();
        }
        let params = match cur.peek() {
            None => "",
            Some(b';') => &value[cur.pos + 1..],
            Some(_) => return Err(ViaError("Via has unexpected text after sent-by")),
        };
        Ok(Via {
            protocol_name,
            protocol_version,
            transport,
            host,
            port,
            params,
        })
    }

    /// Parses and checks every parameter too (what a validator wants;
    /// [`Via::parse`] leaves parameters to be read on demand).
    pub fn parse_strict(value: &'a str) -> Result<Via<'a>, ViaError> {
        let via = Via::parse(value)?;
        via.params().check().map_err(|e| match e {
            TextError::EmptyParameter => ViaError("Via has an empty parameter"),
            _ => ViaError("Via has a malformed parameter"),
        })?;
        Ok(via)
    }

    /// `SIP/2.0`, as the protocol name and version (compared
    /// case-insensitively by callers that care).
    pub fn protocol_name(&self) -> &'a str {
        self.protocol_name
    }
    pub fn protocol_version(&self) -> &'a str {
        self.protocol_version
    }
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`… as written.
    pub fn transport(&self) -> &'a str {
        self.transport
    }
    /// The sent-by host (an IPv6 reference keeps its brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The raw parameter text after the first `;`.
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
    pub fn branch(&self) -> Option<&'a str> {
        text::param_value(self.params, "branch")
    }
    /// True when the branch carries the RFC 3261 magic cookie and something
    /// after it, so that it can identify a transaction by itself.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }
    pub fn received(&self) -> Option<&'a str> {
        self.param("received").flatten()
    }
    /// `None`: no rport; `Some(None)`: rport asked for (no value yet);
    /// `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(uri::parse_port))
    }
    pub fn maddr(&self) -> Option<&'a str> {
        self.param("maddr").flatten()
    }

    /// The sent-by as `host[:port]`, as used in transaction matching.
    pub fn sent_by(&self) -> (&'a str, Option<u16>) {
        (self.host, self.port)
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn skip_lws(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(text::is_lws) {
            self.pos += 1;
        }
        self.pos - start
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(text::is_token_char);
        (!t.is_empty()).then_some(t)
    }
    fn expect_sep(&mut self, sep: u8) -> Option<()> {
        self.skip_lws();
        if self.peek() != Some(sep) {
            return None;
        }
        self.pos += 1;
        self.skip_lws();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_transport_sent_by_and_params() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK77;rport;received=10.0.0.1")
            .unwrap();
        assert_eq!(v.transport(), "UDP");
        assert_eq!(v.sent_by(), ("192.0.2.4", Some(5060)));
        assert_eq!(v.branch(), Some("z9hG4bK77"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("10.0.0.1"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn tolerates_lws_around_separators_and_folds() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), "UDP");
        assert_eq!(v.host(), "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/TCP h.example.com : 5070 ; rport = 5071").unwrap();
        assert_eq!(v.sent_by(), ("h.example.com", Some(5070)));
        assert_eq!(v.rport(), Some(Some(5071)));
    }

    #[test]
    fn ipv6_sent_by() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3").unwrap();
        assert_eq!(v.sent_by(), ("[2001:db8::9:1]", Some(5070)));
    }

    #[test]
    fn bare_magic_cookie_is_not_a_3261_branch() {
        let v = Via::parse("SIP/2.0/UDP h;branch=z9hG4bK").unwrap();
        assert!(!v.has_rfc3261_branch());
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP",
            "SIP/2.0 host",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host junk",
            "",
            "SIP/2.0/UDP [::1",
        ] {
            assert!(Via::parse_strict(bad).is_err(), "{bad}");
        }
    }
}
