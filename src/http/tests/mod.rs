//! Table-driven tests of the HTTP layer: raw request bytes in, exact response heads out. This
//! file holds the test site and the helpers; the tests are grouped by topic below it.
#![allow(clippy::unwrap_used)]

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::site::{FileEntry, Site};

const NOW: Option<u64> = Some(784_111_777);
const NOW_TEXT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
/// 2023-11-14 22:13:20 UTC, the modification time of every test file.
const MODIFIED: u64 = 1_700_000_000;
const MODIFIED_TEXT: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

fn file(path: &'static str, body: &'static [u8], etag: &'static str) -> FileEntry {
    FileEntry {
        path,
        body,
        modified_unix_s: MODIFIED,
        etag,
    }
}

fn test_site() -> Site {
    Site::from_entries(vec![
        file("index.html", b"<h1>home</h1>\n", "\"home\""),
        file("docs/index.html", b"<h1>docs</h1>\n", "\"docs\""),
        file("docs/guide.html", b"guide", "\"guide\""),
        file("docs/a b.txt", b"spaced", "\"spaced\""),
        file("nested/deeper/file.bin", b"\x00\x01", "\"bin\""),
        file("digits.txt", b"0123456789", "\"digits\""),
        file("style.css", b"body { color: red; }\n", "\"css\""),
        file("style.css.gz", b"GZIPPED-CSS", "\"css-gz\""),
        file("empty.txt", b"", "\"empty\""),
        file("Photo.JPG", b"jpeg", "\"jpeg\""),
    ])
}

fn site_with_error_pages() -> Site {
    Site::from_entries(vec![
        file("index.html", b"home", "\"home\""),
        file("404.html", b"custom not found\n", "\"404\""),
    ])
}

fn settings() -> ResponseSettings {
    ResponseSettings {
        server_name: "bareserve",
        cache_control: None,
    }
}

fn parse(raw: &[u8]) -> ParseOutcome<'_> {
    parse_request(raw, &Limits::default())
}

fn request_of(raw: &'static [u8]) -> Request<'static> {
    match parse(raw) {
        ParseOutcome::Complete { request, head_len } => {
            assert_eq!(
                head_len,
                raw.len(),
                "head length of {:?}",
                String::from_utf8_lossy(raw)
            );
            request
        }
        other => panic!("{:?} → {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn head_text(response: &Response) -> String {
    String::from_utf8(response.head.clone()).unwrap()
}

/// The head expected for a response, from the status line and the fields between Date and
/// X-Content-Type-Options, plus the connection field.
fn expected_head(status_line: &str, fields: &[&str], connection: Option<&str>) -> String {
    let mut text = String::from(status_line);
    text.push_str("\r\nServer: bareserve\r\nDate: ");
    text.push_str(NOW_TEXT);
    text.push_str("\r\n");
    for field in fields {
        text.push_str(field);
        text.push_str("\r\n");
    }
    text.push_str("X-Content-Type-Options: nosniff\r\n");
    if let Some(connection) = connection {
        text.push_str("Connection: ");
        text.push_str(connection);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

fn serve(raw: &'static [u8]) -> Response {
    serve_on(&test_site(), raw)
}

fn serve_on(site: &Site, raw: &'static [u8]) -> Response {
    match parse(raw) {
        ParseOutcome::Complete { request, .. } => respond(&request, site, NOW, &settings()),
        ParseOutcome::Error(error) => error_response(&error, site, NOW, &settings()),
        ParseOutcome::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
    }
}

fn builtin_page(status: u16) -> Vec<u8> {
    let reason = reason_phrase(status);
    alloc::format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
         <body><h1>{status} {reason}</h1></body></html>\n"
    )
    .into_bytes()
}

// Shared by the response tests.

/// `(request, status line, fields between Date and X-Content-Type-Options, Connection value,
/// body)`.
type ResponseCase = (
    &'static [u8],
    &'static str,
    Vec<String>,
    Option<&'static str>,
    Vec<u8>,
);

fn fields(list: &[&str]) -> Vec<String> {
    list.iter().map(|field| String::from(*field)).collect()
}

fn check_cases(site: &Site, cases: Vec<ResponseCase>) {
    for (raw, status_line, field_list, connection, body) in cases {
        let response = serve_on(site, raw);
        let field_refs: Vec<&str> = field_list.iter().map(String::as_str).collect();
        let expected = expected_head(status_line, &field_refs, connection);
        let context = String::from_utf8_lossy(raw);
        assert_eq!(head_text(&response), expected, "{context:?}");
        assert_eq!(response.body.to_vec(), body, "{context:?}");
        assert_eq!(
            response.close_after,
            connection == Some("close"),
            "{context:?}"
        );
        let status: u16 = status_line[9..12].parse().unwrap();
        assert_eq!(response.status, status, "{context:?}");
    }
}

fn html_error(status: u16) -> Vec<String> {
    let length = builtin_page(status).len();
    vec![
        String::from("Content-Type: text/html; charset=utf-8"),
        alloc::format!("Content-Length: {length}"),
    ]
}

fn file_fields(content_type: &str, length: usize, etag: &str) -> Vec<String> {
    vec![
        alloc::format!("Content-Type: {content_type}"),
        alloc::format!("Content-Length: {length}"),
        alloc::format!("Last-Modified: {MODIFIED_TEXT}"),
        alloc::format!("ETag: {etag}"),
        String::from("Accept-Ranges: bytes"),
    ]
}

fn with(mut list: Vec<String>, extra: &[&str]) -> Vec<String> {
    list.extend(extra.iter().map(|field| String::from(*field)));
    list
}

mod parsing;
mod prepared;
mod responses;
mod validators_and_ranges;
