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
                // Most stacks write the canonical spelling: an exact match
                // (compiled to a length switch and a compare) comes first.
                match name {
                    $( $canonical => return HeaderName::$variant, )*
                    _ => {}
                }
                let b = name.as_bytes();
                if b.len() == 1 {
                    return match b[0].to_ascii_lowercase() {
                        c @ b'a'..=b'z' => COMPACT[(c - b'a') as usize],
                        _ => HeaderName::Other,
                    };
                }
                // Open addressing over a table built at compile time: hash
                // the lower-cased name, probe until an empty slot.
                let mut slot = hash(b) as usize & (INDEX.len() - 1);
                loop {
                    match INDEX[slot] {
                        0 => return HeaderName::Other,
                        i => {
                            let (header, canonical) = ALL[i as usize - 1];
                            if canonical.len() == b.len() && canonical.as_bytes().eq_ignore_ascii_case(b) {
                                return header;
                            }
                        }
                    }
                    slot = (slot + 1) & (INDEX.len() - 1);
                }
            }
        }

        /// Every known header with its canonical spelling.
        const ALL: &[(HeaderName, &str)] = &[ $( (HeaderName::$variant, $canonical), )* ];

        /// Compact forms by letter.
        static COMPACT: [HeaderName; 26] = {
            let mut t = [HeaderName::Other; 26];
            $( $( t[($compact as u32 - 'a' as u32) as usize] = HeaderName::$variant; )? )*
            t
        };
    };
}

const fn hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    let mut i = 0;
    while i < name.len() {
        h = h
            .wrapping_mul(31)
            .wrapping_add(name[i].to_ascii_lowercase() as u32);
        i += 1;
    }
    h ^ (h >> 7)
}

/// Slot → index into `ALL` plus one (0: empty). 256 slots for ~70 names
/// keeps probe chains short.
static INDEX: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < ALL.len() {
        let mut slot = hash(ALL[i].1.as_bytes()) as usize & 255;
        while t[slot] != 0 {
            slot = (slot + 1) & 255;
        }
        t[slot] = (i + 1) as u8;
        i += 1;
    }
    t
};

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
