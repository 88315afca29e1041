//! Validation of a parsed message (RFC 3261 §8.2, §16.3, §18.1.2, §18.3):
//! decides whether a request is processed or answered with an error, and
//! which one — 400 with a reason that names the problem, 405, 416, 420, 501,
//! 505, 513 — and whether a response is fit to be matched or must be dropped.
//!
//! Every check reads the message without copying; nothing here panics on
//! any input.

use std::borrow::Cow;

use crate::build::{self, default_reason};
use crate::header::HeaderName;
use crate::message::{CSeq, Message, Method};
use crate::name_addr::NameAddr;
use crate::text;
use crate::uri::Scheme;
use crate::via::Via;

/// What the receiving element supports.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Methods the element processes; others get 405 (standard methods) or
    /// 501 (extension methods), with an Allow header.
    pub allowed_methods: Vec<Method>,
    /// Option tags understood in Require / Proxy-Require.
    pub supported_extensions: Vec<String>,
    /// Largest message processed (513 above it).
    pub max_message_len: usize,
    /// Content types accepted in request bodies; `None` passes any body
    /// through (a B2BUA carries bodies untouched).
    pub accepted_content_types: Option<Vec<String>>,
    /// An INVITE whose Accept header excludes `application/sdp` gets 406:
    /// the element answers offers with SDP.
    pub answers_with_sdp: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allowed_methods: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Register,
                Method::Prack,
                Method::Info,
                Method::Update,
                Method::Message,
                Method::Refer,
                Method::Notify,
                Method::Subscribe,
            ],
            supported_extensions: vec![
                "path".into(),
                "outbound".into(),
                "replaces".into(),
                "timer".into(),
                "100rel".into(),
            ],
            max_message_len: 65_535,
            accepted_content_types: None,
            answers_with_sdp: true,
        }
    }
}

impl Policy {
    /// The Allow header value for this policy.
    pub fn allow_header(&self) -> String {
        let names: Vec<&str> = self.allowed_methods.iter().map(Method::as_str).collect();
        names.join(", ")
    }
}

/// The error response a request deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// The reason phrase: the standard one, with the problem named after it
    /// for 400 ("Bad Request - missing Call-ID header").
    pub reason: Cow<'static, str>,
    /// Headers the status code calls for (Allow, Unsupported, Accept).
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(status: u16) -> Rejection {
        Rejection {
            status,
            reason: Cow::Borrowed(default_reason(status)),
            headers: Vec::new(),
        }
    }

    fn bad_request(problem: impl Into<Cow<'static, str>>) -> Rejection {
        let problem = problem.into();
        // A reason phrase is one line of text: never echo CR/LF from input.
        let problem: String = problem
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        Rejection {
            status: 400,
            reason: Cow::Owned(format!("Bad Request - {problem}")),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Rejection {
        self.headers.push((name, value));
        self
    }

    /// The response to send, when the request has a Via to copy (the switch
    /// sends it back to the source address and port, as RFC 3581 does, so
    /// even a malformed Via gets its 400). ACK is never answered.
    pub fn response(&self, req: &Message, to_tag: &str) -> Option<Message> {
        if req.method() == Some(&Method::Ack) || req.header(HeaderName::Via).is_none() {
            return None;
        }
        let mut b = build::response(req, self.status, &self.reason).to_tag(to_tag);
        for (name, value) in &self.headers {
            b = b.header(*name, value);
        }
        Some(b.build())
    }
}

/// The headers that may appear once only.
const SINGLETONS: [HeaderName; 6] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
];

/// Checks a request; `Ok` means the element may process it.
pub fn validate_request(msg: &Message, policy: &Policy) -> Result<(), Rejection> {
    let Some(method) = msg.method() else {
        return Err(Rejection::bad_request("not a request"));
    };
    if let Some(defect) = msg.defect() {
        return Err(Rejection::bad_request(defect.to_owned()));
    }
    if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(505));
    }
    if msg.as_bytes().len() > policy.max_message_len {
        return Err(Rejection::new(513));
    }
    common_headers(msg).map_err(Rejection::bad_request)?;
    let cseq = msg
        .header(HeaderName::CSeq)
        .map(CSeq::parse)
        .unwrap_or(Err("missing CSeq header"))
        .map_err(Rejection::bad_request)?;
    let known = policy.allowed_methods.contains(method);
    if cseq.method != method.as_str() {
        if !known && !method.is_standard() {
            return Err(not_implemented(policy));
        }
        return Err(Rejection::bad_request(format!(
            "CSeq method {} does not match request method {}",
            cseq.method, method
        )));
    }
    for value in msg.values(HeaderName::Contact) {
        let value = value
            .map_err(|e| Rejection::bad_request(format!("malformed Contact: {}", e.describe())))?;
        if value == "*" && *method == Method::Register {
            continue;
        }
        NameAddr::parse_strict(value)
            .map_err(|e| Rejection::bad_request(format!("malformed Contact: {e}")))?;
    }
    if let Some(mf) = msg.header(HeaderName::MaxForwards) {
        let mf = text::trim_lws(mf);
        if mf.is_empty() || !mf.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Rejection::bad_request("Max-Forwards is not a number"));
        }
    }
    let uri = msg
        .request_uri()
        .unwrap_or(Err(crate::uri::UriError("missing Request-URI")))
        .map_err(|e| Rejection::bad_request(format!("malformed Request-URI: {e}")))?;
    if uri.scheme() == Scheme::Other {
        return Err(Rejection::new(416));
    }
    if !known {
        if method.is_standard() {
            return Err(Rejection::new(405).with_header(HeaderName::Allow, policy.allow_header()));
        }
        return Err(not_implemented(policy));
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<&str> = [HeaderName::Require, HeaderName::ProxyRequire]
            .into_iter()
            .flat_map(|h| msg.values(h))
            .filter_map(Result::ok)
            .filter(|tag| !tag.is_empty())
            .filter(|tag| {
                !policy
                    .supported_extensions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(tag))
            })
            .collect();
        if !unsupported.is_empty() {
            return Err(
                Rejection::new(420).with_header(HeaderName::Unsupported, unsupported.join(", "))
            );
        }
    }
    if *method == Method::Invite && policy.answers_with_sdp {
        let mut accepts = msg
            .values(HeaderName::Accept)
            .filter_map(Result::ok)
            .peekable();
        if accepts.peek().is_some() && !accepts.any(accepts_sdp) {
            return Err(
                Rejection::new(406).with_header(HeaderName::Accept, "application/sdp".into())
            );
        }
    }
    if let (Some(accepted), Some(ct)) = (
        &policy.accepted_content_types,
        msg.header(HeaderName::ContentType),
    ) {
        let media = media_type(ct);
        if !msg.body().is_empty() && !accepted.iter().any(|a| a.eq_ignore_ascii_case(media)) {
            return Err(Rejection::new(415).with_header(HeaderName::Accept, accepted.join(", ")));
        }
    }
    Ok(())
}

/// Checks a received response; `Err` means it must be dropped silently.
pub fn validate_response(msg: &Message) -> Result<(), Cow<'static, str>> {
    if msg.is_request() {
        return Err("not a response".into());
    }
    if let Some(defect) = msg.defect() {
        return Err(defect.to_owned().into());
    }
    if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err("unsupported SIP version".into());
    }
    common_headers(msg)?;
    msg.header(HeaderName::CSeq)
        .map(CSeq::parse)
        .unwrap_or(Err("missing CSeq header"))?;
    if let Some(ra) = msg.header(HeaderName::RetryAfter) {
        let seconds = ra
            .split([';', '('])
            .next()
            .map(text::trim_lws)
            .unwrap_or_default();
        if seconds.parse::<u32>().is_err() {
            return Err("Retry-After is not a number of seconds".into());
        }
    }
    for warning in msg.values(HeaderName::Warning) {
        let warning = warning.map_err(|e| Cow::Borrowed(e.describe()))?;
        let code = warning.split(' ').next().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Warning code is not three digits".into());
        }
    }
    Ok(())
}

/// Checks shared by requests and responses: required headers present once,
/// Via, From and To readable.
fn common_headers(msg: &Message) -> Result<(), Cow<'static, str>> {
    for required in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if msg.count(required) == 0 {
            return Err(format!("missing {required} header").into());
        }
    }
    for single in SINGLETONS {
        if msg.count(single) > 1 {
            return Err(format!("more than one {single} header").into());
        }
    }
    for via in msg.values(HeaderName::Via) {
        let via = via.map_err(|e| format!("malformed Via: {}", e.describe()))?;
        Via::parse_strict(via).map_err(|e| format!("malformed Via: {e}"))?;
    }
    for name in [HeaderName::From, HeaderName::To] {
        if let Some(v) = msg.header(name) {
            NameAddr::parse_strict(v).map_err(|e| format!("malformed {name}: {e}"))?;
        }
    }
    let call_id = msg.call_id().map(text::trim_lws).unwrap_or_default();
    if call_id.is_empty() || call_id.bytes().any(text::is_lws) {
        return Err("malformed Call-ID".into());
    }
    Ok(())
}

fn not_implemented(policy: &Policy) -> Rejection {
    Rejection::new(501).with_header(HeaderName::Allow, policy.allow_header())
}

fn media_type(content_type: &str) -> &str {
    text::trim_lws(content_type.split(';').next().unwrap_or_default())
}

fn accepts_sdp(accept: &str) -> bool {
    let media = media_type(accept);
    ["application/sdp", "application/*", "*/*"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(media))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn check(raw: &str) -> Result<(), Rejection> {
        let m = Message::parse_datagram(Bytes::from(raw.replace('\n', "\r\n"))).unwrap();
        validate_request(&m, &Policy::default())
    }

    const HEAD: &str = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>\nCall-ID: x\nMax-Forwards: 70\n";

    #[test]
    fn a_good_request_passes() {
        assert_eq!(
            check(&format!(
                "OPTIONS sip:c@d SIP/2.0\n{HEAD}CSeq: 1 OPTIONS\n\n"
            )),
            Ok(())
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let r = check(
            "OPTIONS sip:c@d SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: 1 OPTIONS\n\n",
        )
        .unwrap_err();
        assert_eq!(r.status, 400);
        assert_eq!(r.reason, "Bad Request - missing From header");
    }

    #[test]
    fn unsupported_require_gets_420_with_unsupported() {
        let r = check(&format!(
            "OPTIONS sip:c@d SIP/2.0\n{HEAD}CSeq: 1 OPTIONS\nRequire: foo, path\n\n"
        ))
        .unwrap_err();
        assert_eq!(r.status, 420);
        assert_eq!(
            r.headers,
            vec![(HeaderName::Unsupported, "foo".to_string())]
        );
    }

    #[test]
    fn unknown_method_gets_501_and_known_disallowed_405() {
        let r = check(&format!("FOO sip:c@d SIP/2.0\n{HEAD}CSeq: 1 FOO\n\n")).unwrap_err();
        assert_eq!(r.status, 501);
        let m = Message::parse_datagram(Bytes::from(
            format!("PUBLISH sip:c@d SIP/2.0\n{HEAD}CSeq: 1 PUBLISH\n\n").replace('\n', "\r\n"),
        ))
        .unwrap();
        let r = validate_request(&m, &Policy::default()).unwrap_err();
        assert_eq!(r.status, 405);
        assert_eq!(r.headers[0].0, HeaderName::Allow);
    }

    #[test]
    fn rejection_response_carries_reason_and_headers() {
        let m = Message::parse_datagram(Bytes::from(
            format!("FOO sip:c@d SIP/2.0\n{HEAD}CSeq: 1 FOO\n\n").replace('\n', "\r\n"),
        ))
        .unwrap();
        let r = validate_request(&m, &Policy::default()).unwrap_err();
        let resp = r.response(&m, "tag9").unwrap();
        assert_eq!(resp.status(), Some(501));
        assert_eq!(resp.to_tag(), Some("tag9"));
        assert!(resp.header(HeaderName::Allow).unwrap().contains("INVITE"));
    }

    #[test]
    fn reason_phrases_never_carry_line_breaks() {
        let r = Rejection::bad_request("a\r\nInjected: yes");
        assert!(!r.reason.contains('\n') && !r.reason.contains('\r'));
    }

    #[test]
    fn message_too_large_gets_513() {
        let m = Message::parse_datagram(Bytes::from(
            format!("OPTIONS sip:c@d SIP/2.0\n{HEAD}CSeq: 1 OPTIONS\n\n").replace('\n', "\r\n"),
        ))
        .unwrap();
        let policy = Policy {
            max_message_len: 50,
            ..Policy::default()
        };
        assert_eq!(validate_request(&m, &policy).unwrap_err().status, 513);
    }
}
