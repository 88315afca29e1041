//! Cutting a byte stream (TCP, TLS) into SIP messages (RFC 3261 §18.3) and
//! recognising RFC 5626 keep-alives.
//!
//! On a stream, Content-Length is the only way to find where a body ends, so
//! a negative, non-numeric or contradictory Content-Length makes the rest of
//! the stream unreadable: the connection must be closed. A header section or
//! body larger than the limit is refused the same way, so that a peer that
//! never stops sending cannot make the receiver buffer without bound.

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A complete message of this many bytes (including leading CRLFs, which
    /// the parser skips).
    Message(usize),
    /// A keep-alive "ping" (CRLF CRLF) of this many bytes: answer with a
    /// single CRLF "pong" (RFC 5626 §3.5.1).
    Ping(usize),
    /// A lone CRLF (a "pong", or noise between messages): discard these bytes.
    Skip(usize),
    /// More bytes are needed.
    Incomplete,
    /// The stream cannot be framed any more; close the connection.
    Invalid(&'static str),
}

/// Finds the first frame in `buf`. `max_message_len` bounds header section
/// plus body.
pub fn next_frame(buf: &[u8], max_message_len: usize) -> Frame {
    match buf {
        [] => return Frame::Incomplete,
        [b'\r', b'\n', b'\r', b'\n', ..] => return Frame::Ping(4),
        [b'\r', b'\n', b'\r'] | [b'\r', b'\n'] | [b'\r'] => return Frame::Incomplete,
        [b'\r', b'\n', ..] => return Frame::Skip(2),
        [b'\n', ..] => return Frame::Skip(1),
        _ => {}
    }
    let Some(headers_end) = find_headers_end(buf) else {
        if buf.len() > max_message_len {
            return Frame::Invalid("header section exceeds the message size limit");
        }
        return Frame::Incomplete;
    };
    let content_length = match content_length(&buf[..headers_end]) {
        Ok(n) => n.unwrap_or(0),
        Err(e) => return Frame::Invalid(e),
    };
    let total = headers_end.saturating_add(content_length);
    if total > max_message_len {
        return Frame::Invalid("message exceeds the message size limit");
    }
    if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Incomplete
    }
}

/// Index just after the blank line that ends the header section.
fn find_headers_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
        let at = from + i;
        match &buf[at + 1..] {
            [b'\r', b'\n', ..] => return Some(at + 3),
            [b'\n', ..] => return Some(at + 2),
            _ => from = at + 1,
        }
    }
    None
}

/// The Content-Length of a header section: `None` if absent; an error if
/// it is malformed or given twice with different values.
fn content_length(headers: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut found: Option<usize> = None;
    for line in headers.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err("Content-Length is not a valid number");
        }
        let n = value
            .iter()
            .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err("conflicting Content-Length values");
        }
        found = Some(n);
    }
    Ok(found)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 65_535;

    #[test]
    fn frames_by_content_length_and_leaves_the_rest() {
        let buf = b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabcNEXT";
        assert_eq!(next_frame(buf, LIMIT), Frame::Message(buf.len() - 4));
    }

    #[test]
    fn waits_for_the_body_and_the_blank_line() {
        assert_eq!(
            next_frame(
                b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc",
                LIMIT
            ),
            Frame::Incomplete
        );
        assert_eq!(
            next_frame(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n", LIMIT),
            Frame::Incomplete
        );
    }

    #[test]
    fn keep_alives() {
        assert_eq!(next_frame(b"\r\n\r\nOPTIONS", LIMIT), Frame::Ping(4));
        assert_eq!(next_frame(b"\r\nOPTIONS", LIMIT), Frame::Skip(2));
        assert_eq!(next_frame(b"\r\n", LIMIT), Frame::Incomplete);
    }

    #[test]
    fn broken_content_length_closes_the_stream() {
        assert!(matches!(
            next_frame(b"X sip:a SIP/2.0\r\nContent-Length: -999\r\n\r\n", LIMIT),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(
                b"X sip:a SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n",
                LIMIT
            ),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(
                b"X sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
                LIMIT
            ),
            Frame::Invalid(_)
        ));
    }

    #[test]
    fn endless_header_section_is_refused() {
        let endless = vec![b'a'; LIMIT + 1];
        assert!(matches!(next_frame(&endless, LIMIT), Frame::Invalid(_)));
    }

    #[test]
    fn missing_content_length_means_no_body() {
        assert_eq!(
            next_frame(b"X sip:a SIP/2.0\r\n\r\nv=0", LIMIT),
            Frame::Message(19)
        );
    }
}
