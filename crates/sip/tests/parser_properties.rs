//! Property tests of the parser: every byte sequence is a message or an
//! error (never a panic), and messages built from random parts read back as
//! the parts they were built from.

use bytes::Bytes;
use proptest::prelude::*;
use sip::{HeaderName, Message};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_a_message_or_an_error(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        sip::fuzzing::parse(&data);
    }

    #[test]
    fn sip_shaped_noise_is_a_message_or_an_error(
        lines in proptest::collection::vec("[A-Za-z:;,<>\"@= \t\\-./0-9%]{0,40}", 0..20),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let text = format!("INVITE sip:a@b SIP/2.0{eol}{}{eol}{eol}", lines.join(eol));
        sip::fuzzing::parse(text.as_bytes());
    }
}

/// A header name as a stack might write it: canonical, compact or odd case.
fn header_name() -> impl Strategy<Value = (HeaderName, String)> {
    prop_oneof![
        Just((HeaderName::Subject, "Subject".to_string())),
        Just((HeaderName::Subject, "s".to_string())),
        Just((HeaderName::Supported, "k".to_string())),
        Just((HeaderName::Supported, "SUPPORTED".to_string())),
        Just((HeaderName::UserAgent, "user-agent".to_string())),
        Just((HeaderName::Other, "X-Callex-Test".to_string())),
        Just((HeaderName::Organization, "Organization".to_string())),
    ]
}

/// A header value: tokens, quoted strings with escapes, separators.
fn header_value() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[A-Za-z0-9.!%*_+`'~-]{1,12}",
            "\"[A-Za-z ,;:<>]{0,10}\"",
            Just("\"a\\\"b\\\\c\"".to_string()),
            Just(", ".to_string()),
            Just(";p=v".to_string()),
        ],
        1..6,
    )
    .prop_map(|parts| parts.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn built_messages_read_back_field_by_field(
        user in "[a-z0-9]{1,8}(%2[3-9A-F]|%40|%00)?[a-z0-9-]{0,6}",
        headers in proptest::collection::vec((header_name(), header_value(), any::<bool>()), 0..12),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut text = format!(
            "MESSAGE sip:{user}@callex.example.net SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK77\r\n\
             From: <sip:a@example.net>;tag=1\r\nTo: <sip:{user}@callex.example.net>\r\n\
             Call-ID: prop\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        );
        for ((_, name), value, fold) in &headers {
            // A fold (CRLF + white space) may stand wherever white space does.
            let value = if *fold { value.replacen(' ', "\r\n  ", 1) } else { value.clone() };
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut wire = text.into_bytes();
        wire.extend_from_slice(&body);

        let msg = Message::parse_datagram(Bytes::from(wire.clone())).unwrap();
        prop_assert_eq!(msg.defect(), None);
        prop_assert_eq!(msg.as_bytes(), &wire[..]);
        prop_assert_eq!(msg.body(), &body[..]);
        let uri = msg.request_uri().unwrap().unwrap();
        // Escapes stay exactly as written.
        prop_assert_eq!(uri.user(), Some(user.as_str()));
        prop_assert_eq!(msg.fields().count(), 6 + headers.len() + 1);
        let extra: Vec<_> = msg.fields().skip(6).take(headers.len()).collect();
        for (field, ((kind, name), value, fold)) in extra.iter().zip(&headers) {
            prop_assert_eq!(field.name, *kind);
            prop_assert_eq!(field.raw_name, name.as_str());
            let unfolded = field.value.replace("\r\n  ", " ");
            prop_assert_eq!(&unfolded, value.trim(), "fold {}", fold);
        }
        prop_assert!(sip::validate::validate_request(&msg, &Default::default()).is_ok());
    }
}
