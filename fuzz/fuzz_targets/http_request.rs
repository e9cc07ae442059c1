//! Fuzz target: any bytes through `parse_request` and then `respond` or `error_response`; checks
//! that nothing panics and that every response is well-formed.
#![no_main]

use std::sync::OnceLock;

use bareserve::http::{
    Body, Limits, Method, ParseOutcome, Response, ResponseSettings, error_response, parse_request,
    respond,
};
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
            entry("docs/index.html", b"<h1>docs</h1>\n", "\"docs\""),
            entry("docs/guide.html", b"guide text", "\"guide\""),
            entry("digits.txt", b"0123456789", "\"digits\""),
            entry("style.css", b"body { color: red; }\n", "\"css\""),
            entry("style.css.gz", b"GZIPPED-CSS", "\"css-gz\""),
            entry("empty.txt", b"", "\"empty\""),
            entry("404.html", b"not here\n", "\"404\""),
        ])
    })
}

fn check(response: &Response, method: Option<Method>) {
    let head = std::str::from_utf8(&response.head).expect("head is UTF-8");
    assert!(head.starts_with("HTTP/1.1 ") && head.ends_with("\r\n\r\n"));
    let mut content_length = None;
    for line in head[..head.len() - 4].split("\r\n").skip(1) {
        let (name, value) = line.split_once(": ").expect("field syntax");
        if name == "Content-Length" {
            assert!(content_length.is_none());
            content_length = Some(value.parse::<usize>().expect("decimal"));
        }
    }
    match response.status {
        204 | 304 => assert!(content_length.is_none() && response.body == Body::Empty),
        _ if method == Some(Method::Head) => assert!(response.body == Body::Empty),
        _ => assert_eq!(content_length, Some(response.body.len())),
    }
}

fuzz_target!(|data: &[u8]| {
    let settings = ResponseSettings {
        server_name: "bareserve",
        cache_control: None,
    };
    match parse_request(data, &Limits::default()) {
        ParseOutcome::Complete { request, head_len } => {
            assert!(head_len <= data.len());
            check(
                &respond(&request, site(), Some(1_700_000_000), &settings),
                Some(request.method),
            );
        }
        ParseOutcome::Partial => {}
        ParseOutcome::Error(error) => {
            let response = error_response(&error, site(), Some(1_700_000_000), &settings);
            assert_eq!(response.status, error.status());
            check(&response, None);
        }
    }
});
