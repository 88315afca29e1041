//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3), written into a
//! reused buffer from the borrowed fields of a parsed message: nothing is
//! allocated to look a transaction up, and the key is hashed once.
//!
//! Every field is written with its length in front, so that no two
//! different field lists give the same bytes. Fields compared
//! case-insensitively (tokens and host names, RFC 3261 §7.3.1) are written
//! lower-cased; Call-ID, Request-URI and the top Via of the RFC 2543 rule are
//! compared as written.

use crate::message::Message;
use crate::via::{Via, MAGIC_COOKIE};

use super::Refusal;

/// First byte of a key: which rule made it, so that keys of different rules
/// never compare equal.
const CLIENT: u8 = b'c';
const SERVER: u8 = b's';
const SERVER_2543: u8 = b'2';

/// How a server transaction was matched, and what the RFC 2543 rule still
/// has to compare outside the key (the To tag, which for an ACK is the To
/// tag of the response, not of the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule<'m> {
    Rfc3261,
    Rfc2543 { to_tag: Option<&'m str> },
}

fn push_len(buf: &mut Vec<u8>, len: usize) {
    // Header values are far below 4 GiB (the parser refuses larger input).
    buf.extend_from_slice(&(len as u32).to_le_bytes());
}

fn push(buf: &mut Vec<u8>, s: &str) {
    push_len(buf, s.len());
    buf.extend_from_slice(s.as_bytes());
}

fn push_lower(buf: &mut Vec<u8>, s: &str) {
    push_len(buf, s.len());
    buf.extend(s.bytes().map(|b| b.to_ascii_lowercase()));
}

/// §17.1.3: the branch of the top Via and the CSeq method (the request's
/// method when the key is made for the request being sent).
pub(super) fn client_key(buf: &mut Vec<u8>, branch: &str, method: &str) {
    buf.clear();
    buf.push(CLIENT);
    push(buf, method);
    push_lower(buf, branch);
}

/// §17.2.3: the key of a request at a server, `method` standing for the
/// request's method (INVITE for an ACK, and for the CANCEL lookup).
///
/// A branch with the magic cookie and something after it identifies the
/// transaction with the sent-by; any other branch (none, RFC 2543's, or a
/// bare `z9hG4bK`) falls back to the RFC 2543 rule: Request-URI, From tag,
/// Call-ID, CSeq number, method and top Via here, the To tag by the caller.
pub(super) fn server_key<'m>(
    buf: &mut Vec<u8>,
    request: &'m Message,
    via: &Via<'m>,
    method: &str,
) -> Result<Rule<'m>, Refusal> {
    buf.clear();
    // Via::has_rfc3261_branch(), without looking the branch up twice.
    let branch = via
        .branch()
        .filter(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE));
    if let Some(branch) = branch {
        buf.push(SERVER);
        push(buf, method);
        push_lower(buf, branch);
        let (host, port) = via.sent_by();
        push_lower(buf, host);
        match port {
            Some(port) => {
                buf.push(1);
                buf.extend_from_slice(&port.to_le_bytes());
            }
            None => buf.push(0),
        }
        return Ok(Rule::Rfc3261);
    }
    let call_id = request.call_id().ok_or(Refusal::NoCallId)?;
    let cseq = request.cseq().ok_or(Refusal::NoCSeq)?;
    let top_via = request.top_via_text().ok_or(Refusal::NoVia)?;
    buf.push(SERVER_2543);
    push(buf, method);
    buf.extend_from_slice(&cseq.seq.to_le_bytes());
    push(buf, call_id);
    match request.from_tag() {
        Some(tag) => {
            buf.push(1);
            push_lower(buf, tag);
        }
        None => buf.push(0),
    }
    push(buf, request.request_uri_str().unwrap_or_default());
    push(buf, top_via);
    Ok(Rule::Rfc2543 {
        to_tag: request.to_tag(),
    })
}

/// To tags compare as tokens: case-insensitively.
pub(super) fn same_tag(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Message {
        Message::parse_datagram(bytes::Bytes::copy_from_slice(text.as_bytes())).unwrap()
    }

    fn key_of(text: &str, method: &str) -> (Vec<u8>, bool) {
        let msg = request(text);
        let via = msg.top_via().unwrap();
        let mut buf = Vec::new();
        let rule = server_key(&mut buf, &msg, &via, method).unwrap();
        (buf, rule == Rule::Rfc3261)
    }

    const OPTIONS: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKAbC\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@b>;tag=F\r\nTo: <sip:b@c>\r\n\r\n";

    #[test]
    fn branch_and_host_compare_case_insensitively_port_exactly() {
        let (a, rfc3261) = key_of(OPTIONS, "OPTIONS");
        assert!(rfc3261);
        let (b, _) = key_of(
            &OPTIONS.replace(
                "Host.Example:5060;branch=z9hG4bKAbC",
                "host.example:5060;branch=z9hG4bKabc",
            ),
            "OPTIONS",
        );
        assert_eq!(a, b);
        let (c, _) = key_of(&OPTIONS.replace(":5060", ""), "OPTIONS");
        assert_ne!(a, c);
        let (d, _) = key_of(OPTIONS, "INVITE");
        assert_ne!(a, d);
    }

    #[test]
    fn fields_are_length_prefixed_so_shifted_boundaries_differ() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        client_key(&mut x, "z9hG4bKab", "INVITE");
        client_key(&mut y, "b", "INVITEz9hG4bKa");
        assert_ne!(x, y);
    }

    #[test]
    fn bare_magic_cookie_falls_back_to_rfc_2543() {
        let (_, rfc3261) = key_of(&OPTIONS.replace("z9hG4bKAbC", "z9hG4bK"), "OPTIONS");
        assert!(!rfc3261);
        let msg = request(
            &OPTIONS
                .replace("z9hG4bKAbC", "1")
                .replace("Call-ID: x\r\n", ""),
        );
        let via = msg.top_via().unwrap();
        assert_eq!(
            server_key(&mut Vec::new(), &msg, &via, "OPTIONS"),
            Err(Refusal::NoCallId)
        );
    }
}
