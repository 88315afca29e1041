//! The zero-copy message: a received buffer plus an index of where its start
//! line, header fields and body lie. Headers are split once, when the message
//! is parsed; a header's value is parsed only when someone asks for it.

use std::fmt;

use bytes::Bytes;

use crate::header::HeaderName;
use crate::name_addr::NameAddr;
use crate::text::{self, TextError};
use crate::uri::{Uri, UriError};
use crate::via::Via;

/// A SIP request method. Methods are case-sensitive (RFC 3261 §7.1): `invite`
/// is an extension method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    /// Any other `token`, kept as written.
    Extension(Box<str>),
}

impl Method {
    /// Reads a method token; `None` if `s` is not a token.
    pub fn from_token(s: &str) -> Option<Method> {
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            other if text::is_token(other) => Method::Extension(other.into()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Extension(s) => s,
        }
    }

    /// True for methods standardised by an RFC (everything but extensions).
    pub fn is_standard(&self) -> bool {
        !matches!(self, Method::Extension(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Byte range into the message buffer. `u32` keeps the index small; a SIP
/// message is never near 4 GiB (framing refuses anything that large).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The first line of a message, as spans into the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request {
        method: Method,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        status: u16,
        reason: Span,
    },
}

/// One header field line (folds included) as indexed by the parser.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: HeaderName,
    pub name_span: Span,
    pub value: Span,
    /// The whole line from the first byte of the name to the last byte before
    /// its final CRLF: what the serializer copies when it keeps the field.
    pub line: Span,
}

/// A header field as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: HeaderName,
    /// The name as written (`v`, `VIA`, `X-Custom`).
    pub raw_name: &'a str,
    /// The value, trimmed; a folded value keeps its inner CRLF + white space.
    pub value: &'a str,
    /// The field exactly as received, without the final CRLF.
    pub line: &'a str,
}

/// Why bytes are not a SIP message at all (nothing can be answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

/// The transport a message arrived on decides how its body is framed
/// (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: the datagram is the message; a missing Content-Length means "the
    /// rest of the datagram", octets beyond Content-Length are dropped.
    Datagram,
    /// TCP/TLS: the buffer is one frame cut by [`crate::framing`].
    Stream,
}

/// A parsed SIP message over a shared, immutable buffer.
#[derive(Clone)]
pub struct Message {
    buf: Bytes,
    start: StartLine,
    start_line: Span,
    fields: Vec<Field>,
    headers_end: u32,
    body: Span,
    defect: Option<Defect>,
}

/// Something wrong with a message that still has enough structure to be
/// answered with 400 (or, for a response, to be dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect(pub String);

const MAX_HEADERS_HINT: usize = 24;

impl Message {
    /// Parses a UDP datagram.
    pub fn parse_datagram(buf: Bytes) -> Result<Message, ParseError> {
        Message::parse(buf, Framing::Datagram)
    }

    /// Parses bytes framed by the given transport rule.
    pub fn parse(buf: Bytes, framing: Framing) -> Result<Message, ParseError> {
        if buf.len() > u32::MAX as usize / 2 {
            return Err(ParseError("message too large"));
        }
        let b: &[u8] = &buf;
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let mut pos = 0;
        while pos < b.len() && (b[pos] == b'\r' || b[pos] == b'\n') {
            pos += 1;
        }
        if pos == b.len() {
            return Err(ParseError("empty message"));
        }
        let line_end = memchr::memchr(b'\n', &b[pos..])
            .map(|i| pos + i)
            .ok_or(ParseError("message ends within its start line"))?;
        let content_end = if line_end > pos && b[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let mut defect = None;
        let start = parse_start_line(b, pos, content_end, &mut defect)?;
        let start_line_span = Span::new(pos, content_end);
        pos = line_end + 1;

        let mut fields: Vec<Field> = Vec::with_capacity(MAX_HEADERS_HINT);
        let mut newlines = Newlines::new(&b[pos..]);
        let base = pos;
        let body_start;
        loop {
            let line_end = newlines
                .next()
                .map(|i| base + i)
                .ok_or(ParseError("message ends within its header section"))?;
            let content_end = if line_end > pos && b[line_end - 1] == b'\r' {
                line_end - 1
            } else {
                line_end
            };
            if content_end == pos {
                body_start = line_end + 1;
                break;
            }
            if b[pos] == b' ' || b[pos] == b'\t' {
                // A fold: this line continues the previous field's value.
                match fields.last_mut() {
                    Some(field) => {
                        let trimmed = trim_end(b, pos, content_end);
                        if field.value.start == field.value.end {
                            let first = skip_ws(b, pos, trimmed);
                            field.value = Span::new(first, trimmed);
                        } else if trimmed > pos {
                            field.value.end = trimmed as u32;
                        }
                        field.line.end = content_end as u32;
                    }
                    None => {
                        defect.get_or_insert_with(|| {
                            Defect("folded line before the first header".into())
                        });
                    }
                }
            } else {
                // header-name HCOLON: a token, *( SP / HTAB ), ":". One
                // 16-byte compare finds the colon of nearly every name.
                let line = &b[pos..content_end];
                let colon = match b.get(pos..pos + BLOCK).map(colon_and_high_bits) {
                    Some((colons, high))
                        if colons != 0 && (colons.trailing_zeros() as usize) < line.len() =>
                    {
                        let at = colons.trailing_zeros() as usize;
                        // A byte before the colon with its high bit set is not ASCII.
                        Some((pos + at, high & ((1u32 << at) - 1) == 0))
                    }
                    _ => memchr::memchr(b':', line).map(|i| (pos + i, line[..i].is_ascii())),
                };
                let name_end = match colon {
                    Some((c, _)) if c > pos && b[c - 1] != b' ' && b[c - 1] != b'\t' => c,
                    Some((c, _)) => trim_end(b, pos, c),
                    None => pos,
                };
                let name = match colon {
                    // SAFETY: the bytes before the colon were checked to be
                    // ASCII, which is valid UTF-8.
                    Some((_, true)) => unsafe { std::str::from_utf8_unchecked(&b[pos..name_end]) },
                    _ => "", // not a token, whatever it is
                };
                let colon = colon.map(|(c, _)| c);
                let header = HeaderName::from_name(name);
                // Known names are tokens; others are checked character by
                // character.
                let valid_name =
                    !name.is_empty() && (header != HeaderName::Other || text::is_token(name));
                if let (Some(colon), true) = (colon, valid_name) {
                    // Usually "Name: value" with nothing trailing.
                    let value_end = if content_end > colon + 1
                        && b[content_end - 1] != b' '
                        && b[content_end - 1] != b'\t'
                    {
                        content_end
                    } else {
                        trim_end(b, colon + 1, content_end)
                    };
                    let value_start = if colon + 2 < value_end
                        && b[colon + 1] == b' '
                        && b[colon + 2] != b' '
                        && b[colon + 2] != b'\t'
                    {
                        colon + 2
                    } else {
                        skip_ws(b, colon + 1, value_end)
                    };
                    fields.push(Field {
                        name: header,
                        name_span: Span::new(pos, name_end),
                        value: Span::new(value_start, value_end),
                        line: Span::new(pos, content_end),
                    });
                } else {
                    defect.get_or_insert_with(|| {
                        let line = String::from_utf8_lossy(&b[pos..content_end]);
                        let shown: String = line.chars().take(40).collect();
                        Defect(format!("malformed header line '{shown}'"))
                    });
                }
            }
            pos = line_end + 1;
        }
        if !is_ascii(&b[..body_start]) && std::str::from_utf8(&b[..body_start]).is_err() {
            return Err(ParseError("header section is not valid UTF-8"));
        }

        let remaining = b.len() - body_start;
        let mut content_length = None;
        for f in fields
            .iter()
            .filter(|f| f.name == HeaderName::ContentLength)
        {
            let v = &b[f.value.range()];
            let parsed = if !v.is_empty() && v.len() <= 10 && v.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
            } else {
                None
            };
            match (parsed, content_length) {
                (None, _) => {
                    defect.get_or_insert_with(|| {
                        Defect(format!(
                            "Content-Length '{}' is not a number",
                            String::from_utf8_lossy(v)
                        ))
                    });
                }
                (Some(_), Some(_)) => {
                    defect.get_or_insert_with(|| Defect("more than one Content-Length".into()));
                }
                (Some(n), None) => content_length = Some(n as usize),
            }
        }
        let body_len = match (content_length, framing) {
            (Some(n), _) if n <= remaining => n,
            (Some(n), _) => {
                defect.get_or_insert_with(|| {
                    Defect(format!(
                        "Content-Length {n} is larger than the {remaining} octets received"
                    ))
                });
                remaining
            }
            (None, _) => remaining,
        };
        Ok(Message {
            start,
            start_line: start_line_span,
            fields,
            headers_end: body_start as u32,
            body: Span::new(body_start, body_start + body_len),
            defect,
            buf,
        })
    }

    /// Assembles a message from parts already indexed (used by the builder,
    /// which knows where it wrote everything and need not parse again).
    pub(crate) fn from_parts(
        buf: Bytes,
        start: StartLine,
        fields: Vec<Field>,
        headers_end: usize,
    ) -> Message {
        let len = buf.len();
        let start_line_end = memchr::memchr(b'\r', &buf).unwrap_or(0);
        Message {
            buf,
            start,
            start_line: Span::new(0, start_line_end),
            fields,
            headers_end: headers_end as u32,
            body: Span::new(headers_end, len),
            defect: None,
        }
    }

    fn slice(&self, span: Span) -> &str {
        let bytes = &self.buf[span.range()];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: spans index the start line and header section, which
        // `parse` (or the builder, writing from `&str`) checked to be UTF-8,
        // and they begin and end next to ASCII delimiters (SP, ':', CR, LF),
        // hence on char boundaries.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The message exactly as received (for UDP, trailing octets beyond
    /// Content-Length excluded).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.body.end as usize]
    }

    /// The underlying buffer (cheap to clone).
    pub fn bytes(&self) -> Bytes {
        self.buf.slice(..self.body.end as usize)
    }

    pub(crate) fn start_line(&self) -> &StartLine {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as written.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.slice(*uri)),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Result<Uri<'_>, UriError>> {
        self.request_uri_str().map(Uri::parse)
    }

    pub fn version(&self) -> &str {
        match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                self.slice(*version)
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(self.slice(*reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// What is structurally wrong with the message while still answerable.
    pub fn defect(&self) -> Option<&str> {
        self.defect.as_ref().map(|d| d.0.as_str())
    }

    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.range()]
    }

    /// Every header field in order.
    pub fn fields(&self) -> impl Iterator<Item = HeaderField<'_>> + '_ {
        self.fields.iter().map(|f| self.field(f))
    }

    fn field(&self, f: &Field) -> HeaderField<'_> {
        HeaderField {
            name: f.name,
            raw_name: self.slice(f.name_span),
            value: self.slice(f.value),
            line: self.slice(f.line),
        }
    }

    pub(crate) fn start_line_span(&self) -> Span {
        self.start_line
    }

    pub(crate) fn raw_fields(&self) -> &[Field] {
        &self.fields
    }

    pub(crate) fn raw_slice(&self, span: Span) -> &str {
        self.slice(span)
    }

    /// The value of the first field called `name`.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| self.slice(f.value))
    }

    /// The values of every field called `name`, one per line.
    pub fn headers(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.fields
            .iter()
            .filter(move |f| f.name == name)
            .map(|f| self.slice(f.value))
    }

    /// The first value of an unknown (extension) header, by name,
    /// case-insensitively.
    pub fn header_named(&self, name: &str) -> Option<&str> {
        let known = HeaderName::from_name(name);
        self.fields
            .iter()
            .find(|f| {
                f.name == known
                    && (known != HeaderName::Other
                        || self.slice(f.name_span).eq_ignore_ascii_case(name))
            })
            .map(|f| self.slice(f.value))
    }

    /// The number of fields called `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.fields.iter().filter(|f| f.name == name).count()
    }

    /// Every element of a list header, across all of its lines
    /// (`Via: a, b` + `Via: c` → a, b, c). For headers that are not lists the
    /// field values are returned whole.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, TextError>> + '_ {
        let list = name.is_list();
        self.headers(name).flat_map(move |v| {
            let (whole, items) = if list {
                (None, Some(text::split_list(v)))
            } else {
                (Some(Ok(v)), None)
            };
            whole.into_iter().chain(items.into_iter().flatten())
        })
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header(HeaderName::CallId)
    }

    pub fn cseq(&self) -> Option<CSeq<'_>> {
        self.header(HeaderName::CSeq)
            .and_then(|v| CSeq::parse(v).ok())
    }

    /// The top-most Via value (the first element of the first Via field).
    pub fn top_via(&self) -> Option<Via<'_>> {
        Via::parse(self.top_via_text()?).ok()
    }

    /// The text of the top-most Via value.
    pub fn top_via_text(&self) -> Option<&str> {
        let first = self.header(HeaderName::Via)?;
        Some(match text::find_unquoted(first, b',') {
            Ok(Some(at)) => text::trim_lws(&first[..at]),
            _ => first,
        })
    }

    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::From)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::To)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.header(HeaderName::From).and_then(tag_of)
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.header(HeaderName::To).and_then(tag_of)
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.header(HeaderName::MaxForwards)
            .and_then(|v| v.trim().parse().ok())
    }

    /// The Expires header as seconds.
    pub fn expires(&self) -> Option<u32> {
        self.header(HeaderName::Expires)
            .and_then(parse_delta_seconds)
    }

    /// Bytes of the header section (start line, fields, blank line).
    pub fn header_section(&self) -> &[u8] {
        &self.buf[..self.headers_end as usize]
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// `[u8]::is_ascii`, written so that it vectorises: OR all 8-byte words
/// together and test the high bits once.
fn is_ascii(b: &[u8]) -> bool {
    let chunks = b.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0u8, |acc, &c| acc | c);
    let words = chunks.fold(0u64, |acc, c| {
        acc | u64::from_le_bytes(c.try_into().unwrap_or_default())
    });
    (words & 0x8080_8080_8080_8080) == 0 && tail < 0x80
}

/// Positions of LF bytes, found 16 bytes at a time. Header lines are short
/// (20–80 bytes), too short for a general-purpose `memchr` call per line to
/// pay off; one pass with a bit mask per 16-byte block does.
struct Newlines<'a> {
    buf: &'a [u8],
    /// Start of the block `mask` describes.
    block: usize,
    /// Bit i set: `buf[block + i]` is LF and has not been returned yet.
    mask: u32,
}

const BLOCK: usize = 16;

impl<'a> Newlines<'a> {
    fn new(buf: &'a [u8]) -> Newlines<'a> {
        let mut n = Newlines {
            buf,
            block: 0,
            mask: 0,
        };
        n.mask = n.block_mask(0);
        n
    }

    /// The LF mask of the block starting at `at`.
    fn block_mask(&self, at: usize) -> u32 {
        match self.buf.get(at..at + BLOCK) {
            Some(block) => lf_mask(block),
            None => {
                let tail = self.buf.get(at..).unwrap_or_default();
                tail.iter()
                    .enumerate()
                    .filter(|(_, &c)| c == b'\n')
                    .fold(0, |m, (i, _)| m | 1 << i)
            }
        }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += BLOCK;
            if self.block >= self.buf.len() {
                return None;
            }
            self.mask = self.block_mask(self.block);
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.block + bit)
    }
}

#[inline]
fn lf_mask(block: &[u8]) -> u32 {
    byte_mask(block, b'\n')
}

/// For a 16-byte block: bit i of the first mask set when `block[i]` is ':',
/// of the second when `block[i]` has its high bit set (is not ASCII).
#[cfg(target_arch = "x86_64")]
#[inline]
fn colon_and_high_bits(block: &[u8]) -> (u32, u32) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    debug_assert_eq!(block.len(), BLOCK);
    // SAFETY: as in `byte_mask`: 16 readable bytes, unaligned load, SSE2.
    unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        let colons = _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b':' as i8))) as u32;
        (colons, _mm_movemask_epi8(bytes) as u32)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn colon_and_high_bits(block: &[u8]) -> (u32, u32) {
    let high = block
        .iter()
        .enumerate()
        .filter(|(_, &c)| c >= 0x80)
        .fold(0, |m, (i, _)| m | 1 << i);
    (byte_mask(block, b':'), high)
}

/// Bit i set: `block[i] == byte`, for a 16-byte block.
#[cfg(target_arch = "x86_64")]
#[inline]
fn byte_mask(block: &[u8], byte: u8) -> u32 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    debug_assert_eq!(block.len(), BLOCK);
    // SAFETY: `block` is exactly 16 readable bytes (the caller sliced it so)
    // and `_mm_loadu_si128` has no alignment requirement; SSE2 is part of the
    // x86_64 baseline.
    unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte as i8))) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn byte_mask(block: &[u8], byte: u8) -> u32 {
    block
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == byte)
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// The `tag` parameter of a From/To value. Hot path of transaction and
/// dialog matching: header parameters follow the last `>` of a name-addr (or
/// the first `;` of an addr-spec), so they are found without reading the
/// display name; anything unusual falls back to the full parser.
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    let params = match memchr::memrchr(b'>', value.as_bytes()) {
        Some(gt) => {
            let rest = text::trim_lws(&value[gt + 1..]);
            if rest.contains('"') {
                return NameAddr::parse(value).ok()?.tag();
            }
            rest.strip_prefix(';')?
        }
        None if value.contains(['"', '<']) => return NameAddr::parse(value).ok()?.tag(),
        None => &value[value.find(';')? + 1..],
    };
    text::param_value(params, "tag")
}

/// `delta-seconds`: digits, saturating at `u32::MAX` (RFC 3261 says values
/// too large are treated as the largest one can represent).
pub fn parse_delta_seconds(v: &str) -> Option<u32> {
    let v = text::trim_lws(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        v.parse::<u64>()
            .map_or(u32::MAX, |n| n.min(u32::MAX as u64) as u32),
    )
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    pub fn parse(v: &'a str) -> Result<CSeq<'a>, &'static str> {
        let v = text::trim_lws(v);
        let b = v.as_bytes();
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err("CSeq number is not a number");
        }
        if digits == b.len() || !text::is_lws(b[digits]) {
            return Err(if digits == b.len() {
                "CSeq has no method"
            } else {
                "CSeq number is not a number"
            });
        }
        let seq = b[..digits]
            .iter()
            .try_fold(0u32, |n, d| {
                n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
            })
            .ok_or("CSeq number is larger than 2^32-1")?;
        let method = text::trim_lws(&v[digits..]);
        if !text::is_token(method) {
            return Err("CSeq method is not a token");
        }
        Ok(CSeq { seq, method })
    }
}

fn trim_end(b: &[u8], start: usize, end: usize) -> usize {
    start
        + b[start..end]
            .iter()
            .rposition(|&c| c != b' ' && c != b'\t')
            .map_or(0, |i| i + 1)
}

fn skip_ws(b: &[u8], start: usize, end: usize) -> usize {
    start
        + b[start..end]
            .iter()
            .position(|&c| c != b' ' && c != b'\t')
            .unwrap_or(end - start)
}

fn parse_start_line(
    b: &[u8],
    start: usize,
    end: usize,
    defect: &mut Option<Defect>,
) -> Result<StartLine, ParseError> {
    let line = &b[start..end];
    let line = if line.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(line) }
    } else {
        std::str::from_utf8(line).map_err(|_| ParseError("start line is not UTF-8"))?
    };
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = rest
            .find(' ')
            .ok_or(ParseError("status line has no status code"))?;
        let version = Span::new(start, start + 4 + sp);
        let after = &rest[sp + 1..];
        let code_end = after.find(' ').unwrap_or(after.len());
        let code = &after[..code_end];
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(ParseError("status code is not three digits"));
        }
        let status: u16 = code.parse().map_err(|_| ParseError("bad status code"))?;
        if !(100..=699).contains(&status) {
            return Err(ParseError("status code out of range 100-699"));
        }
        let reason_start = start + 4 + sp + 1 + code_end + usize::from(code_end < after.len());
        return Ok(StartLine::Response {
            version,
            status,
            reason: Span::new(reason_start.min(end), end),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let first_sp = line
        .find(' ')
        .ok_or(ParseError("request line has no Request-URI"))?;
    let after = &line[first_sp + 1..];
    // The usual line has exactly two single spaces; anything else (extra or
    // trailing white space, RFC 4475 §3.1.2.9/10) is read liberally below.
    let (last_sp, trimmed_len) = match after.find(' ') {
        Some(sp) if sp > 0 && sp + 1 < after.len() && !after[sp + 1..].contains([' ', '\t']) => {
            (first_sp + 1 + sp, line.len())
        }
        _ => {
            let trimmed_len = line.trim_end_matches([' ', '\t']).len();
            let last_sp = line[..trimmed_len]
                .rfind(' ')
                .ok_or(ParseError("request line has no SIP version"))?;
            (last_sp, trimmed_len)
        }
    };
    if last_sp <= first_sp {
        return Err(ParseError("request line has no SIP version"));
    }
    let method =
        Method::from_token(&line[..first_sp]).ok_or(ParseError("method is not a token"))?;
    let uri_raw = &line[first_sp + 1..last_sp];
    let uri_trim_start = uri_raw.len() - uri_raw.trim_start_matches(' ').len();
    let uri_trimmed = uri_raw.trim_matches(' ');
    if uri_trimmed.is_empty() {
        return Err(ParseError("request line has no Request-URI"));
    }
    if uri_trimmed.bytes().any(|c| c == b' ' || c == b'\t') {
        defect.get_or_insert_with(|| Defect("Request-URI contains white space".into()));
    }
    let uri_start = start + first_sp + 1 + uri_trim_start;
    Ok(StartLine::Request {
        method,
        uri: Span::new(uri_start, uri_start + uri_trimmed.len()),
        version: Span::new(start + last_sp + 1, start + trimmed_len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKx\r\n\
v: SIP/2.0/UDP third.example.com;branch=z9hG4bK3\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice, A.\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Subject: a folded\r\n  subject line\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\n";

    fn parse(b: &'static [u8]) -> Message {
        Message::parse_datagram(Bytes::from_static(b)).unwrap()
    }

    #[test]
    fn request_line_and_transaction_keys_are_extracted() {
        let m = parse(INVITE);
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.request_uri_str(), Some("sip:bob@biloxi.example.com"));
        assert_eq!(m.version(), "SIP/2.0");
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
        assert_eq!(
            m.cseq(),
            Some(CSeq {
                seq: 314159,
                method: "INVITE"
            })
        );
        let via = m.top_via().unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(via.host(), "pc33.atlanta.example.com");
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.body(), b"v=0\r");
        assert_eq!(m.defect(), None);
    }

    #[test]
    fn list_values_span_lines_and_compact_forms() {
        let m = parse(INVITE);
        let vias: Vec<_> = m.values(HeaderName::Via).map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert!(vias[2].contains("third.example.com"));
    }

    #[test]
    fn folded_values_keep_their_bytes_and_read_as_one() {
        let m = parse(INVITE);
        assert_eq!(
            m.header(HeaderName::Subject),
            Some("a folded\r\n  subject line")
        );
    }

    #[test]
    fn datagram_trailing_octets_beyond_content_length_are_ignored() {
        let m = parse(INVITE);
        assert!(m.as_bytes().ends_with(b"\r\n\r\nv=0\r"));
    }

    #[test]
    fn content_length_larger_than_datagram_is_a_defect() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc");
        assert!(m.defect().unwrap().contains("larger"));
        assert_eq!(m.body(), b"abc");
    }

    #[test]
    fn missing_content_length_on_udp_takes_the_rest() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nabc");
        assert_eq!(m.body(), b"abc");
    }

    #[test]
    fn responses_parse_with_empty_and_utf8_reasons() {
        let m = parse(b"SIP/2.0 100 \r\nVia: x\r\n\r\n");
        assert_eq!(m.status(), Some(100));
        assert_eq!(m.reason(), Some(""));
        let m = parse("SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять\r\n\r\n".as_bytes());
        assert_eq!(m.reason(), Some("= 2**3 * 5**2 но сто девяносто девять"));
        let m = parse(b"SIP/2.0 180\r\n\r\n");
        assert_eq!(m.reason(), Some(""));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"INVITE",
            b"INVITE sip:a SIP/2.0",
            b"SIP/2.0 4294967301 Huge\r\n\r\n",
            b"SIP/2.0 99 Low\r\n\r\n",
            b"INVITE sip:a SIP/2.0\r\nVia: x\r\n",
            b"\xff\xfe sip:x SIP/2.0\r\n\r\n",
        ] {
            assert!(Message::parse_datagram(Bytes::copy_from_slice(input)).is_err());
        }
    }

    #[test]
    fn tags_are_found_in_every_address_form() {
        for (value, tag) in [
            ("\"A\" <sip:a@b>;tag=1", Some("1")),
            ("<sip:a@b;tag=inner>;tag=outer", Some("outer")),
            ("<sip:a@b;tag=inner>", None),
            ("sip:a@b;tag=2;x=y", Some("2")),
            ("sip:a@b", None),
            ("\"x>y\" <sip:a@b> ; TAG = 3", Some("3")),
            ("<sip:a@b>;x=\">\";tag=4", Some("4")),
            ("\"no brackets; tag=5\" sip:a@b", None),
        ] {
            assert_eq!(tag_of(value), tag, "{value}");
            let full = NameAddr::parse(value).ok().and_then(|a| a.tag());
            assert_eq!(full, tag, "{value} (full parser)");
        }
    }

    #[test]
    fn newline_scanner_finds_every_lf_across_blocks() {
        for len in 0..70 {
            let buf: Vec<u8> = (0..len)
                .map(|i| if i % 7 == 3 { b'\n' } else { b'x' })
                .collect();
            let expected: Vec<usize> = memchr::memchr_iter(b'\n', &buf).collect();
            assert_eq!(
                Newlines::new(&buf).collect::<Vec<_>>(),
                expected,
                "len {len}"
            );
        }
    }

    #[test]
    fn ascii_check_matches_std() {
        for len in 0..40 {
            for hi in 0..len {
                let mut buf = vec![b'a'; len];
                assert!(is_ascii(&buf));
                buf[hi] = 0xc3;
                assert!(!is_ascii(&buf), "{len} {hi}");
            }
        }
    }

    #[test]
    fn method_is_case_sensitive() {
        assert_eq!(Method::from_token("INVITE"), Some(Method::Invite));
        assert_eq!(
            Method::from_token("invite"),
            Some(Method::Extension("invite".into()))
        );
        assert_eq!(Method::from_token("IN VITE"), None);
    }

    #[test]
    fn cseq_overflow_is_refused() {
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("4294967295 REGISTER").is_ok());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn header_named_finds_extension_headers_case_insensitively() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nX-Call-Purpose: business\r\n\r\n");
        assert_eq!(m.header_named("x-call-purpose"), Some("business"));
        assert_eq!(m.header_named("X-Other"), None);
    }
}
