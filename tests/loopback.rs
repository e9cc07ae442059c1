//! Whole HTTP conversations between a smoltcp client and `HttpServer` over an in-memory wire:
//! files, keep-alive, pipelining, HEAD, 404, a large transfer, `Connection: close`, concurrency.
#![allow(clippy::unwrap_used)]

mod common;

use common::{HELLO, Harness, STYLE, big_file, get, parse_responses, test_config};
use smoltcp::socket::tcp;

#[test]
fn get_returns_the_exact_file_bytes() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let responses = harness.request(client, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body, HELLO);
    assert_eq!(responses[0].header("content-length"), Some("19"));
    assert_eq!(harness.server.statistics().requests_answered, 1);
    assert_eq!(harness.server.statistics().connections_accepted, 1);
}

#[test]
fn keep_alive_serves_sequential_requests_on_one_connection() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    for (path, expected) in [
        ("/hello.txt", HELLO),
        ("/style.css", STYLE),
        ("/hello.txt", HELLO),
    ] {
        let responses = harness.request(client, &get(path), &[false]);
        assert_eq!(responses[0].status, 200, "{path}");
        assert_eq!(responses[0].body, expected, "{path}");
        assert_eq!(harness.state(client), tcp::State::Established);
    }
    assert_eq!(harness.server.statistics().connections_accepted, 1);
    assert_eq!(harness.server.statistics().requests_answered, 3);
}

#[test]
fn pipelined_requests_in_one_segment_are_answered_in_order() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let mut requests = get("/style.css");
    requests.extend_from_slice(&get("/missing"));
    requests.extend_from_slice(&get("/hello.txt"));
    let responses = harness.request(client, &requests, &[false, false, false]);
    let statuses: Vec<u16> = responses.iter().map(|response| response.status).collect();
    assert_eq!(statuses, [200, 404, 200]);
    assert_eq!(responses[0].body, STYLE);
    assert_eq!(responses[2].body, HELLO);
}

#[test]
fn many_pipelined_requests_beyond_the_queue_limit_are_all_answered() {
    // 40 requests at once: more than the 16 responses a connection queues, so the connection
    // must stop reading and resume as output drains.
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let requests: Vec<u8> = (0..40).flat_map(|_| get("/hello.txt")).collect();
    let responses = harness.request(client, &requests, &[false; 40]);
    assert!(
        responses
            .iter()
            .all(|response| response.status == 200 && response.body == HELLO)
    );
}

#[test]
fn head_sends_the_fields_without_a_body() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let mut requests = b"HEAD /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n".to_vec();
    // A GET after it proves that no body bytes followed the HEAD response.
    requests.extend_from_slice(&get("/style.css"));
    let responses = harness.request(client, &requests, &[true, false]);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].header("content-length"), Some("19"));
    assert!(responses[0].body.is_empty());
    assert_eq!(responses[1].body, STYLE);
}

#[test]
fn unknown_path_is_404_and_the_connection_stays_open() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let responses = harness.request(client, &get("/no/such/file.html"), &[false]);
    assert_eq!(responses[0].status, 404);
    let responses = harness.request(client, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].status, 200);
}

#[test]
fn one_mebibyte_file_arrives_intact() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let responses = harness.request(client, &get("/big.bin"), &[false]);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body.len(), 1024 * 1024);
    assert!(responses[0].body == harness.server.site().get("big.bin").unwrap().body);
    assert!(harness.server.statistics().bytes_sent > 1024 * 1024);
}

#[test]
fn connection_close_is_honoured_after_the_response() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let request = b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let responses = harness.request(client, request, &[false]);
    assert_eq!(responses[0].body, HELLO);
    assert_eq!(responses[0].header("connection"), Some("close"));
    harness.run_until(1000, |harness| harness.peer_closed(client));
    harness.close_client(client);
    harness.settle();
    assert_eq!(harness.server.connection_count(), 0);
}

#[test]
fn http_1_0_closes_by_default() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    harness.send(client, b"GET /hello.txt HTTP/1.0\r\n\r\n");
    harness.run_until(1000, |harness| harness.peer_closed(client));
    let received = harness.take_received(client);
    assert!(
        received.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(received.ends_with(HELLO));
}

#[test]
fn thirty_two_concurrent_clients_are_all_served() {
    let mut harness = Harness::new(test_config());
    let clients: Vec<_> = (0..32)
        .map(|_| harness.connect_with(64 * 1024, true))
        .collect();
    harness.run_until(5000, |harness| {
        clients
            .iter()
            .all(|&client| harness.state(client) == tcp::State::Established)
    });
    for (index, &client) in clients.iter().enumerate() {
        let path = if index % 2 == 0 {
            "/hello.txt"
        } else {
            "/style.css"
        };
        harness.send(client, &get(path));
    }
    harness.run_until(20_000, |harness| {
        clients
            .iter()
            .all(|&client| parse_responses(harness.received(client), &[false]).is_some())
    });
    for (index, &client) in clients.iter().enumerate() {
        let responses = parse_responses(harness.received(client), &[false]).unwrap();
        let expected = if index % 2 == 0 { HELLO } else { STYLE };
        assert_eq!(responses[0].status, 200);
        assert_eq!(responses[0].body, expected);
    }
    assert_eq!(harness.server.statistics().connections_accepted, 32);
    assert_eq!(harness.server.statistics().connections_refused, 0);
}

#[test]
fn request_body_within_the_limit_is_discarded() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let mut requests =
        b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world".to_vec();
    requests.extend_from_slice(&get("/style.css"));
    let responses = harness.request(client, &requests, &[false, false]);
    assert_eq!(responses[0].body, HELLO);
    assert_eq!(responses[1].body, STYLE);
}

#[test]
fn request_body_over_the_limit_gets_413_and_close() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let request = b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 10000000\r\n\r\nabc";
    let responses = harness.request(client, request, &[false]);
    assert_eq!(responses[0].status, 413);
    harness.run_until(1000, |harness| harness.peer_closed(client));
}

#[test]
fn malformed_request_gets_400_and_close() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    let responses = harness.request(client, b"GARBAGE\r\n\r\n", &[false]);
    assert_eq!(responses[0].status, 400);
    harness.run_until(1000, |harness| harness.peer_closed(client));
}

#[test]
fn icmp_echo_is_answered_by_the_interface() {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::socket::icmp;
    use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress};

    let mut harness = Harness::new(test_config());
    let buffer = || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0u8; 512]);
    let mut socket = icmp::Socket::new(buffer(), buffer());
    socket.bind(icmp::Endpoint::Ident(0x1234)).unwrap();
    let handle = harness.client_sockets.add(socket);
    let request = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"ping payload",
    };
    let socket = harness.client_sockets.get_mut::<icmp::Socket>(handle);
    let bytes = socket
        .send(request.buffer_len(), IpAddress::Ipv4(common::SERVER_IP))
        .unwrap();
    request.emit(
        &mut Icmpv4Packet::new_unchecked(bytes),
        &ChecksumCapabilities::default(),
    );
    harness.run_until(1000, |harness| {
        harness
            .client_sockets
            .get::<icmp::Socket>(handle)
            .can_recv()
    });
    let socket = harness.client_sockets.get_mut::<icmp::Socket>(handle);
    let (bytes, source) = socket.recv().unwrap();
    assert_eq!(source, IpAddress::Ipv4(common::SERVER_IP));
    let reply = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(bytes).unwrap(),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    assert_eq!(
        reply,
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"ping payload",
        }
    );
}

#[test]
fn static_ipv6_address_is_configured_beside_the_link_local_one() {
    use bareserve::net::StaticIpv6;
    use smoltcp::wire::{IpCidr, Ipv6Address, Ipv6Cidr};

    let mut config = test_config();
    let address = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x15), 64);
    config.ipv6 = Some(StaticIpv6 {
        address,
        gateway: Some(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    });
    let harness = Harness::new(config);
    let link_local = Ipv6Cidr::new(bareserve::net::link_local_address(common::SERVER_MAC), 64);
    assert_eq!(
        harness.server.ip_addresses(),
        [
            IpCidr::Ipv6(link_local),
            IpCidr::Ipv6(address),
            IpCidr::Ipv4(bareserve::net::StaticIpv4::QEMU_USER_NETWORK.address),
        ]
    );
}

/// Closed connections' sockets become the next listeners (their buffers are reused, not
/// zeroed again): each next client gets exactly its own bytes, never any of the previous
/// connection's, whatever that one left in the rings.
#[test]
fn reused_sockets_serve_the_next_clients_only_their_own_bytes() {
    let mut harness = Harness::new(test_config());
    for round in 0..6 {
        let large = harness.connect();
        let responses = harness.request(large, &get("/big.bin"), &[false]);
        assert_eq!(responses[0].body, big_file(), "round {round}");
        harness.close_client(large);
        harness.settle();
        let small = harness.connect();
        let responses = harness.request(small, &get("/hello.txt"), &[false]);
        assert_eq!(responses[0].status, 200);
        assert_eq!(responses[0].body, HELLO, "round {round}");
        harness.close_client(small);
        harness.settle();
    }
    assert!(harness.server.statistics().connections_accepted >= 12);
    assert!(harness.server.statistics().sockets_reused >= 6);
}
