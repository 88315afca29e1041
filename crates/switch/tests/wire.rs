//! The SIP service over real sockets on 127.0.0.1: what it answers, where
//! the answer goes, and that nothing a peer sends stops it.

mod common;

use std::time::Duration;

use common::*;
use sip::HeaderName;
use switch::TcpLimits;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn options_over_udp_gets_200_echoing_the_transaction_and_a_to_tag() {
    let exchange = start().await;
    let peer = udp_peer().await;
    let call_id = unique("options-udp");
    let options = request("OPTIONS", "UDP", peer.local_addr().unwrap(), &call_id);
    peer.send_to(options.as_bytes(), exchange.udp)
        .await
        .unwrap();

    let ok = recv_message(&peer).await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.reason(), Some("OK"));
    let sent = sip::Message::parse_datagram(options.into()).unwrap();
    assert_echoes_the_transaction(&ok, &sent);
    assert_eq!(ok.from_tag(), Some("a73kszlfl"));
    assert_eq!(
        ok.to().unwrap().uri_str(),
        sent.to().unwrap().uri_str(),
        "To keeps its URI"
    );
    let tag = ok.to_tag().expect("a To tag");
    assert!(tag.len() >= 8, "a To tag with enough randomness: {tag}");
    assert!(header(&ok, HeaderName::Allow).contains("OPTIONS"));
    assert_eq!(header(&ok, HeaderName::Accept), "application/sdp");
    assert_eq!(
        ok.header(HeaderName::Supported),
        Some("path"),
        "the registrar keeps Path (RFC 3327)"
    );
    assert_eq!(
        header(&ok, HeaderName::Server),
        concat!("Callex/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(ok.header(HeaderName::ContentLength), Some("0"));
    exchange.service.stop().await;
}

/// RFC 3261 §8.2.6.2: From, Call-ID and CSeq as sent; the Via as sent, with
/// the source stamped in it (RFC 3581).
fn assert_echoes_the_transaction(answer: &sip::Message, sent: &sip::Message) {
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        assert_eq!(answer.header(name), sent.header(name), "{name} is echoed");
    }
    let (ours, theirs) = (answer.top_via().unwrap(), sent.top_via().unwrap());
    assert_eq!(ours.branch(), theirs.branch());
    assert_eq!(ours.sent_by(), theirs.sent_by());
    assert!(ours.rport().flatten().is_some());
}

#[tokio::test]
async fn options_over_tcp_gets_200_on_the_same_connection() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    let call_id = unique("options-tcp");
    let options = request("OPTIONS", "TCP", peer.local_addr(), &call_id);
    peer.send(options.as_bytes()).await;

    let ok = peer.next_message().await.expect("an answer");
    assert_eq!(ok.status(), Some(200));
    let sent = sip::Message::parse_datagram(options.into()).unwrap();
    assert_echoes_the_transaction(&ok, &sent);
    assert!(ok.to_tag().is_some());
    assert!(header(&ok, HeaderName::Allow).contains("OPTIONS"));
    exchange.service.stop().await;
}

#[tokio::test]
async fn every_answer_has_a_fresh_to_tag() {
    let exchange = start().await;
    let mut tags = Vec::new();
    for _ in 0..5 {
        let peer = udp_peer().await;
        let options = request("OPTIONS", "UDP", peer.local_addr().unwrap(), &unique("tag"));
        peer.send_to(options.as_bytes(), exchange.udp)
            .await
            .unwrap();
        tags.push(recv_message(&peer).await.to_tag().unwrap().to_owned());
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 5);
}

#[tokio::test]
async fn a_method_not_served_gets_405_with_allow_over_udp_and_tcp() {
    let exchange = start().await;
    let peer = udp_peer().await;
    let invite = request(
        "SUBSCRIBE",
        "UDP",
        peer.local_addr().unwrap(),
        &unique("sub"),
    );
    peer.send_to(invite.as_bytes(), exchange.udp).await.unwrap();
    let refusal = recv_message(&peer).await;
    assert_eq!(refusal.status(), Some(405));
    assert_eq!(refusal.reason(), Some("Method Not Allowed"));
    assert_eq!(
        header(&refusal, HeaderName::Allow),
        "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO"
    );
    assert!(refusal.to_tag().is_some());

    let mut tcp = StreamPeer::connect(exchange.tcp).await;
    let invite = request("SUBSCRIBE", "TCP", tcp.local_addr(), &unique("sub"));
    tcp.send(invite.as_bytes()).await;
    let refusal = tcp.next_message().await.expect("an answer");
    assert_eq!(refusal.status(), Some(405));
    assert_eq!(
        header(&refusal, HeaderName::Allow),
        "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO"
    );
}

#[tokio::test]
async fn register_goes_to_the_registrar_and_an_unknown_method_gets_501() {
    let exchange = start().await;
    let peer = udp_peer().await;
    let local = peer.local_addr().unwrap();
    peer.send_to(
        request("REGISTER", "UDP", local, &unique("reg")).as_bytes(),
        exchange.udp,
    )
    .await
    .unwrap();
    // The registrar's answer: `sip:exchange@…` is not a member's number.
    assert_eq!(recv_message(&peer).await.status(), Some(404));
    peer.send_to(
        request("FROBNICATE", "UDP", local, &unique("ext")).as_bytes(),
        exchange.udp,
    )
    .await
    .unwrap();
    let refusal = recv_message(&peer).await;
    assert_eq!(refusal.status(), Some(501));
    assert_eq!(
        header(&refusal, HeaderName::Allow),
        "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO"
    );
}

#[tokio::test]
async fn ack_and_responses_are_absorbed_without_an_answer() {
    let exchange = start().await;
    let peer = udp_peer().await;
    let local = peer.local_addr().unwrap();
    let ack = request("ACK", "UDP", local, &unique("ack"));
    let options = request("OPTIONS", "UDP", local, &unique("opt"));
    let stray_response = sip::build::response(
        &sip::Message::parse_datagram(options.clone().into()).unwrap(),
        200,
        "OK",
    )
    .build();
    peer.send_to(ack.as_bytes(), exchange.udp).await.unwrap();
    peer.send_to(stray_response.as_bytes(), exchange.udp)
        .await
        .unwrap();
    assert_silent(&peer, "ACK and a stray response").await;
    // Messages are handled in order, so the first answer is the OPTIONS's.
    peer.send_to(options.as_bytes(), exchange.udp)
        .await
        .unwrap();
    let ok = recv_message(&peer).await;
    assert_eq!(ok.cseq().unwrap().method, "OPTIONS");
}

#[tokio::test]
async fn udp_answers_go_to_the_packet_source_not_the_via() {
    let exchange = start().await;
    let sender = udp_peer().await;
    // A peer the Via names, with rport asked for: it must hear nothing.
    let named_in_via = udp_peer().await;
    let options = request(
        "OPTIONS",
        "UDP",
        named_in_via.local_addr().unwrap(),
        &unique("via"),
    );
    sender
        .send_to(options.as_bytes(), exchange.udp)
        .await
        .unwrap();
    let answer = recv_message(&sender).await;
    assert_eq!(answer.status(), Some(200));
    // RFC 3581: the answer says where the request really came from.
    let source = sender.local_addr().unwrap();
    let via = answer.top_via().expect("a Via");
    assert_eq!(via.rport(), Some(Some(source.port())));
    assert_eq!(via.received(), Some(source.ip().to_string().as_str()));
    // And without rport, still the source (the node is behind no NAT it
    // could know of, and a Via host is never trusted as a destination).
    let no_rport = options.replace(";rport", "");
    sender
        .send_to(no_rport.as_bytes(), exchange.udp)
        .await
        .unwrap();
    assert_eq!(recv_message(&sender).await.status(), Some(200));
    assert_silent(&named_in_via, "the Via host").await;
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    let local = peer.local_addr();
    let mut burst = String::new();
    let methods = ["OPTIONS", "INVITE", "OPTIONS", "FROBNICATE", "OPTIONS"];
    for (i, method) in methods.iter().enumerate() {
        burst.push_str(&request(method, "TCP", local, &format!("pipe-{i}")));
        burst.push_str("\r\n"); // noise between messages is skipped
    }
    peer.send(burst.as_bytes()).await;
    // The INVITE is challenged: calls need the caller's credentials.
    for (i, expected) in [200, 407, 200, 501, 200].into_iter().enumerate() {
        let answer = peer.next_message().await.expect("an answer");
        assert_eq!(answer.status(), Some(expected));
        assert_eq!(answer.call_id(), Some(format!("pipe-{i}").as_str()));
    }
}

#[tokio::test]
async fn a_message_split_across_writes_is_reassembled() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    let options = request("OPTIONS", "TCP", peer.local_addr(), &unique("split"));
    for piece in options.as_bytes().chunks(17) {
        peer.send(piece).await;
        peer.stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(peer.next_message().await.unwrap().status(), Some(200));
}

#[tokio::test]
async fn tcp_keep_alive_ping_gets_a_pong() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    peer.send(b"\r\n\r\n").await;
    assert_eq!(peer.read_exact(2).await, b"\r\n");
    // The connection serves SIP after it, too.
    let options = request("OPTIONS", "TCP", peer.local_addr(), &unique("after-ping"));
    peer.send(options.as_bytes()).await;
    assert_eq!(peer.next_message().await.unwrap().status(), Some(200));
}

#[tokio::test]
async fn garbage_of_every_kind_leaves_the_exchange_answering() {
    let exchange = start().await;
    throw_garbage(&exchange, 4475).await;
    assert_answers_options(&exchange).await;
}

#[tokio::test]
async fn an_endless_header_line_over_tcp_gets_the_connection_closed() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    peer.send(b"OPTIONS sip:exchange@127.0.0.1 SIP/2.0\r\nX-Endless: ")
        .await;
    let line = vec![b'a'; 1024 * 1024];
    let write = tokio::time::timeout(ANSWER_WITHIN, peer.stream.write_all(&line)).await;
    // Either the write fails because the exchange closed (reset), or it
    // all fit into socket buffers: then the close must follow.
    if let Ok(Ok(())) = write {
        assert!(
            peer.closed_within(ANSWER_WITHIN).await,
            "the exchange must close a connection that never frames"
        );
    } else if write.is_err() {
        panic!("the exchange neither read nor closed the connection");
    }
    assert_answers_options(&exchange).await;
}

#[tokio::test]
async fn a_content_length_beyond_the_limit_closes_the_connection() {
    let exchange = start().await;
    let mut peer = StreamPeer::connect(exchange.tcp).await;
    let options = request("OPTIONS", "TCP", peer.local_addr(), &unique("cl"))
        .replace("Content-Length: 0", "Content-Length: 99999999");
    peer.send(options.as_bytes()).await;
    assert!(peer.closed_within(ANSWER_WITHIN).await);
}

#[tokio::test]
async fn an_idle_tcp_connection_is_closed() {
    let exchange = start_with(TcpLimits {
        idle_timeout: Duration::from_millis(300),
        ..TcpLimits::default()
    })
    .await;
    let mut idle = StreamPeer::connect(exchange.tcp).await;
    // Bytes that never make a message do not count as activity.
    idle.send(b"OPTIONS sip:a SIP/2.0\r\n").await;
    assert!(idle.closed_within(Duration::from_secs(5)).await);

    // Keep-alives do count: pinging more often than the timeout keeps it.
    let mut alive = StreamPeer::connect(exchange.tcp).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        alive.send(b"\r\n\r\n").await;
        assert_eq!(alive.read_exact(2).await, b"\r\n");
    }
}

#[tokio::test]
async fn tcp_connections_beyond_the_cap_are_closed_on_arrival() {
    let exchange = start_with(TcpLimits {
        max_connections: 2,
        ..TcpLimits::default()
    })
    .await;
    let first = StreamPeer::connect(exchange.tcp).await;
    let mut second = StreamPeer::connect(exchange.tcp).await;
    // The second is served (and so, surely accepted before the third).
    let options = request("OPTIONS", "TCP", second.local_addr(), &unique("cap"));
    second.send(options.as_bytes()).await;
    assert_eq!(second.next_message().await.unwrap().status(), Some(200));

    let mut third = StreamPeer::connect(exchange.tcp).await;
    assert!(third.closed_within(ANSWER_WITHIN).await);

    // When one leaves, a newcomer is served again.
    drop(first);
    let mut served = false;
    for _ in 0..50 {
        let mut newcomer = StreamPeer::connect(exchange.tcp).await;
        let options = request("OPTIONS", "TCP", newcomer.local_addr(), &unique("cap"));
        let _ = newcomer.stream.write_all(options.as_bytes()).await;
        if let Ok(Some(ok)) =
            tokio::time::timeout(Duration::from_secs(1), newcomer.next_message()).await
        {
            assert_eq!(ok.status(), Some(200));
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a slot is freed when a connection closes");
}

#[tokio::test]
async fn stop_releases_the_ports() {
    let exchange = start().await;
    let (udp, tcp) = (exchange.udp, exchange.tcp);
    exchange.service.stop().await;
    tokio::net::UdpSocket::bind(udp)
        .await
        .expect("UDP port free");
    tokio::net::TcpListener::bind(tcp)
        .await
        .expect("TCP port free");
}
