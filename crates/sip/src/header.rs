//! Header names: the ones SIP elements act on, their compact forms
//! (RFC 3261 §7.3.3 and the IANA registry), and which of them carry
//! comma-separated lists.

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, compact $compact:literal)? $(, list $list:literal)? ; )*) => {
        /// A header name, with every spelling of it folded into one variant.
        /// Names Callex does not know are [`HeaderName::Other`]; their text is
        /// available from the header field itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $variant, )*
            Other,
        }

        impl HeaderName {
            /// The canonical (long, capitalised) spelling, as Callex writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other => "",
                }
            }

            /// The registered compact form, if there is one.
            pub fn compact(self) -> Option<char> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }

            /// True for headers whose grammar is a comma-separated list, so
            /// that several values may share one line (`Via: a, b`).
            pub fn is_list(self) -> bool {
                match self {
                    $( $( HeaderName::$variant => $list, )? )*
                    _ => false,
                }
            }

            /// Looks a name up, case-insensitively, long or compact.
            pub fn from_name(name: &str) -> HeaderName {
                let b = name.as_bytes();
                if b.len() == 1 {
                    let c = b[0].to_ascii_lowercase() as char;
                    $( $( if c == $compact { return HeaderName::$variant; } )? )*
                    return HeaderName::Other;
                }
                let mut buf = [0u8; 32];
                if b.len() > buf.len() {
                    return HeaderName::Other;
                }
                for (dst, src) in buf.iter_mut().zip(b) {
                    *dst = src.to_ascii_lowercase();
                }
                lookup_lower(&buf[..b.len()])
            }
        }
    };
}

header_names! {
    Accept => "Accept", list true;
    AcceptContact => "Accept-Contact", compact 'a', list true;
    AcceptEncoding => "Accept-Encoding", list true;
    AcceptLanguage => "Accept-Language", list true;
    AlertInfo => "Alert-Info", list true;
    Allow => "Allow", list true;
    AllowEvents => "Allow-Events", compact 'u', list true;
    AuthenticationInfo => "Authentication-Info";
    Authorization => "Authorization";
    CallId => "Call-ID", compact 'i';
    CallInfo => "Call-Info", list true;
    Contact => "Contact", compact 'm', list true;
    ContentDisposition => "Content-Disposition";
    ContentEncoding => "Content-Encoding", compact 'e', list true;
    ContentLanguage => "Content-Language", list true;
    ContentLength => "Content-Length", compact 'l';
    ContentType => "Content-Type", compact 'c';
    CSeq => "CSeq";
    Date => "Date";
    ErrorInfo => "Error-Info", list true;
    Event => "Event", compact 'o';
    Expires => "Expires";
    From => "From", compact 'f';
    Identity => "Identity", compact 'y';
    IdentityInfo => "Identity-Info", compact 'n';
    InReplyTo => "In-Reply-To", list true;
    MaxForwards => "Max-Forwards";
    MimeVersion => "MIME-Version";
    MinExpires => "Min-Expires";
    MinSe => "Min-SE";
    Organization => "Organization";
    PAssertedIdentity => "P-Asserted-Identity", list true;
    PPreferredIdentity => "P-Preferred-Identity", list true;
    Path => "Path", list true;
    Priority => "Priority";
    Privacy => "Privacy";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyRequire => "Proxy-Require", list true;
    RAck => "RAck";
    Reason => "Reason", list true;
    RecordRoute => "Record-Route", list true;
    ReferTo => "Refer-To", compact 'r';
    ReferredBy => "Referred-By", compact 'b';
    RejectContact => "Reject-Contact", compact 'j', list true;
    Replaces => "Replaces";
    ReplyTo => "Reply-To";
    RequestDisposition => "Request-Disposition", compact 'd', list true;
    Require => "Require", list true;
    RetryAfter => "Retry-After";
    Route => "Route", list true;
    RSeq => "RSeq";
    Server => "Server";
    ServiceRoute => "Service-Route", list true;
    SessionExpires => "Session-Expires", compact 'x';
    SipETag => "SIP-ETag";
    SipIfMatch => "SIP-If-Match";
    Subject => "Subject", compact 's';
    SubscriptionState => "Subscription-State";
    Supported => "Supported", compact 'k', list true;
    Timestamp => "Timestamp";
    To => "To", compact 't';
    Unsupported => "Unsupported", list true;
    UserAgent => "User-Agent";
    Via => "Via", compact 'v', list true;
    Warning => "Warning", list true;
    WwwAuthenticate => "WWW-Authenticate";
}

fn lookup_lower(name: &[u8]) -> HeaderName {
    use HeaderName::*;
    match name {
        b"accept" => Accept,
        b"accept-contact" => AcceptContact,
        b"accept-encoding" => AcceptEncoding,
        b"accept-language" => AcceptLanguage,
        b"alert-info" => AlertInfo,
        b"allow" => Allow,
        b"allow-events" => AllowEvents,
        b"authentication-info" => AuthenticationInfo,
        b"authorization" => Authorization,
        b"call-id" => CallId,
        b"call-info" => CallInfo,
        b"contact" => Contact,
        b"content-disposition" => ContentDisposition,
        b"content-encoding" => ContentEncoding,
        b"content-language" => ContentLanguage,
        b"content-length" => ContentLength,
        b"content-type" => ContentType,
        b"cseq" => CSeq,
        b"date" => Date,
        b"error-info" => ErrorInfo,
        b"event" => Event,
        b"expires" => Expires,
        b"from" => From,
        b"identity" => Identity,
        b"identity-info" => IdentityInfo,
        b"in-reply-to" => InReplyTo,
        b"max-forwards" => MaxForwards,
        b"mime-version" => MimeVersion,
        b"min-expires" => MinExpires,
        b"min-se" => MinSe,
        b"organization" => Organization,
        b"p-asserted-identity" => PAssertedIdentity,
        b"p-preferred-identity" => PPreferredIdentity,
        b"path" => Path,
        b"priority" => Priority,
        b"privacy" => Privacy,
        b"proxy-authenticate" => ProxyAuthenticate,
        b"proxy-authorization" => ProxyAuthorization,
        b"proxy-require" => ProxyRequire,
        b"rack" => RAck,
        b"reason" => Reason,
        b"record-route" => RecordRoute,
        b"refer-to" => ReferTo,
        b"referred-by" => ReferredBy,
        b"reject-contact" => RejectContact,
        b"replaces" => Replaces,
        b"reply-to" => ReplyTo,
        b"request-disposition" => RequestDisposition,
        b"require" => Require,
        b"retry-after" => RetryAfter,
        b"route" => Route,
        b"rseq" => RSeq,
        b"server" => Server,
        b"service-route" => ServiceRoute,
        b"session-expires" => SessionExpires,
        b"sip-etag" => SipETag,
        b"sip-if-match" => SipIfMatch,
        b"subject" => Subject,
        b"subscription-state" => SubscriptionState,
        b"supported" => Supported,
        b"timestamp" => Timestamp,
        b"to" => To,
        b"unsupported" => Unsupported,
        b"user-agent" => UserAgent,
        b"via" => Via,
        b"warning" => Warning,
        b"www-authenticate" => WwwAuthenticate,
        _ => Other,
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn every_compact_form_of_rfc3261_resolves() {
        for (c, long) in [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
        ] {
            assert_eq!(HeaderName::from_name(c), long, "{c}");
            assert_eq!(HeaderName::from_name(&c.to_uppercase()), long, "{c}");
        }
    }

    #[test]
    fn registered_compact_forms_resolve() {
        for (c, long) in [
            ("a", HeaderName::AcceptContact),
            ("b", HeaderName::ReferredBy),
            ("d", HeaderName::RequestDisposition),
            ("j", HeaderName::RejectContact),
            ("n", HeaderName::IdentityInfo),
            ("o", HeaderName::Event),
            ("r", HeaderName::ReferTo),
            ("u", HeaderName::AllowEvents),
            ("x", HeaderName::SessionExpires),
            ("y", HeaderName::Identity),
        ] {
            assert_eq!(HeaderName::from_name(c), long, "{c}");
            assert_eq!(long.compact(), Some(c.chars().next().unwrap()));
        }
        assert_eq!(HeaderName::from_name("z"), HeaderName::Other);
    }

    #[test]
    fn long_names_are_case_insensitive_and_round_trip() {
        assert_eq!(HeaderName::from_name("cAlL-iD"), HeaderName::CallId);
        assert_eq!(
            HeaderName::from_name("WWW-AUTHENTICATE"),
            HeaderName::WwwAuthenticate
        );
        assert_eq!(HeaderName::from_name("X-Custom"), HeaderName::Other);
        assert_eq!(HeaderName::from_name(&"v".repeat(100)), HeaderName::Other);
        for name in [
            "Via",
            "CSeq",
            "P-Asserted-Identity",
            "Record-Route",
            "Min-SE",
        ] {
            assert_eq!(HeaderName::from_name(name).as_str(), name);
        }
    }
}
