//! Fuzz target: the `Connection` state machine fed an arbitrary byte stream in arbitrary pieces,
//! its output read as a client would (sometimes partially) in between. Checks that the input
//! buffer and the response queue stay within their documented bounds, that the output is a
//! sequence of well-formed HTTP/1.1 responses (Content-Length-delimited bodies), and that nothing
//! follows a response that closes the connection.
#![no_main]

use std::sync::OnceLock;

use bareserve::http::connection::{
    Connection, ConnectionTimeouts, Disposition, MAX_QUEUED_RESPONSES, ResponseContext,
};
use bareserve::http::{Limits, PreparedHeads, ResponseSettings};
use bareserve::site::{FileEntry, Site};
use libfuzzer_sys::fuzz_target;

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let entry = |path: &'static str, body: &'static [u8], etag: &'static str| FileEntry {
            path,
            body,
            modified_unix_s: 1_700_000_000,
            etag,
        };
        Site::from_entries(vec![
            entry("index.html", b"<h1>home</h1>\n", "\"home\""),
            entry("digits.txt", b"0123456789", "\"digits\""),
            entry("style.css", b"body { color: red; }\n", "\"css\""),
            entry("style.css.gz", b"GZIPPED-CSS", "\"css-gz\""),
            entry("empty.txt", b"", "\"empty\""),
        ])
    })
}

/// Reads a response sequence from the bytes a client received, as a client would.
#[derive(Default)]
struct ResponseChecker {
    pending: Vec<u8>,
    /// A response that said `Connection: close` was read completely.
    closed: bool,
    responses: usize,
}

impl ResponseChecker {
    fn feed(&mut self, bytes: &[u8]) {
        assert!(
            bytes.is_empty() || !self.closed,
            "output after a closing response"
        );
        self.pending.extend_from_slice(bytes);
        while let Some(head_end) = self
            .pending
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
        {
            let head = std::str::from_utf8(&self.pending[..head_end]).expect("head is UTF-8");
            let mut lines = head.split("\r\n");
            let status_line = lines.next().expect("status line");
            let status: u16 = status_line
                .strip_prefix("HTTP/1.1 ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse().ok())
                .expect("HTTP/1.1 status line");
            assert!((100..600).contains(&status), "{status_line}");
            let mut content_length = None;
            let mut close = false;
            for line in lines {
                let (name, value) = line.split_once(": ").expect("field syntax");
                assert!(!name.is_empty() && name.bytes().all(|byte| byte.is_ascii_graphic()));
                if name.eq_ignore_ascii_case("content-length") {
                    assert!(content_length.is_none(), "two Content-Length fields");
                    content_length = Some(value.parse::<usize>().expect("decimal length"));
                }
                if name.eq_ignore_ascii_case("connection") && value == "close" {
                    close = true;
                }
            }
            let mut body_bytes = match status {
                100..=199 | 204 | 304 => 0,
                _ => content_length.expect("final response with Content-Length"),
            };
            let body_start = head_end + 4;
            let rest = &self.pending[body_start..];
            if body_bytes > 0 {
                // A HEAD response announces a length it does not send (RFC 9110 §9.3.2); the
                // output alone does not say which request it answers, so a head that follows
                // at once marks it (no body of the test site starts with a status line).
                if rest.len() < body_bytes.min(9) {
                    return;
                }
                if rest.starts_with(b"HTTP/1.1 ") {
                    body_bytes = 0;
                } else if rest.len() < body_bytes {
                    return;
                }
            }
            assert!(!self.closed, "a response after a closing response");
            self.pending.drain(..body_start + body_bytes);
            self.responses += 1;
            if status >= 200 && close {
                self.closed = true;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first bytes choose the piece sizes and the reading pattern; the rest is the stream.
    if data.len() < 4 {
        return;
    }
    let control_bytes = (4 + usize::from(data[0] % 16)).min(data.len());
    let (control, stream) = data.split_at(control_bytes);
    let settings = ResponseSettings {
        server_name: "bareserve",
        cache_control: None,
    };
    // Half the inputs are answered with the prepared heads the server uses, half without.
    let prepared = PreparedHeads::new(site(), &settings);
    let context = ResponseContext {
        site: site(),
        settings: &settings,
        now_unix_s: Some(1_700_000_000),
        prepared: (data[1] & 1 == 1).then_some(&prepared),
    };
    let mut connection =
        Connection::new(0, Limits::default(), ConnectionTimeouts::default(), false);
    let mut checker = ResponseChecker::default();
    let mut offset = 0usize;
    let mut now_us = 1u64;
    let mut round = 0usize;
    let mut output = vec![0u8; 4096];
    while round < 10_000 {
        let choice = control[round % control.len()];
        round += 1;
        let piece = 1 + usize::from(choice) * 7;
        let end = (offset + piece).min(stream.len());
        let consumed = connection.receive(&stream[offset..end], now_us, &context);
        assert!(consumed <= end - offset);
        offset += consumed;
        assert!(connection.buffered_input_bytes() <= connection.input_capacity_bytes());
        assert!(connection.queued_responses() <= MAX_QUEUED_RESPONSES + 1);
        // Read all of the output, or only part of it.
        let read_bytes = if choice & 1 == 0 {
            output.len()
        } else {
            1 + usize::from(choice >> 1)
        };
        let count = connection.transmit(&mut output[..read_bytes], now_us);
        checker.feed(&output[..count]);
        now_us += 1000;
        if connection.disposition() != Disposition::Open {
            break;
        }
        if offset == stream.len() && consumed == 0 && count == 0 {
            connection.receive_closed();
            // Drain what is left.
            loop {
                let count = connection.transmit(&mut output, now_us);
                if count == 0 {
                    break;
                }
                checker.feed(&output[..count]);
            }
            break;
        }
    }
    assert!(connection.queued_responses() <= MAX_QUEUED_RESPONSES + 1);
});
