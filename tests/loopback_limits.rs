//! Limits and time limits of `HttpServer`, over the in-memory wire with a fake clock: the
//! connection limit (503, SYNs dropped beyond it, recovery), slow and idle clients, clients that
//! do not read, socket and memory bookkeeping, and the DHCP fallback address.
#![allow(clippy::unwrap_used)]

mod common;

use common::{HELLO, Harness, get, parse_responses, test_config};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;
use smoltcp::wire::Ipv4Address;

#[test]
fn connections_over_the_limit_get_503_then_their_syn_waits_and_the_server_recovers() {
    let mut config = test_config();
    config.max_connections = 4;
    config.listen_backlog = 2;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);

    // Four clients are in the middle of their second request: none of them can be reclaimed.
    let served: Vec<_> = (0..4).map(|_| harness.connect()).collect();
    for &client in &served {
        let responses = harness.request(client, &get("/hello.txt"), &[false]);
        assert_eq!(responses[0].status, 200);
        harness.send(client, b"GET /hello.txt HTTP/1.1\r\nHo");
    }

    // The fifth connection is answered 503.
    let refused = harness.connect();
    harness.send(refused, &get("/hello.txt"));
    harness.run_until(1000, |harness| harness.peer_closed(refused));
    let responses = parse_responses(&harness.take_received(refused), &[false]).unwrap();
    assert_eq!(responses[0].status, 503);
    assert_eq!(responses[0].header("retry-after"), Some("1"));
    assert_eq!(responses[0].header("connection"), Some("close"));
    assert_eq!(harness.server.statistics().connections_refused, 1);

    // While that refused connection still exists, a sixth SYN finds no listener. It is dropped,
    // not reset (as Linux drops a SYN when the accept queue is full): the client keeps waiting.
    let waiting = harness.connect_with(64 * 1024, true);
    harness.settle();
    assert_eq!(harness.state(waiting), tcp::State::SynSent);
    assert_eq!(harness.server.statistics().syns_dropped_at_limit, 1);

    // Once the served clients leave, the client's retransmitted SYN (smoltcp: after 1 s, RFC 6298
    // §2) is accepted and served.
    for client in served {
        harness.close_client(client);
    }
    harness.close_client(refused);
    harness.settle();
    assert_eq!(harness.server.connection_count(), 0);
    assert_eq!(harness.state(waiting), tcp::State::SynSent);
    harness.run_until(3000, |harness| {
        harness.state(waiting) == tcp::State::Established
    });
    let responses = harness.request(waiting, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].status, 200);
    let statistics = harness.server.statistics();
    assert_eq!(statistics.connections_accepted, 5);
    assert_eq!(statistics.syns_dropped_at_limit, 1);
}

/// Only SYNs to the HTTP port are held back at the limit: a SYN to a port nobody listens on is
/// answered with RST (RFC 9293 §3.10.7.1) whether or not the server is dropping SYNs to port 80.
#[test]
fn a_syn_to_another_port_is_reset_whether_or_not_the_server_is_at_its_limit() {
    let mut config = test_config();
    config.max_connections = 1;
    config.listen_backlog = 1;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);

    let other_port = harness.connect_to_port(81, 4096, false);
    harness.run_until(100, |harness| {
        harness.state(other_port) == tcp::State::Closed
    });
    harness.remove_client(other_port);

    // One served connection in the middle of its second request and one refused connection
    // (waiting for its request head, up to a second): no socket listens on port 80 any more,
    // and its SYNs are dropped...
    let served = harness.connect();
    harness.request(served, &get("/hello.txt"), &[false]);
    harness.send(served, b"GET /hello.txt HTTP/1.1\r\nHo");
    let _overflow = harness.connect();
    let waiting = harness.connect_with(4096, false);
    harness.settle();
    assert_eq!(harness.state(waiting), tcp::State::SynSent);
    assert_eq!(harness.server.statistics().syns_dropped_at_limit, 1);

    // ... but a SYN to another port is still reset at once.
    let other_port = harness.connect_to_port(81, 4096, false);
    harness.run_until(100, |harness| {
        harness.state(other_port) == tcp::State::Closed
    });
    assert_eq!(harness.server.statistics().syns_dropped_at_limit, 1);
    assert_eq!(harness.state(waiting), tcp::State::SynSent);
}

/// Found by the attack run in QEMU: idle connections took every overflow slot for the whole
/// request-head timeout (10 s), so further clients got a TCP reset instead of `503`. An overflow
/// connection now waits for its request head at most `OVERFLOW_REQUEST_HEAD_MS` (1 s) and then
/// answers `503` with `Retry-After` anyway (RFC 9110 §15.6.4), and a client that then keeps its
/// end open holds the slot at most `OVERFLOW_CLOSE_LINGER_MS` (1 s) more.
#[test]
fn an_idle_overflow_connection_gets_503_after_a_second_and_frees_its_slot() {
    let mut config = test_config();
    config.max_connections = 2;
    config.listen_backlog = 2;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);

    // Two connections in the middle of their second request fill the limit (their own head
    // timeout is 10 s); they cannot be reclaimed.
    let idle: Vec<_> = (0..2).map(|_| harness.connect()).collect();
    for &client in &idle {
        harness.request(client, &get("/hello.txt"), &[false]);
        harness.send(client, b"GET /hello.txt HTTP/1.1\r\nHo");
    }
    let overflow = harness.connect();
    harness.advance(Duration::from_millis(900));
    assert!(!harness.peer_closed(overflow));
    harness.advance(Duration::from_millis(200));
    harness.run_until(1000, |harness| harness.peer_closed(overflow));
    let responses = parse_responses(&harness.take_received(overflow), &[false]).unwrap();
    assert_eq!(responses[0].status, 503);
    assert_eq!(responses[0].header("retry-after"), Some("1"));
    // The client never closes its end; the overflow socket lingers at most a second more
    // (`OVERFLOW_CLOSE_LINGER_MS`) before it is aborted.
    harness.advance(Duration::from_millis(1100));
    assert_eq!(harness.server.statistics().connections_aborted, 1);

    // The overflow slot is free again: the next client is told 503, not reset.
    let next = harness.connect();
    harness.send(next, &get("/hello.txt"));
    harness.run_until(1000, |harness| harness.peer_closed(next));
    let responses = parse_responses(&harness.take_received(next), &[false]).unwrap();
    assert_eq!(responses[0].status, 503);
    assert_eq!(harness.server.statistics().connections_refused, 2);
    for client in idle {
        assert!(!harness.peer_closed(client));
    }
}

/// Found comparing with nginx, which closes idle keep-alive connections when it runs out of
/// connections ("reusing connections"): here, clients that kept idle persistent connections
/// held the whole limit for the keep-alive timeout (75 s) and every newcomer got 503. Now a
/// newcomer at the limit makes the server close the connection idle longest (RFC 9112 §9.3: a
/// server may close an idle persistent connection at any time), and the newcomer is served.
#[test]
fn a_newcomer_at_the_limit_is_served_in_place_of_the_longest_idle_keep_alive_connection() {
    let mut config = test_config();
    config.max_connections = 2;
    config.listen_backlog = 2;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);

    // Two clients were served and keep their connections idle; the first one longest.
    let idle: Vec<_> = (0..2).map(|_| harness.connect()).collect();
    for &client in &idle {
        let responses = harness.request(client, &get("/hello.txt"), &[false]);
        assert_eq!(responses[0].status, 200);
        harness.advance(Duration::from_millis(100));
    }

    let newcomer = harness.connect();
    let responses = harness.request(newcomer, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].status, 200);
    harness.run_until(1000, |harness| harness.peer_closed(idle[0]));
    assert!(!harness.peer_closed(idle[1]));
    let statistics = harness.server.statistics();
    assert_eq!(statistics.idle_connections_reclaimed, 1);
    assert_eq!(statistics.connections_refused, 0);
    // The evicted client does not close its end (a flood would not): the socket lingers at
    // most a second (`SHORT_CLOSE_LINGER_MS`), then it is gone.
    harness.advance(Duration::from_millis(1100));
    assert_eq!(harness.server.connection_count(), 2);
}

/// As nginx frees connections when it runs out: with no idle keep-alive connection left, a
/// newcomer at the limit takes the place of the oldest connection that has not completed a
/// request head (connected and sent nothing, or a trickled head), so that a crowd of such
/// connections cannot lock real clients out.
#[test]
fn a_newcomer_at_the_limit_takes_the_place_of_the_oldest_connection_without_a_request() {
    let mut config = test_config();
    config.max_connections = 3;
    config.listen_backlog = 2;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);

    let silent = harness.connect();
    harness.advance(Duration::from_millis(100));
    let trickling = harness.connect();
    harness.send(trickling, b"GET /hello.txt HTTP/1.1\r\nHo");
    harness.advance(Duration::from_millis(100));
    let busy = harness.connect();
    harness.request(busy, &get("/hello.txt"), &[false]);
    harness.send(busy, b"GET /hello.txt HTTP/1.1\r\nHo");

    for (newcomer_number, evicted) in [(1, silent), (2, trickling)] {
        let newcomer = harness.connect();
        let responses = harness.request(newcomer, &get("/hello.txt"), &[false]);
        assert_eq!(responses[0].status, 200, "newcomer {newcomer_number}");
        harness.run_until(1000, |harness| harness.peer_closed(evicted));
        assert_eq!(
            harness.server.statistics().unstarted_connections_reclaimed,
            newcomer_number
        );
        // The newcomer has been served and would now be the idle one to go first: it starts
        // another request, so that the next newcomer shows the order of the unstarted ones.
        harness.send(newcomer, b"GET /hello.txt HTTP/1.1\r\nHo");
        harness.settle();
    }
    assert!(!harness.peer_closed(busy));
    assert_eq!(harness.server.statistics().connections_refused, 0);
}

/// A crowd at the limit: each search for connections to close keeps the best 64, and the
/// newcomers after it take them one by one. Over more newcomers than one search keeps, every
/// newcomer is still served in place of the oldest silent connection left, in order.
#[test]
fn newcomers_at_the_limit_take_the_places_of_the_oldest_silent_connections_in_order() {
    let mut config = test_config();
    config.max_connections = 100;
    config.listen_backlog = 2;
    config.overflow_connections_max = 1;
    let mut harness = Harness::new(config);
    let silent: Vec<_> = (0..100)
        .map(|_| {
            let client = harness.connect();
            harness.advance(Duration::from_millis(10));
            client
        })
        .collect();
    for (newcomer_number, &oldest) in silent.iter().take(90).enumerate() {
        let newcomer = harness.connect();
        let responses = harness.request(newcomer, &get("/hello.txt"), &[false]);
        assert_eq!(responses[0].status, 200, "newcomer {newcomer_number}");
        harness.run_until(1000, |harness| harness.peer_closed(oldest));
        // The newcomer starts another request, so that it is not the one to go next.
        harness.send(newcomer, b"GET /hello.txt HTTP/1.1\r\nHo");
        harness.settle();
    }
    for (index, &client) in silent.iter().enumerate().skip(90) {
        assert!(
            !harness.peer_closed(client),
            "silent connection {index} closed"
        );
    }
    let statistics = harness.server.statistics();
    assert_eq!(statistics.unstarted_connections_reclaimed, 90);
    assert_eq!(statistics.connections_refused, 0);
}

#[test]
fn slowloris_gets_408_after_the_header_timeout_while_others_are_served() {
    let mut harness = Harness::new(test_config());
    let slow = harness.connect();
    harness.send(slow, b"GET /hello.txt HTTP/1.1\r\nHost: te");
    harness.advance(Duration::from_secs(5));

    // A well-behaved client is served meanwhile.
    let normal = harness.connect();
    let responses = harness.request(normal, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].body, HELLO);
    assert!(harness.received(slow).is_empty());
    assert!(!harness.peer_closed(slow));

    // 10 s after the connection opened, the slow client gets 408 and the connection closes.
    harness.advance(Duration::from_secs(5));
    harness.run_until(1000, |harness| harness.peer_closed(slow));
    let responses = parse_responses(&harness.take_received(slow), &[false]).unwrap();
    assert_eq!(responses[0].status, 408);
    assert_eq!(responses[0].header("connection"), Some("close"));
    assert_eq!(harness.server.statistics().request_head_timeouts, 1);
    // The normal connection is untouched.
    assert_eq!(harness.state(normal), tcp::State::Established);
}

#[test]
fn a_connection_that_never_sends_gets_408_after_the_header_timeout() {
    let mut harness = Harness::new(test_config());
    let silent = harness.connect();
    harness.advance(Duration::from_millis(9_900));
    assert!(!harness.peer_closed(silent));
    harness.advance(Duration::from_millis(200));
    harness.run_until(1000, |harness| harness.peer_closed(silent));
    let responses = parse_responses(&harness.take_received(silent), &[false]).unwrap();
    assert_eq!(responses[0].status, 408);
}

#[test]
fn idle_keep_alive_connection_is_closed_silently_after_the_timeout() {
    let mut harness = Harness::new(test_config());
    let client = harness.connect();
    harness.request(client, &get("/hello.txt"), &[false]);
    // Let the client's ACK arrive: the idle clock starts after the last activity.
    harness.settle();
    harness.advance(Duration::from_secs(74));
    assert_eq!(harness.state(client), tcp::State::Established);
    harness.advance(Duration::from_secs(2));
    harness.run_until(1000, |harness| harness.peer_closed(client));
    assert!(
        harness.received(client).is_empty(),
        "idle close sends no response"
    );
    assert_eq!(harness.server.statistics().keep_alive_timeouts, 1);
    harness.close_client(client);
    harness.settle();
    assert_eq!(harness.server.connection_count(), 0);
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
    let mut harness = Harness::new(test_config());
    let stuck = harness.connect_with(4096, false);
    harness.run_until(1000, |harness| {
        harness.state(stuck) == tcp::State::Established
    });
    harness.send(stuck, &get("/big.bin"));
    harness.settle();
    assert_eq!(harness.server.connection_count(), 1);
    // Zero-window probes are answered, so TCP itself never gives up; the send timeout must.
    for _ in 0..31 {
        harness.advance(Duration::from_secs(1));
    }
    harness.run_until(2000, |harness| harness.state(stuck) == tcp::State::Closed);
    assert_eq!(harness.server.statistics().connections_aborted, 1);
    harness.settle();
    assert_eq!(harness.server.connection_count(), 0);
}

#[test]
fn sockets_return_to_the_listener_pool_after_many_connections() {
    let config = test_config();
    let listen_backlog = config.listen_backlog;
    let mut harness = Harness::new(config);
    assert_eq!(harness.server.socket_count(), listen_backlog);
    for batch in 0..10 {
        // Ten clients at a time: half of them ask the server to close first (the server's
        // socket would enter TIME-WAIT), half close first themselves.
        let clients: Vec<_> = (0..10)
            .map(|_| harness.connect_with(64 * 1024, true))
            .collect();
        harness.run_until(1000, |harness| {
            clients
                .iter()
                .all(|&client| harness.state(client) == tcp::State::Established)
        });
        for (index, &client) in clients.iter().enumerate() {
            if (batch + index) % 2 == 0 {
                harness.send(
                    client,
                    b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                );
            } else {
                harness.send(client, &get("/hello.txt"));
            }
        }
        harness.run_until(1000, |harness| {
            clients
                .iter()
                .all(|&client| parse_responses(harness.received(client), &[false]).is_some())
        });
        for &client in &clients {
            harness.socket(client).close();
        }
        harness.run_until(1000, |harness| {
            clients.iter().all(|&client| {
                matches!(
                    harness.state(client),
                    tcp::State::Closed | tcp::State::TimeWait
                )
            })
        });
        for client in clients {
            harness.remove_client(client);
        }
        harness.settle();
    }
    assert_eq!(harness.server.connection_count(), 0);
    assert_eq!(harness.server.socket_count(), listen_backlog);
    let statistics = harness.server.statistics();
    assert_eq!(statistics.connections_accepted, 100);
    assert_eq!(statistics.requests_answered, 100);
    assert_eq!(statistics.connections_aborted, 0);
}

#[test]
fn dhcp_without_a_server_falls_back_to_the_static_address() {
    // The default configuration: DHCP, falling back to 10.0.2.15/24 after 10 s.
    let mut config = test_config();
    config.ipv4 = bareserve::net::ServerConfig::new(common::SERVER_MAC).ipv4;
    let mut harness = Harness::new(config);
    harness.settle();
    assert_eq!(harness.server.ipv4_address(), None);
    harness.advance(Duration::from_secs(10));
    assert_eq!(
        harness.server.ipv4_address(),
        Some(Ipv4Address::new(10, 0, 2, 15))
    );
    let client = harness.connect();
    let responses = harness.request(client, &get("/hello.txt"), &[false]);
    assert_eq!(responses[0].status, 200);
}

/// Free heap as the test's fake allocator reports it (a static, so a plain `fn` can read it).
static FREE_MEMORY_BYTES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(usize::MAX);

fn fake_free_memory() -> usize {
    FREE_MEMORY_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// When the heap cannot hold another connection's buffers (the kernel's allocator reports free
/// bytes), new clients get `503` from the small overflow socket instead of an allocation failure
/// (which would panic and reset the kernel); once memory is back, clients are served again.
#[test]
fn clients_get_503_when_memory_runs_low_and_are_served_when_it_is_back() {
    let mut config = test_config();
    config.free_memory_bytes = Some(fake_free_memory);
    let mut harness = Harness::new(config);
    let client = harness.connect();
    assert_eq!(
        harness.request(client, &get("/hello.txt"), &[false])[0].status,
        200
    );
    harness.close_client(client);
    harness.settle();

    // Enough for the small overflow socket, not for a regular one.
    FREE_MEMORY_BYTES.store(
        bareserve::net::MEMORY_RESERVE_BYTES + 8 * 1024,
        std::sync::atomic::Ordering::Relaxed,
    );
    harness.settle();
    let refused = harness.connect();
    harness.send(refused, &get("/hello.txt"));
    harness.run_until(2000, |harness| harness.peer_closed(refused));
    let responses = parse_responses(&harness.take_received(refused), &[false]).unwrap();
    assert_eq!(responses[0].status, 503);
    harness.close_client(refused);

    FREE_MEMORY_BYTES.store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
    harness.settle();
    let client = harness.connect();
    assert_eq!(
        harness.request(client, &get("/hello.txt"), &[false])[0].status,
        200
    );
}

/// Free heap for the next test alone (tests run in parallel; each fake needs its own static).
static SHORT_MEMORY_BYTES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(usize::MAX);

fn short_free_memory() -> usize {
    SHORT_MEMORY_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Memory, not the connection limit, runs short while a connection sits idle between requests
/// (an idle flood at 16 MiB): a newcomer takes its place, as at the connection limit, instead
/// of getting `503`.
#[test]
fn a_newcomer_takes_an_idle_connections_place_when_memory_is_short() {
    let mut config = test_config();
    config.free_memory_bytes = Some(short_free_memory);
    let mut harness = Harness::new(config);
    let idle = harness.connect();
    assert_eq!(
        harness.request(idle, &get("/hello.txt"), &[false])[0].status,
        200
    );
    // Room for the overflow socket, not for a regular one beyond the reserve.
    SHORT_MEMORY_BYTES.store(
        bareserve::net::MEMORY_RESERVE_BYTES + 8 * 1024,
        std::sync::atomic::Ordering::Relaxed,
    );
    harness.settle();
    let newcomer = harness.connect();
    assert_eq!(
        harness.request(newcomer, &get("/hello.txt"), &[false])[0].status,
        200
    );
    harness.run_until(2000, |harness| harness.peer_closed(idle));
    let statistics = harness.server.statistics();
    assert_eq!(statistics.idle_connections_reclaimed, 1);
    assert_eq!(statistics.connections_refused, 0);
}

/// Free heap for the next test alone (tests run in parallel; each fake needs its own static).
static SCARCE_MEMORY_BYTES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(usize::MAX);

fn scarce_free_memory() -> usize {
    SCARCE_MEMORY_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Found in the benchmark (1024 clients of a 100 KiB file in a 16 MiB heap): when the heap cannot
/// hold even the overflow socket's buffers, no socket listens, and smoltcp answered every new SYN
/// with RST. Now the SYN gets its cookie, the ACK that finds no listener is dropped and closes an
/// idle connection to make room, and the client's retransmission is served once memory is back.
#[test]
fn a_syn_waits_instead_of_a_reset_when_memory_is_too_low_even_for_a_503() {
    let mut config = test_config();
    config.listen_backlog = 2;
    config.free_memory_bytes = Some(scarce_free_memory);
    let mut harness = Harness::new(config);

    let first = harness.connect();
    assert_eq!(
        harness.request(first, &get("/hello.txt"), &[false])[0].status,
        200
    );
    // Too little for any new socket (the overflow socket needs 8 KiB besides the reserve, a
    // spare one to take an idle connection's place half the reserve): the listeners close, and
    // a new client's SYN is dropped, not reset; the connection already open is still served.
    SCARCE_MEMORY_BYTES.store(
        bareserve::net::MEMORY_RESERVE_BYTES / 2 + 1024,
        std::sync::atomic::Ordering::Relaxed,
    );
    harness.settle();
    assert_eq!(
        harness.request(first, &get("/hello.txt"), &[false])[0].status,
        200
    );

    // The SYN still gets its cookie (which costs no memory); the ACK finds no listener, is
    // dropped, and makes the server close the idle connection to make room.
    let waiting = harness.connect();
    harness.send(waiting, &get("/hello.txt"));
    harness.run_until(2000, |harness| harness.peer_closed(first));
    let statistics = harness.server.statistics();
    assert!(statistics.syns_dropped_at_limit >= 1, "{statistics:?}");
    assert_eq!(statistics.idle_connections_reclaimed, 1);
    assert_eq!(statistics.connections_refused, 0);
    assert!(harness.received(waiting).is_empty());

    // Memory is back: the client's retransmitted request carries the same cookie and is served.
    SCARCE_MEMORY_BYTES.store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
    harness.run_until(5000, |harness| !harness.received(waiting).is_empty());
    harness.run_until(1000, |harness| {
        parse_responses(harness.received(waiting), &[false]).is_some()
    });
    let responses = parse_responses(&harness.take_received(waiting), &[false]).unwrap();
    assert_eq!(responses[0].status, 200);
}
