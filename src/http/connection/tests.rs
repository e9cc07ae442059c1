//! Tests of the connection state machine: pipelining, flow control, request bodies,
//! persistence, time limits and the access-log records.

use super::*;
use crate::site::FileEntry;
use alloc::vec;
use proptest::prelude::*;

const HELLO: &[u8] = b"hello\n";

fn site() -> Site {
    Site::from_entries([FileEntry {
        path: "hello.txt",
        body: HELLO,
        modified_unix_s: 1_700_000_000,
        etag: "\"h\"",
    }])
}

fn settings() -> ResponseSettings {
    ResponseSettings {
        server_name: "test",
        cache_control: None,
    }
}

fn get(path: &str) -> Vec<u8> {
    alloc::format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// What a connection answers from: the test site and settings, no clock.
fn context<'a>(site: &'a Site, settings: &'a ResponseSettings) -> ResponseContext<'a> {
    ResponseContext {
        site,
        settings,
        now_unix_s: None,
        prepared: None,
    }
}

fn new_connection(now_us: u64) -> Connection {
    Connection::new(
        now_us,
        Limits::default(),
        ConnectionTimeouts::default(),
        true,
    )
}

/// Everything the connection has to send, drained in chunks of `chunk` bytes.
fn drain(connection: &mut Connection, chunk: usize, now_us: u64) -> Vec<u8> {
    let mut output = Vec::new();
    let mut buffer = vec![0u8; chunk];
    loop {
        let count = connection.transmit(&mut buffer, now_us);
        if count == 0 {
            return output;
        }
        output.extend_from_slice(&buffer[..count]);
    }
}

/// Status codes of the responses in `output`, in order.
fn statuses(output: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(output);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(index, _)| text.get(index + 9..index + 12)?.parse().ok())
        .collect()
}

#[test]
fn pipelined_responses_are_identical_whatever_the_output_chunk_size() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut requests = get("/hello.txt");
    requests.extend_from_slice(&get("/missing"));
    requests.extend_from_slice(&get("/hello.txt"));
    let mut outputs = Vec::new();
    for chunk in [1, 7, 64, 100_000] {
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(&requests, 1, &context), requests.len());
        outputs.push(drain(&mut connection, chunk, 2));
        assert_eq!(connection.disposition(), Disposition::Open);
    }
    assert_eq!(statuses(&outputs[0]), [200, 404, 200]);
    assert!(outputs.iter().all(|output| *output == outputs[0]));
}

#[test]
fn too_many_queued_responses_push_back_on_input() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let request = get("/hello.txt");
    let requests: Vec<u8> = (0..1000).flat_map(|_| request.clone()).collect();
    let mut connection = new_connection(0);
    let mut offset = connection.receive(&requests, 1, &context);
    // 16 answered; the input buffer holds at most one maximal head; the rest waits in TCP.
    assert_eq!(connection.requests_answered(), MAX_QUEUED_RESPONSES as u64);
    assert!(offset <= connection.input_capacity);
    let mut answered = 0;
    for now_us in 2..1000 {
        answered += statuses(&drain(&mut connection, 4096, now_us)).len();
        offset += connection.receive(&requests[offset..], now_us, &context);
        if answered == 1000 {
            break;
        }
    }
    assert_eq!(answered, 1000);
    assert_eq!(offset, requests.len());
}

#[test]
fn request_head_timeout_is_exact_and_answers_408() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(1_000);
    assert_eq!(connection.receive(b"GET /hel", 2_000, &context), 8);
    // The clock runs from the connection start for the first request.
    assert_eq!(connection.next_deadline_us(), Some(10_001_000));
    assert_eq!(connection.poll_timers(10_000_999, &context), None);
    assert_eq!(
        connection.poll_timers(10_001_000, &context),
        Some(TimeoutEvent::RequestHead)
    );
    let output = drain(&mut connection, 4096, 10_001_000);
    assert!(output.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(connection.disposition(), Disposition::Close);
    assert_eq!(connection.next_deadline_us(), None);
}

/// The 408 head comes from the same writer as every other response (`HeadWriter`): the same
/// field order and `X-Content-Type-Options: nosniff`.
#[test]
fn request_head_timeout_head_has_the_common_fields_and_order() {
    let (site, settings) = (site(), settings());
    let context = ResponseContext {
        site: &site,
        settings: &settings,
        now_unix_s: Some(0),
        prepared: None,
    };
    let mut connection = new_connection(0);
    connection.receive(b"GET /hel", 1, &context);
    assert_eq!(
        connection.poll_timers(10_000_000, &context),
        Some(TimeoutEvent::RequestHead)
    );
    let output = drain(&mut connection, 4096, 10_000_000);
    let body = b"408 Request Timeout: the request did not arrive in time.\n";
    let mut expected = b"HTTP/1.1 408 Request Timeout\r\nServer: test\r\n\
          Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Length: 57\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
        .to_vec();
    expected.extend_from_slice(body);
    assert_eq!(
        String::from_utf8_lossy(&output),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn idle_connection_closes_silently_after_keep_alive_timeout() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    connection.receive(&get("/hello.txt"), 5, &context);
    drain(&mut connection, 4096, 6);
    connection.set_transport_backlog(100, 6);
    connection.set_transport_backlog(0, 50);
    assert_eq!(connection.next_deadline_us(), Some(75_000_050));
    assert_eq!(connection.poll_timers(75_000_049, &context), None);
    assert_eq!(
        connection.poll_timers(75_000_050, &context),
        Some(TimeoutEvent::KeepAliveIdle)
    );
    assert_eq!(connection.disposition(), Disposition::Close);
    assert!(!connection.has_output());
}

#[test]
fn no_sending_progress_aborts_after_send_stall_timeout() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    connection.receive(&get("/hello.txt"), 10, &context);
    // The transport takes part of the output, then the client's window stays shut. 20 bytes
    // are less than MINIMUM_SEND_PROGRESS_BYTES: the clock still runs from the request (10).
    let mut buffer = [0u8; 20];
    assert_eq!(connection.transmit(&mut buffer, 20), 20);
    connection.set_transport_backlog(20, 20);
    assert_eq!(connection.transmit(&mut [], 5_000_000), 0);
    assert_eq!(connection.next_deadline_us(), Some(30_000_010));
    assert_eq!(connection.poll_timers(30_000_009, &context), None);
    assert_eq!(
        connection.poll_timers(30_000_010, &context),
        Some(TimeoutEvent::SendStall)
    );
    assert_eq!(connection.disposition(), Disposition::Abort);
}

/// A slow-read client: it acknowledges a little just before each send-stall limit runs out.
/// Trickles below MINIMUM_SEND_PROGRESS_BYTES per limit do not count as progress; a reader that
/// takes at least that much per limit keeps its connection.
#[test]
fn acknowledging_a_trickle_does_not_hold_a_connection_open() {
    static BIG: [u8; 1 << 20] = [b'x'; 1 << 20];
    let site = Site::from_entries([FileEntry {
        path: "big.bin",
        body: &BIG,
        modified_unix_s: 1_700_000_000,
        etag: "\"b\"",
    }]);
    let settings = settings();
    let context = context(&site, &settings);
    for (bytes_per_round, survives) in [(100, false), (4096, true)] {
        let mut connection = new_connection(0);
        connection.receive(&get("/big.bin"), 0, &context);
        // The transport takes 64 KiB at once and holds it all (the client's window is shut).
        let mut window = vec![0u8; 64 * 1024];
        assert_eq!(connection.transmit(&mut window, 0), window.len());
        let mut backlog = window.len();
        connection.set_transport_backlog(backlog, 0);
        let mut now_us = 0;
        let mut aborted_at_us = None;
        // Every 29 s the client acknowledges `bytes_per_round`; the transport refills.
        for _ in 0..10 {
            now_us += 29_000_000;
            if connection.poll_timers(now_us, &context) == Some(TimeoutEvent::SendStall) {
                aborted_at_us = Some(now_us);
                break;
            }
            backlog -= bytes_per_round;
            connection.set_transport_backlog(backlog, now_us);
            let taken = connection.transmit(&mut window[..bytes_per_round], now_us);
            backlog += taken;
            connection.set_transport_backlog(backlog, now_us);
        }
        if survives {
            assert_eq!(aborted_at_us, None, "{bytes_per_round} bytes per round");
            assert_eq!(connection.disposition(), Disposition::Open);
        } else {
            // Progress counted from the 64 KiB hand-over at 0; 100-byte trickles never reach
            // 4 KiB before the limit, so the connection ends at the second check (58 s).
            assert_eq!(
                aborted_at_us,
                Some(58_000_000),
                "{bytes_per_round} bytes per round"
            );
            assert_eq!(connection.disposition(), Disposition::Abort);
        }
    }
}

#[test]
fn request_body_is_discarded_across_segments() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    let head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc";
    assert_eq!(connection.receive(head, 1, &context), head.len());
    assert_eq!(connection.receive(b"defg", 2, &context), 4);
    let mut rest = b"hij".to_vec();
    rest.extend_from_slice(&get("/missing"));
    assert_eq!(connection.receive(&rest, 3, &context), rest.len());
    assert_eq!(statuses(&drain(&mut connection, 4096, 4)), [200, 404]);
}

#[test]
fn client_close_drops_a_partial_request_and_finishes_after_output() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    let mut bytes = get("/hello.txt");
    bytes.extend_from_slice(b"GET /hel");
    connection.receive(&bytes, 1, &context);
    connection.receive_closed();
    assert_eq!(connection.disposition(), Disposition::Open);
    assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [200]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    for request in [
        &b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..],
        &b"GET /hello.txt HTTP/1.0\r\n\r\n"[..],
    ] {
        let mut bytes = request.to_vec();
        // Anything after the last request is ignored.
        bytes.extend_from_slice(&get("/hello.txt"));
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(&bytes, 1, &context), bytes.len());
        assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [200]);
        assert_eq!(connection.disposition(), Disposition::Close);
    }
}

#[test]
fn refusing_connection_answers_503_with_retry_after() {
    let (site, settings) = (site(), settings());
    let context = ResponseContext {
        site: &site,
        settings: &settings,
        now_unix_s: Some(0),
        prepared: None,
    };
    let mut connection =
        Connection::new_refusing(0, Limits::default(), ConnectionTimeouts::default(), false);
    connection.receive(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", 1, &context);
    let output = drain(&mut connection, 4096, 2);
    assert_eq!(
        output,
        b"HTTP/1.1 503 Service Unavailable\r\nServer: test\r\n\
          Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Length: 66\r\nRetry-After: 1\r\nX-Content-Type-Options: nosniff\r\n\
          Connection: close\r\n\r\n"
    );
    assert_eq!(connection.disposition(), Disposition::Close);
}

#[test]
fn oversized_head_is_rejected_and_closes() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    let mut bytes = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n".to_vec();
    while bytes.len() < 40_000 {
        bytes.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(connection.receive(&bytes, 1, &context), bytes.len());
    assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [431]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

#[test]
fn access_log_records_status_bytes_and_times() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    connection.receive(
        b"GET /hello.txt?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        100,
        &context,
    );
    let output = drain(&mut connection, 4096, 350);
    let records = connection.take_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, 200);
    assert_eq!(records[0].response_bytes, output.len() as u64);
    assert_eq!((records[0].parsed_at_us, records[0].sent_at_us), (100, 350));
    assert_eq!(records[0].request, "GET /hello.txt?x=1");
}

/// RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` may wait for the interim
/// response before sending the content; when the final response came first it may even
/// skip the content. Sending `100 Continue` before the final response (as nginx does when it
/// discards a body) tells it to send the content, so the body bytes and the next request
/// stay framed as the client means them.
#[test]
fn expect_100_continue_gets_an_interim_response_before_the_final_one() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let head =
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n";
    let mut connection = new_connection(0);
    assert_eq!(connection.receive(head, 1, &context), head.len());
    let output = drain(&mut connection, 4096, 2);
    assert!(
        output.starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&output)
    );
    assert!(output.ends_with(HELLO));
    // The content, then the next request: both framed as sent.
    let mut rest = b"abcde".to_vec();
    rest.extend_from_slice(&get("/missing"));
    assert_eq!(connection.receive(&rest, 3, &context), rest.len());
    assert_eq!(statuses(&drain(&mut connection, 4096, 4)), [404]);
    assert_eq!(connection.disposition(), Disposition::Open);

    // No interim response: without content, when the content already arrived, for
    // HTTP/1.0 (RFC 9110 §10.1.1: MUST ignore the expectation), and before a final response
    // that closes the connection.
    let cases: [&[u8]; 4] = [
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx",
        b"GET /hello.txt HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n",
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    ];
    for request in cases {
        let mut connection = new_connection(0);
        connection.receive(request, 1, &context);
        let output = drain(&mut connection, 4096, 2);
        assert_eq!(
            statuses(&output),
            [200],
            "{}",
            String::from_utf8_lossy(request)
        );
    }
}

/// Found by the attack run: 60 pipelined requests followed by the client's FIN got 38
/// answers. The requests beyond the response queue waited in the input buffer, and the FIN
/// threw them away. A half-closed client still gets every complete request answered
/// (RFC 9112 §9.6: the FIN ends the requests, not the responses).
#[test]
fn requests_waiting_behind_a_full_response_queue_are_answered_after_the_peer_fin() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let count = MAX_QUEUED_RESPONSES + 4;
    let requests: Vec<u8> = (0..count).flat_map(|_| get("/hello.txt")).collect();
    let mut connection = new_connection(0);
    assert_eq!(connection.receive(&requests, 1, &context), requests.len());
    assert_eq!(connection.requests_answered(), MAX_QUEUED_RESPONSES as u64);
    connection.receive_closed();
    let mut output = Vec::new();
    for now_us in 2..10 {
        output.extend_from_slice(&drain(&mut connection, 4096, now_us));
        connection.receive(&[], now_us, &context);
    }
    assert_eq!(statuses(&output), vec![200; count]);
    assert_eq!(connection.disposition(), Disposition::Close);

    // A partial request left behind the queue is dropped once the queue drains.
    let mut requests = requests;
    requests.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\nHo");
    let mut connection = new_connection(0);
    assert_eq!(connection.receive(&requests, 1, &context), requests.len());
    connection.receive_closed();
    let mut output = Vec::new();
    for now_us in 2..10 {
        output.extend_from_slice(&drain(&mut connection, 4096, now_us));
        connection.receive(&[], now_us, &context);
    }
    assert_eq!(statuses(&output), vec![200; count]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

proptest! {
    #[test]
    fn arbitrary_input_in_arbitrary_pieces_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(1usize..512, 1..16),
        seed_request in any::<bool>(),
    ) {
        let (site, settings) = (site(), settings());
        let context = ResponseContext { site: &site, settings: &settings, now_unix_s: Some(1) , prepared: None,};
        let mut connection = new_connection(0);
        let mut input = if seed_request { get("/hello.txt") } else { Vec::new() };
        input.extend_from_slice(&bytes);
        let mut offset = 0;
        let mut now_us = 0;
        for cut in cuts.iter().cycle().take(64) {
            let end = (offset + cut).min(input.len());
            let consumed = connection.receive(&input[offset..end], now_us, &context);
            prop_assert!(consumed <= end - offset);
            offset += consumed;
            drain(&mut connection, 300, now_us);
            now_us += 1_000_000;
            connection.poll_timers(now_us, &context);
            if offset == input.len() {
                break;
            }
        }
    }
}

/// A head trickled one byte at a time gets the same answers as one sent whole: the parser runs
/// again only when a new byte can change the verdict (see `input::PartialHead`).
#[test]
fn heads_trickled_byte_by_byte_get_the_same_answers() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let long_target = alloc::format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let many_fields = alloc::format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-A: b\r\n".repeat(200)
    );
    let cases: [(&[u8], u16); 6] = [
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
            200,
        ),
        (b"\r\nGET /nothing HTTP/1.1\r\nHost: t\r\n\r\n", 404),
        (b"G\x16T / HTTP/1.1\r\n\r\n", 400),
        (b"GET /hello.txt HTTP/1.1\rHost: t\r\n\r\n", 400),
        (long_target.as_bytes(), 414),
        (many_fields.as_bytes(), 431),
    ];
    for (head, expected) in cases {
        let mut whole = new_connection(0);
        whole.receive(head, 1, &context);
        let whole_statuses = statuses(&drain(&mut whole, 1 << 20, 2));
        let mut trickled = new_connection(0);
        for byte in head {
            trickled.receive(core::slice::from_ref(byte), 1, &context);
            if trickled.has_output() {
                break;
            }
        }
        let trickled_statuses = statuses(&drain(&mut trickled, 1 << 20, 2));
        assert_eq!(whole_statuses.first(), Some(&expected), "{}", head.len());
        assert_eq!(trickled_statuses, whole_statuses, "{}", head.len());
    }
}

#[test]
fn a_partial_head_is_parsed_again_only_when_new_bytes_can_change_the_verdict() {
    let limits = Limits::default();
    let capacity = 32 * 1024;
    let could = |before: &[u8], after: &[u8]| {
        input::PartialHead::of(before).parse_could_say_more(after, &limits, capacity)
    };
    // Inside the method: token bytes cannot, anything else can.
    assert!(!could(b"GE", b"GET"));
    assert!(could(b"GE", b"GE\x16"));
    assert!(could(b"GE", b"GET "));
    // Inside the target and version: only a CR or LF can.
    assert!(!could(b"GET /a", b"GET /ab\x01c"));
    assert!(could(b"GET /a", b"GET /a\r"));
    assert!(could(b"GET / HTTP/1.1", b"GET / HTTP/1.1\n"));
    // In the header section: line ends, CRs, the limits.
    assert!(!could(
        b"GET / HTTP/1.1\r\nHost: a",
        b"GET / HTTP/1.1\r\nHost: ab"
    ));
    assert!(could(
        b"GET / HTTP/1.1\r\nHost: a",
        b"GET / HTTP/1.1\r\nHost: a\r"
    ));
    // Nothing new: nothing to say.
    assert!(!could(
        b"GET / HTTP/1.1\r\nHost: a",
        b"GET / HTTP/1.1\r\nHost: a"
    ));
    // Past the request-line limit without a line end.
    let long = alloc::format!("GET /{}", "a".repeat(limits.request_line_max_bytes));
    assert!(could(&long.as_bytes()[..100], long.as_bytes()));
}

const CHUNKED_POST: &[u8] =
    b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
      5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";

/// RFC 9112 §7.1: a chunked body is decoded and discarded like a Content-Length one: POST gets
/// the 405 it gets with Content-Length, GET its file, the connection stays open, and a request
/// pipelined after the body is answered — in every split of the bytes.
#[test]
fn chunked_body_is_discarded_and_the_pipelined_request_answered_in_every_split() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let chunked_get = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                        2\r\nhi\r\n0\r\n\r\n";
    for (first, expected) in [(CHUNKED_POST, [405, 200]), (&chunked_get[..], [200, 200])] {
        let mut bytes = first.to_vec();
        bytes.extend_from_slice(&get("/hello.txt"));
        for cut in 0..=bytes.len() {
            let mut connection = new_connection(0);
            assert_eq!(connection.receive(&bytes[..cut], 1, &context), cut);
            assert_eq!(
                connection.receive(&bytes[cut..], 2, &context),
                bytes.len() - cut
            );
            let output = drain(&mut connection, 4096, 3);
            assert_eq!(statuses(&output), expected, "cut at {cut}");
            assert_eq!(connection.disposition(), Disposition::Open);
            assert_eq!(connection.buffered_input_bytes(), 0);
        }
        // Byte by byte.
        let mut connection = new_connection(0);
        for byte in &bytes {
            assert_eq!(
                connection.receive(core::slice::from_ref(byte), 1, &context),
                1
            );
        }
        assert_eq!(statuses(&drain(&mut connection, 4096, 2)), expected);
        assert_eq!(connection.disposition(), Disposition::Open);
    }
}

/// The response to a request with a chunked body waits for the body's end: only then is it
/// known whether the framing was valid.
#[test]
fn a_chunked_request_is_answered_once_its_body_has_ended() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    let split = CHUNKED_POST.len() - 5;
    connection.receive(&CHUNKED_POST[..split], 1, &context);
    assert!(!connection.has_output());
    connection.receive(&CHUNKED_POST[split..], 2, &context);
    assert_eq!(statuses(&drain(&mut connection, 4096, 3)), [405]);
    assert_eq!(connection.disposition(), Disposition::Open);
}

/// RFC 9112 §7.1, §11.2: malformed chunked framing is answered 400 alone (not the response the
/// head would have had) and the connection closes; a request pipelined after it is not
/// answered. Over the body limit it is 413, a trailer section too large 431, the same way.
#[test]
fn malformed_chunked_body_gets_400_and_nothing_after_it() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let large = alloc::format!("{:x}\r\n", Limits::default().discard_body_max_bytes + 1);
    let trailer = alloc::format!("0\r\n{}\r\n", "X-Filler: aaaaaaaa\r\n".repeat(500));
    let cases: [(&[u8], u16); 7] = [
        (b"5\r\nhelloX\r\n0\r\n\r\n", 400),
        (b"5\nhello\r\n0\r\n\r\n", 400),
        (b"z\r\n", 400),
        (b"00000000000000000\r\n", 400),
        (b"0\r\nBad Trailer\r\n\r\n", 400),
        (large.as_bytes(), 413),
        (trailer.as_bytes(), 431),
    ];
    for (body, expected) in cases {
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(&get("/hello.txt"));
        for cut in [head.len(), head.len() + 1, bytes.len()] {
            let mut connection = new_connection(0);
            connection.receive(&bytes[..cut], 1, &context);
            // Whatever comes after the error is swallowed, and not answered.
            assert_eq!(
                connection.receive(&bytes[cut..], 2, &context),
                bytes.len() - cut
            );
            let output = drain(&mut connection, 4096, 3);
            let label = String::from_utf8_lossy(body);
            assert_eq!(statuses(&output), [expected], "{label} cut at {cut}");
            assert!(
                String::from_utf8_lossy(&output).contains("Connection: close\r\n"),
                "{label}"
            );
            assert_eq!(connection.disposition(), Disposition::Close, "{label}");
            connection.receive(&get("/hello.txt"), 4, &context);
            assert!(drain(&mut connection, 4096, 5).is_empty());
        }
    }
}

/// A client that expects 100-continue gets the interim response at once, and the final one
/// after the body (RFC 9110 §10.1.1).
#[test]
fn expect_100_continue_with_a_chunked_body() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
                 Expect: 100-continue\r\n\r\n";
    let mut connection = new_connection(0);
    connection.receive(head, 1, &context);
    assert_eq!(
        drain(&mut connection, 4096, 2),
        b"HTTP/1.1 100 Continue\r\n\r\n"
    );
    assert_eq!(connection.requests_answered(), 0);
    connection.receive(b"3\r\nabc\r\n0\r\n\r\n", 3, &context);
    assert_eq!(statuses(&drain(&mut connection, 4096, 4)), [405]);
    assert_eq!(connection.requests_answered(), 1);
    assert_eq!(connection.disposition(), Disposition::Open);
}

/// A chunked body that stops is a request that never completed: the client's FIN drops it and
/// the connection closes unanswered; a body that trickles too long gets 408, as a head does.
#[test]
fn an_unfinished_chunked_body_is_dropped_on_fin_and_timed_out() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let partial = &CHUNKED_POST[..CHUNKED_POST.len() - 10];
    let mut connection = new_connection(0);
    connection.receive(partial, 1, &context);
    connection.receive_closed();
    assert!(drain(&mut connection, 4096, 2).is_empty());
    assert_eq!(connection.disposition(), Disposition::Close);

    let mut connection = new_connection(0);
    connection.receive(partial, 1_000, &context);
    assert_eq!(connection.next_deadline_us(), Some(10_001_000));
    assert_eq!(
        connection.poll_timers(10_001_000, &context),
        Some(TimeoutEvent::RequestHead)
    );
    assert_eq!(statuses(&drain(&mut connection, 4096, 10_001_000)), [408]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

/// A response that closes the connection is sent without reading the chunked body, as with a
/// Content-Length body: nothing after it is read.
#[test]
fn a_closing_response_does_not_wait_for_the_chunked_body() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
                 Connection: close\r\n\r\n5\r\nhel";
    let mut connection = new_connection(0);
    assert_eq!(connection.receive(head, 1, &context), head.len());
    assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [200]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

/// A head trickled up to the limit grows the input buffer in steps that never pass the head
/// limit: with `Vec`'s own doubling a 16 KiB buffer became 32 KiB for a head limit of 24 KiB,
/// half again the memory a client can make each connection hold.
#[test]
fn the_input_buffer_never_grows_past_the_head_limit() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection = new_connection(0);
    // Long fields, so that the head reaches the size limit before the field-count limit.
    let mut field = b"X-Filler: ".to_vec();
    field.resize(900, b'a');
    field.extend_from_slice(b"\r\n");
    let mut head = b"GET /hello.txt HTTP/1.1\r\n".to_vec();
    while head.len() < connection.input_capacity {
        head.extend_from_slice(&field);
    }
    let mut offset = 0;
    let mut largest_capacity = 0;
    for now_us in 1..10_000u64 {
        let end = (offset + 1000).min(head.len());
        offset += connection.receive(&head[offset..end], now_us, &context);
        largest_capacity = largest_capacity.max(connection.input.capacity());
        if offset == head.len() || connection.has_output() {
            break;
        }
    }
    assert!(
        largest_capacity <= connection.input_capacity,
        "input buffer grew to {largest_capacity} bytes for a limit of {}",
        connection.input_capacity
    );
    // Far past 16 KiB: the buffer did grow beyond the doubling step that used to overshoot.
    assert!(
        largest_capacity > 16 * 1024,
        "grew to {largest_capacity} only"
    );
}

/// A refusing (overflow) connection holds at most `REFUSING_INPUT_MAX_BYTES` of a head and
/// answers `503` (not `431`) when a longer one fills it.
#[test]
fn a_refusing_connection_answers_a_long_head_503_from_a_small_buffer() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    let mut connection =
        Connection::new_refusing(0, Limits::default(), ConnectionTimeouts::default(), false);
    let mut head = b"GET /hello.txt HTTP/1.1\r\n".to_vec();
    while head.len() < 3 * REFUSING_INPUT_MAX_BYTES {
        head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    connection.receive(&head, 1, &context);
    assert!(connection.input.capacity() <= REFUSING_INPUT_MAX_BYTES);
    let output = drain(&mut connection, 4096, 2);
    assert_eq!(statuses(&output), [503]);
    assert_eq!(connection.disposition(), Disposition::Close);
}

/// While the heap is short a head timeout closes without building the `408`; otherwise the
/// `408` is sent (the same connection, the same times).
#[test]
fn a_head_timeout_while_memory_is_short_closes_without_a_response() {
    let (site, settings) = (site(), settings());
    let context = context(&site, &settings);
    for short in [false, true] {
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(b"GET /hel", 1, &context), 8);
        connection.set_memory_short(short);
        assert_eq!(
            connection.poll_timers(10_000_000, &context),
            Some(TimeoutEvent::RequestHead)
        );
        let output = drain(&mut connection, 4096, 10_000_000);
        if short {
            assert!(output.is_empty());
        } else {
            assert_eq!(statuses(&output), [408]);
        }
        assert_eq!(connection.disposition(), Disposition::Close);
    }
}
