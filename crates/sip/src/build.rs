//! The serializer: builds requests and responses, and re-emits a received
//! message with edits. Fields that are not touched are copied byte for byte
//! (folds and compact names included); a message with no edit at all is
//! returned as the very bytes it was parsed from.
//!
//! The result is a [`Message`] indexed while it is written, so nothing is
//! parsed twice. Fields taken from a received message are not copied until
//! the message is written (the builder refers to the received buffer), and
//! the output is allocated once, at its exact size.

use std::ops::Range;

use bytes::Bytes;

use crate::header::HeaderName;
use crate::message::{Field, Message, Method, Span, StartLine};

/// Where a line's bytes are: the builder's own text, or the received
/// message it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Text,
    Source,
}

/// One header line to be written.
#[derive(Debug, Clone, Copy)]
struct OutField {
    name: HeaderName,
    src: Src,
    start: u32,
    end: u32,
    name_len: u32,
    /// Offset of the value from `start`.
    value_start: u32,
}

#[derive(Debug, Clone)]
enum Start {
    /// The Request-URI is a range of the builder's text.
    Request { method: Method, uri: Range<u32> },
    /// The reason phrase is a range of the builder's text.
    Response { status: u16, reason: Range<u32> },
    /// The start line of the source message, as received.
    Raw { span: Span, parsed: StartLine },
}

/// Builds a message field by field.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    start: Start,
    /// Text written by the builder (new fields, URIs, reasons), back to back.
    text: String,
    /// The received message that `Src::Source` fields lie in.
    source: Option<Bytes>,
    fields: Vec<OutField>,
    body: Bytes,
    /// The message this builder was made from, while it is unchanged.
    original: Option<Message>,
}

impl MessageBuilder {
    pub fn request(method: Method, uri: &str) -> MessageBuilder {
        let mut b = MessageBuilder::empty();
        let uri = b.push_text(uri);
        b.start = Start::Request { method, uri };
        b
    }

    pub fn response(status: u16, reason: &str) -> MessageBuilder {
        let mut b = MessageBuilder::empty();
        let reason = b.push_text(reason);
        // Status codes are three digits; anything else is clamped into range.
        b.start = Start::Response {
            status: status.clamp(100, 699),
            reason,
        };
        b
    }

    fn empty() -> MessageBuilder {
        MessageBuilder {
            start: Start::Response {
                status: 500,
                reason: 0..0,
            },
            text: String::with_capacity(256),
            source: None,
            fields: Vec::with_capacity(12),
            body: Bytes::new(),
            original: None,
        }
    }

    fn push_text(&mut self, s: &str) -> Range<u32> {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        start..self.text.len() as u32
    }

    /// A new `name: value` line in the builder's text.
    fn new_field(&mut self, name: HeaderName, raw_name: &str, value: &str) -> OutField {
        let start = self.text.len();
        self.text.push_str(raw_name);
        self.text.push_str(": ");
        self.text.push_str(value);
        OutField {
            name,
            src: Src::Text,
            start: start as u32,
            end: self.text.len() as u32,
            name_len: raw_name.len() as u32,
            value_start: raw_name.len() as u32 + 2,
        }
    }

    /// A received field's line, exactly as received: referred to when it lies
    /// in the builder's source message, copied otherwise.
    fn copy_field(&mut self, msg: &Message, f: &Field) -> OutField {
        let bytes = msg.bytes();
        let same_source = match &self.source {
            None => {
                self.source = Some(bytes);
                true
            }
            Some(src) => src.as_ptr() == bytes.as_ptr() && src.len() == bytes.len(),
        };
        let name_len = f.name_span.end - f.name_span.start;
        let value_start = f.value.start - f.line.start;
        if same_source {
            return OutField {
                name: f.name,
                src: Src::Source,
                start: f.line.start,
                end: f.line.end,
                name_len,
                value_start,
            };
        }
        let range = self.push_text(msg.raw_slice(f.line));
        OutField {
            name: f.name,
            src: Src::Text,
            start: range.start,
            end: range.end,
            name_len,
            value_start,
        }
    }

    fn bytes_of(&self, src: Src, start: u32, end: u32) -> &[u8] {
        let all = match src {
            Src::Text => self.text.as_bytes(),
            Src::Source => self.source.as_deref().unwrap_or_default(),
        };
        all.get(start as usize..end as usize).unwrap_or_default()
    }

    fn str_of(&self, src: Src, start: u32, end: u32) -> &str {
        // Source ranges index a header section checked to be UTF-8 when it
        // was parsed, on char boundaries: this never fails in practice.
        std::str::from_utf8(self.bytes_of(src, start, end)).unwrap_or_default()
    }

    fn value_of(&self, f: &OutField) -> &str {
        let from = (f.start + f.value_start).min(f.end);
        self.str_of(f.src, from, f.end)
    }

    fn raw_name_of(&self, f: &OutField) -> &str {
        self.str_of(f.src, f.start, f.start + f.name_len)
    }

    /// A builder holding every field of `msg` as received, to forward it with
    /// edits.
    pub fn edit(msg: &Message) -> MessageBuilder {
        let mut b = MessageBuilder::empty();
        b.start = Start::Raw {
            span: msg.start_line_span(),
            parsed: msg.start_line().clone(),
        };
        for f in msg.raw_fields() {
            let field = b.copy_field(msg, f);
            b.fields.push(field);
        }
        b.source = Some(msg.bytes());
        b.body = msg.bytes().slice(msg.header_section().len()..);
        b.original = Some(msg.clone());
        b
    }

    fn touched(&mut self) -> &mut Self {
        self.original = None;
        self
    }

    /// Appends a field.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.touched();
        let field = self.new_field(name, name.as_str(), value);
        self.fields.push(field);
        self
    }

    /// Appends a field with a name Callex does not know (`X-…`).
    pub fn header_named(mut self, name: &str, value: &str) -> Self {
        self.touched();
        let known = HeaderName::from_name(name);
        let field = self.new_field(known, name, value);
        self.fields.push(field);
        self
    }

    /// Inserts a field before every other field of the same name (or at
    /// the top when there is none): how a Via or Record-Route is added.
    pub fn prepend(mut self, name: HeaderName, value: &str) -> Self {
        self.touched();
        let at = self.fields.iter().position(|f| f.name == name).unwrap_or(0);
        let field = self.new_field(name, name.as_str(), value);
        self.fields.insert(at, field);
        self
    }

    /// Removes every field called `name`.
    pub fn remove(mut self, name: HeaderName) -> Self {
        self.touched();
        self.fields.retain(|f| f.name != name);
        self
    }

    /// Replaces every field called `name` by one field with `value`, at the
    /// place of the first.
    pub fn replace(mut self, name: HeaderName, value: &str) -> Self {
        self.touched();
        let at = self.fields.iter().position(|f| f.name == name);
        self.fields.retain(|f| f.name != name);
        let field = self.new_field(name, name.as_str(), value);
        match at {
            Some(at) => self.fields.insert(at.min(self.fields.len()), field),
            None => self.fields.push(field),
        }
        self
    }

    /// Removes the first value of the first field called `name`: the top Via
    /// of a response being forwarded, the top Route being consumed.
    pub fn remove_first_value(mut self, name: HeaderName) -> Self {
        self.touched();
        if let Some(at) = self.fields.iter().position(|f| f.name == name) {
            let value = self.value_of(&self.fields[at]).to_owned();
            match crate::text::find_unquoted(&value, b',') {
                Ok(Some(comma)) => {
                    let rest = crate::text::trim_lws(&value[comma + 1..]);
                    let raw_name = self.raw_name_of(&self.fields[at]).to_owned();
                    self.fields[at] = self.new_field(name, &raw_name, rest);
                }
                _ => {
                    self.fields.remove(at);
                }
            }
        }
        self
    }

    /// Sets the Request-URI of a request.
    pub fn request_uri(mut self, uri: &str) -> Self {
        self.touched();
        let method = match &self.start {
            Start::Request { method, .. } => method.clone(),
            Start::Raw {
                parsed: StartLine::Request { method, .. },
                ..
            } => method.clone(),
            _ => return self,
        };
        let uri = self.push_text(uri);
        self.start = Start::Request { method, uri };
        self
    }

    /// Adds `;tag=…` to the To field when it has no tag yet (§8.2.6.2).
    pub fn to_tag(mut self, tag: &str) -> Self {
        if let Some(at) = self.fields.iter().position(|f| f.name == HeaderName::To) {
            let field = self.fields[at];
            if crate::message::tag_of(self.value_of(&field)).is_none() {
                // The line is written again in the builder's text, with the
                // tag after it.
                let start = self.text.len() as u32;
                let range = field.start as usize..field.end as usize;
                match (field.src, &self.source) {
                    (Src::Source, Some(source)) => {
                        // A UTF-8 header section, cut on char boundaries.
                        let line = source.get(range).unwrap_or_default();
                        self.text
                            .push_str(std::str::from_utf8(line).unwrap_or_default());
                    }
                    (Src::Source, None) => {}
                    (Src::Text, _) => self.text.extend_from_within(range),
                }
                self.text.push_str(";tag=");
                self.text.push_str(tag);
                self.fields[at] = OutField {
                    src: Src::Text,
                    start,
                    end: self.text.len() as u32,
                    ..field
                };
                self.original = None;
            }
        }
        self
    }

    /// Sets the body and its Content-Type (an empty body removes both).
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.touched();
        self.body = body.into();
        self.fields.retain(|f| f.name != HeaderName::ContentType);
        if !self.body.is_empty() {
            let field = self.new_field(
                HeaderName::ContentType,
                HeaderName::ContentType.as_str(),
                content_type,
            );
            self.fields.push(field);
        }
        self
    }

    /// The value of the first field called `name` as it stands in the builder.
    pub fn get(&self, name: HeaderName) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| self.value_of(f))
    }

    /// Makes Content-Length appear once and state the body's length.
    fn settle_content_length(&mut self) {
        let mut length = [0u8; 20];
        let length = decimal(self.body.len(), &mut length);
        let mut seen = false;
        self.fields
            .retain(|f| f.name != HeaderName::ContentLength || !std::mem::replace(&mut seen, true));
        match self
            .fields
            .iter()
            .position(|f| f.name == HeaderName::ContentLength)
        {
            Some(at) => {
                let field = self.fields[at];
                if self.value_of(&field).trim() != length {
                    let raw_name = self.raw_name_of(&field).to_owned();
                    self.fields[at] = self.new_field(field.name, &raw_name, length);
                }
            }
            None => {
                let name = HeaderName::ContentLength;
                let field = self.new_field(name, name.as_str(), length);
                self.fields.push(field);
            }
        }
    }

    /// Writes the message. Content-Length always states the body's length.
    pub fn build(mut self) -> Message {
        if let Some(original) = self.original.take() {
            return original;
        }
        self.settle_content_length();
        let start_len = match &self.start {
            Start::Request { method, uri } => {
                method.as_str().len() + (uri.end - uri.start) as usize + 9
            }
            Start::Response { reason, .. } => 12 + (reason.end - reason.start) as usize,
            Start::Raw { span, .. } => (span.end - span.start) as usize,
        };
        let size = start_len
            + 2
            + self
                .fields
                .iter()
                .map(|f| (f.end - f.start) as usize + 2)
                .sum::<usize>()
            + 2
            + self.body.len();
        // Sized exactly, so that the buffer becomes `Bytes` without another
        // allocation or copy.
        let mut out = Vec::with_capacity(size);
        let start = match &self.start {
            Start::Request { method, uri } => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                let uri_span = push(&mut out, self.bytes_of(Src::Text, uri.start, uri.end));
                out.push(b' ');
                let version = push(&mut out, b"SIP/2.0");
                StartLine::Request {
                    method: method.clone(),
                    uri: uri_span,
                    version,
                }
            }
            Start::Response { status, reason } => {
                let version = push(&mut out, b"SIP/2.0");
                let digits = [
                    b'0' + (status / 100) as u8,
                    b'0' + (status / 10 % 10) as u8,
                    b'0' + (status % 10) as u8,
                ];
                out.push(b' ');
                out.extend_from_slice(&digits);
                out.push(b' ');
                let reason = push(&mut out, self.bytes_of(Src::Text, reason.start, reason.end));
                StartLine::Response {
                    version,
                    status: *status,
                    reason,
                }
            }
            Start::Raw { span, parsed } => {
                out.extend_from_slice(self.bytes_of(Src::Source, span.start, span.end));
                shift_start(parsed.clone(), span.start)
            }
        };
        out.extend_from_slice(b"\r\n");
        let fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| {
                let line = self.bytes_of(f.src, f.start, f.end);
                write_field(
                    &mut out,
                    f.name,
                    line,
                    f.name_len as usize,
                    f.value_start as usize,
                )
            })
            .collect();
        out.extend_from_slice(b"\r\n");
        let headers_end = out.len();
        out.extend_from_slice(&self.body);
        debug_assert_eq!(out.len(), size);
        Message::from_parts(Bytes::from(out), start, fields, headers_end)
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

fn push(out: &mut Vec<u8>, s: &[u8]) -> Span {
    let start = out.len();
    out.extend_from_slice(s);
    Span::new(start, out.len())
}

fn write_field(
    out: &mut Vec<u8>,
    name: HeaderName,
    line: &[u8],
    name_len: usize,
    value_start: usize,
) -> Field {
    let start = out.len();
    out.extend_from_slice(line);
    let end = out.len();
    out.extend_from_slice(b"\r\n");
    Field {
        name,
        name_span: Span::new(start, start + name_len),
        value: Span::new(start + value_start.min(line.len()), end),
        line: Span::new(start, end),
    }
}

fn shift_start(parsed: StartLine, offset: u32) -> StartLine {
    let shift = |s: Span| Span {
        start: s.start - offset,
        end: s.end - offset,
    };
    match parsed {
        StartLine::Request {
            method,
            uri,
            version,
        } => StartLine::Request {
            method,
            uri: shift(uri),
            version: shift(version),
        },
        StartLine::Response {
            version,
            status,
            reason,
        } => StartLine::Response {
            version: shift(version),
            status,
            reason: shift(reason),
        },
    }
}

/// The headers every response copies from its request (§8.2.6.2): Via
/// (all of them, in order), From, To, Call-ID, CSeq.
const COPIED_TO_RESPONSE: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// Starts a response to `req` (RFC 3261 §8.2.6): status line, the Via,
/// From, To, Call-ID and CSeq fields of the request copied as received (and
/// Timestamp for 100 Trying, §8.2.6.1). Add a To tag with
/// [`MessageBuilder::to_tag`] for anything but 100.
pub fn response(req: &Message, status: u16, reason: &str) -> MessageBuilder {
    let mut b = MessageBuilder::response(status, reason);
    for f in req.raw_fields() {
        if COPIED_TO_RESPONSE.contains(&f.name)
            || (status == 100 && f.name == HeaderName::Timestamp)
        {
            let field = b.copy_field(req, f);
            b.fields.push(field);
        }
    }
    b
}

/// The request as the receiving transport must hand it on (RFC 3261
/// §18.2.1, RFC 3581 §4): its top Via gets `received` with the packet's
/// source address when that differs from the sent-by host (or when rport is
/// asked for), and `rport` with the source port when the client asked for it
/// (`;rport` without a value). Responses built from the result then go back
/// to where the request really came from, through NATs. A request that needs
/// neither comes back unchanged, bytes and all.
pub fn stamp_received(req: &Message, source: std::net::SocketAddr) -> Message {
    let Some(via) = req.top_via() else {
        return req.clone();
    };
    let wants_rport = via.rport() == Some(None);
    let host = via.host().trim_start_matches('[').trim_end_matches(']');
    let same_host = host.parse::<std::net::IpAddr>() == Ok(source.ip());
    if same_host && !wants_rport {
        return req.clone();
    }
    let Some(top) = req.top_via_text() else {
        return req.clone();
    };
    // The Via up to its parameters, then every parameter but the two we set.
    let head_len = top.len() - via.raw_params().len();
    let mut value = top[..head_len].trim_end_matches(';').to_owned();
    for p in via.params().flatten() {
        if p.name.eq_ignore_ascii_case("received") || p.name.eq_ignore_ascii_case("rport") {
            continue;
        }
        value.push(';');
        value.push_str(p.name);
        if let Some(v) = p.value {
            value.push('=');
            value.push_str(v);
        }
    }
    value.push_str(";received=");
    value.push_str(&source.ip().to_string());
    if wants_rport {
        value.push_str(";rport=");
        value.push_str(&source.port().to_string());
    }
    MessageBuilder::edit(req)
        .remove_first_value(HeaderName::Via)
        .prepend(HeaderName::Via, &value)
        .build()
}

/// The reason phrase RFC 3261 (and its extensions) gives a status code.
pub fn default_reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

/// The ACK a client transaction sends for a non-2xx final response to
/// `invite` (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From, CSeq
/// number and top Via as the INVITE, the To of the response, the INVITE's
/// Route set.
pub fn ack_for_non_2xx(invite: &Message, response: &Message) -> Message {
    let uri = invite.request_uri_str().unwrap_or_default();
    let mut b = MessageBuilder::request(Method::Ack, uri);
    if let Some(via) = invite.top_via_text() {
        let field = b.new_field(HeaderName::Via, "Via", via);
        b.fields.push(field);
    }
    copy_into(&mut b, invite, HeaderName::MaxForwards);
    copy_into(&mut b, invite, HeaderName::From);
    copy_into(&mut b, response, HeaderName::To);
    copy_into(&mut b, invite, HeaderName::CallId);
    let seq = invite.cseq().map_or(0, |c| c.seq);
    let field = b.new_field(HeaderName::CSeq, "CSeq", &format!("{seq} ACK"));
    b.fields.push(field);
    for f in invite
        .raw_fields()
        .iter()
        .filter(|f| f.name == HeaderName::Route)
    {
        let field = b.copy_field(invite, f);
        b.fields.push(field);
    }
    b.build()
}

/// The CANCEL for `request` (RFC 3261 §9.1): same Request-URI, Call-ID,
/// From, To, CSeq number and top Via; Route copied.
pub fn cancel(request: &Message) -> Message {
    let uri = request.request_uri_str().unwrap_or_default();
    let mut b = MessageBuilder::request(Method::Cancel, uri);
    if let Some(via) = request.top_via_text() {
        let field = b.new_field(HeaderName::Via, "Via", via);
        b.fields.push(field);
    }
    copy_into(&mut b, request, HeaderName::MaxForwards);
    copy_into(&mut b, request, HeaderName::From);
    copy_into(&mut b, request, HeaderName::To);
    copy_into(&mut b, request, HeaderName::CallId);
    let seq = request.cseq().map_or(0, |c| c.seq);
    let field = b.new_field(HeaderName::CSeq, "CSeq", &format!("{seq} CANCEL"));
    b.fields.push(field);
    for f in request
        .raw_fields()
        .iter()
        .filter(|f| f.name == HeaderName::Route)
    {
        let field = b.copy_field(request, f);
        b.fields.push(field);
    }
    b.build()
}

fn copy_into(b: &mut MessageBuilder, from: &Message, name: HeaderName) {
    if let Some(f) = from.raw_fields().iter().find(|f| f.name == name) {
        let field = b.copy_field(from, f);
        b.fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKpx\r\n\
Max-Forwards: 70\r\n\
t: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Subject: folded\r\n  subject\r\n\
Content-Length: 0\r\n\r\n";

    fn req() -> Message {
        Message::parse_datagram(Bytes::from_static(REQ)).unwrap()
    }

    #[test]
    fn unchanged_message_is_re_emitted_byte_for_byte() {
        let m = req();
        assert_eq!(MessageBuilder::edit(&m).build().as_bytes(), REQ);
    }

    #[test]
    fn untouched_fields_keep_their_bytes_when_others_change() {
        let m = req();
        let out = MessageBuilder::edit(&m)
            .prepend(
                HeaderName::Via,
                "SIP/2.0/UDP callex.example.net;branch=z9hG4bKnew",
            )
            .build();
        let text = String::from_utf8(out.as_bytes().to_vec()).unwrap();
        assert!(text.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP callex.example.net;branch=z9hG4bKnew\r\nv: SIP/2.0/UDP pc33"));
        assert!(text.contains("Subject: folded\r\n  subject\r\n"));
        assert_eq!(out.top_via().unwrap().branch(), Some("z9hG4bKnew"));
        let reparsed = Message::parse_datagram(out.bytes()).unwrap();
        assert_eq!(reparsed.as_bytes(), out.as_bytes());
    }

    #[test]
    fn response_copies_the_rfc_8_2_6_headers_and_adds_a_to_tag() {
        let m = req();
        let r = response(&m, 486, "Busy Here").to_tag("abc").build();
        assert_eq!(r.status(), Some(486));
        assert_eq!(r.reason(), Some("Busy Here"));
        assert_eq!(r.count(HeaderName::Via), 2);
        assert_eq!(r.to_tag(), Some("abc"));
        assert_eq!(r.from_tag(), Some("1928301774"));
        assert_eq!(r.call_id(), Some("a84b4c76e66710"));
        assert_eq!(r.header(HeaderName::CSeq), Some("314159 INVITE"));
        assert_eq!(r.header(HeaderName::Timestamp), None);
        assert_eq!(r.header(HeaderName::ContentLength), Some("0"));
        let again = Message::parse_datagram(r.bytes()).unwrap();
        assert_eq!(again.to_tag(), Some("abc"));
    }

    #[test]
    fn trying_copies_timestamp() {
        let r = response(&req(), 100, "Trying").build();
        assert_eq!(r.header(HeaderName::Timestamp), Some("54"));
        assert_eq!(r.to_tag(), None);
    }

    #[test]
    fn body_sets_content_type_and_length() {
        let r = response(&req(), 200, "OK")
            .to_tag("x")
            .body("application/sdp", &b"v=0\r\n"[..])
            .build();
        assert_eq!(r.header(HeaderName::ContentLength), Some("5"));
        assert_eq!(r.header(HeaderName::ContentType), Some("application/sdp"));
        assert_eq!(r.body(), b"v=0\r\n");
    }

    #[test]
    fn remove_first_value_splits_combined_lines() {
        let m = Message::parse_datagram(Bytes::from_static(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\nCSeq: 1 BYE\r\n\r\n",
        ))
        .unwrap();
        let out = MessageBuilder::edit(&m)
            .remove_first_value(HeaderName::Via)
            .build();
        assert_eq!(out.top_via().unwrap().host(), "b");
        let out = MessageBuilder::edit(&out)
            .remove_first_value(HeaderName::Via)
            .build();
        assert_eq!(out.count(HeaderName::Via), 0);
    }

    #[test]
    fn received_and_rport_are_stamped_on_the_top_via() {
        let req = Message::parse_datagram(Bytes::from_static(
            b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP p;branch=z9hG4bK0\r\nCSeq: 1 OPTIONS\r\n\r\n",
        ))
        .unwrap();
        let stamped = stamp_received(&req, "203.0.113.7:40123".parse().unwrap());
        let via = stamped.top_via().unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK1"));
        assert_eq!(via.received(), Some("203.0.113.7"));
        assert_eq!(via.rport(), Some(Some(40123)));
        assert_eq!(stamped.values(HeaderName::Via).count(), 2);
        let ok = response(&stamped, 200, "OK").to_tag("t").build();
        assert_eq!(ok.top_via().unwrap().rport(), Some(Some(40123)));
    }

    #[test]
    fn a_via_from_its_own_source_without_rport_is_left_alone() {
        let bytes = b"OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let req = Message::parse_datagram(Bytes::from_static(bytes)).unwrap();
        let same = stamp_received(&req, "192.0.2.1:5060".parse().unwrap());
        assert_eq!(same.as_bytes(), bytes);
        let other = stamp_received(&req, "192.0.2.9:5060".parse().unwrap());
        assert_eq!(other.top_via().unwrap().received(), Some("192.0.2.9"));
        assert_eq!(other.top_via().unwrap().rport(), None);
    }

    #[test]
    fn ack_and_cancel_follow_the_invite() {
        let invite = req();
        let resp = response(&invite, 486, "Busy Here").to_tag("t1").build();
        let ack = ack_for_non_2xx(&invite, &resp);
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri_str(), Some("sip:bob@biloxi.example.com"));
        assert_eq!(ack.count(HeaderName::Via), 1);
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(ack.to_tag(), Some("t1"));
        assert_eq!(ack.cseq().unwrap().seq, 314159);
        assert_eq!(ack.cseq().unwrap().method, "ACK");
        let cancel = cancel(&invite);
        assert_eq!(cancel.cseq().unwrap().method, "CANCEL");
        assert_eq!(cancel.to_tag(), None);
        assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    }
}
