//! Property tests of the HTTP layer: no input makes `parse_request`, `respond` or
//! `error_response` panic, and every response is well-formed (a valid status line, fields ending in
//! CRLF, and a Content-Length equal to the body length unless HEAD, 204 or 304).
#![allow(clippy::unwrap_used)]

use bareserve::http::{
    Body, Limits, Method, ParseOutcome, Response, ResponseSettings, error_response, parse_request,
    respond,
};
use bareserve::site::{FileEntry, Site};
use proptest::prelude::*;

fn site() -> Site {
    let entry = |path: &'static str, body: &'static [u8], etag: &'static str| FileEntry {
        path,
        body,
        modified_unix_s: 1_700_000_000,
        etag,
    };
    Site::from_entries(vec![
        entry("index.html", b"<h1>home</h1>\n", "\"home\""),
        entry("docs/index.html", b"<h1>docs</h1>\n", "\"docs\""),
        entry("docs/guide.html", b"guide text", "\"guide\""),
        entry("digits.txt", b"0123456789", "\"digits\""),
        entry("style.css", b"body { color: red; }\n", "\"css\""),
        entry("style.css.gz", b"GZIPPED-CSS", "\"css-gz\""),
        entry("empty.txt", b"", "\"empty\""),
        entry("404.html", b"not here\n", "\"404\""),
    ])
}

fn settings() -> ResponseSettings {
    ResponseSettings {
        server_name: "bareserve",
        cache_control: Some("max-age=60".into()),
    }
}

/// Checks the shape of a response; `method` is `None` when the request did not parse.
fn check_response(response: &Response, method: Option<Method>) {
    let head = std::str::from_utf8(&response.head).expect("head is UTF-8");
    assert!(head.ends_with("\r\n\r\n"), "{head:?}");
    let mut lines = head[..head.len() - 4].split("\r\n");
    let status_line = lines.next().unwrap();
    let status_text = status_line.strip_prefix("HTTP/1.1 ").expect("version");
    let (code, reason) = status_text.split_once(' ').expect("reason");
    assert_eq!(code.len(), 3);
    assert_eq!(code.parse::<u16>().unwrap(), response.status);
    assert!((100..600).contains(&response.status));
    assert!(!reason.is_empty());
    let mut content_length: Option<usize> = None;
    for line in lines {
        assert!(!line.contains('\r') && !line.contains('\n'), "{line:?}");
        let (name, value) = line.split_once(": ").expect("field syntax");
        assert!(
            !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_graphic()),
            "{line:?}"
        );
        if name == "Content-Length" {
            assert!(content_length.is_none(), "one Content-Length");
            content_length = Some(value.parse().unwrap());
        }
    }
    match response.status {
        204 | 304 => {
            assert_eq!(content_length, None);
            assert_eq!(response.body, Body::Empty);
        }
        _ if method == Some(Method::Head) => {
            assert!(content_length.is_some());
            assert_eq!(response.body, Body::Empty);
        }
        _ => assert_eq!(content_length, Some(response.body.len()), "{head}"),
    }
}

fn exercise(buffer: &[u8]) {
    let site = site();
    match parse_request(buffer, &Limits::default()) {
        ParseOutcome::Complete { request, head_len } => {
            assert!(head_len <= buffer.len());
            let response = respond(&request, &site, Some(1_700_000_000), &settings());
            check_response(&response, Some(request.method));
            if request.wants_close() {
                assert!(response.close_after);
            }
            let undated = respond(&request, &site, None, &settings());
            assert!(!String::from_utf8_lossy(&undated.head).contains("\r\nDate: "));
        }
        ParseOutcome::Partial => {}
        ParseOutcome::Error(error) => {
            let response = error_response(&error, &site, Some(1_700_000_000), &settings());
            check_response(&response, None);
            assert_eq!(response.status, error.status());
            assert!(response.close_after);
        }
    }
}

const SEEDS: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-3,5-,-2\r\n\r\n",
    "GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0.5, *;q=0\r\nIf-None-Match: \"css-gz\"\r\n\r\n",
    "HEAD /docs HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT\r\nRange: bytes=2-4\r\n\r\n",
    "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://a/docs/./../docs/guide.html?x HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Tue Nov 14 22:13:20 2023\r\n\r\n",
];

/// A seed request with a few random byte edits.
fn mutated_request() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, any::<u8>());
    (
        prop::sample::select(SEEDS),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = seed.as_bytes().to_vec();
            for (position, kind, byte) in edits {
                let index = position.index(bytes.len() + 1);
                match kind {
                    0 => bytes.insert(index, byte),
                    1 if index < bytes.len() => {
                        bytes.remove(index);
                    }
                    _ if index < bytes.len() => bytes[index] = byte,
                    _ => bytes.push(byte),
                }
            }
            bytes
        })
}

/// A structurally valid request with random path and interesting header values.
fn structured_request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(&["GET", "HEAD", "OPTIONS", "POST", "BREW"][..]);
    let path = "(/([a-z.]{0,6}|%[0-9A-Fa-f]{2}|\\.\\.|\\.)){1,5}/?(\\?[a-z=&%]{0,8})?";
    let value = prop_oneof![
        "bytes=[0-9]{0,3}-[0-9]{0,3}(,[0-9]{0,3}-[0-9]{0,3}){0,20}",
        "(W/)?\"[a-z-]{0,8}\"(, ?(W/)?\"[a-z-]{0,8}\"){0,3}",
        Just(String::from("*")),
        Just(String::from("Tue, 14 Nov 2023 22:13:20 GMT")),
        "[a-z*]{1,6}(;q=[0-9.]{1,5})?(, ?[a-z*]{1,6}(;q=[0-9.]{1,5})?){0,3}",
        "[ -~]{0,20}",
    ];
    let name = prop::sample::select(
        &[
            "Range",
            "If-Range",
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "If-Unmodified-Since",
            "Accept-Encoding",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Host",
        ][..],
    );
    let fields = prop::collection::vec((name, value), 0..6);
    let version = prop::sample::select(&["HTTP/1.1", "HTTP/1.0"][..]);
    (method, path, version, fields).prop_map(|(method, path, version, fields)| {
        let mut text = format!("{method} {path} {version}\r\nHost: a\r\n");
        for (name, value) in fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(buffer in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&buffer);
    }

    #[test]
    fn mutated_requests_never_panic(buffer in mutated_request()) {
        exercise(&buffer);
    }

    #[test]
    fn structured_requests_give_well_formed_responses(buffer in structured_request()) {
        exercise(&buffer);
    }

    #[test]
    fn every_prefix_of_a_valid_request_is_partial(cut in 0usize..200) {
        for seed in SEEDS {
            let head_len = seed.find("\r\n\r\n").unwrap() + 4;
            let end = cut.min(head_len - 1);
            prop_assert_eq!(parse_request(&seed.as_bytes()[..end], &Limits::default()), ParseOutcome::Partial);
        }
    }
}
