//! Responses: files, directories, redirects, methods, error pages, dates and precompressed
//! siblings.

use super::*;

#[test]
fn serves_files_directories_and_redirects() {
    let html = "text/html; charset=utf-8";
    let cases: Vec<ResponseCase> = vec![
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 14, "\"home\""),
            None,
            b"<h1>home</h1>\n".to_vec(),
        ),
        (
            b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 14, "\"home\""),
            None,
            b"<h1>home</h1>\n".to_vec(),
        ),
        (
            b"GET /docs/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 14, "\"docs\""),
            None,
            b"<h1>docs</h1>\n".to_vec(),
        ),
        (
            b"GET //docs//./guide.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            None,
            b"guide".to_vec(),
        ),
        (
            b"GET /docs/a%20b.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields("text/plain; charset=utf-8", 6, "\"spaced\""),
            None,
            b"spaced".to_vec(),
        ),
        (
            b"GET /Photo.JPG HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields("image/jpeg", 4, "\"jpeg\""),
            None,
            b"jpeg".to_vec(),
        ),
        (
            b"GET /nested/deeper/file.bin HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields("application/octet-stream", 2, "\"bin\""),
            None,
            b"\x00\x01".to_vec(),
        ),
        (
            b"GET /empty.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields("text/plain; charset=utf-8", 0, "\"empty\""),
            None,
            Vec::new(),
        ),
        (
            b"HEAD /docs/guide.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            None,
            Vec::new(),
        ),
        (
            b"GET /docs/guide.html HTTP/1.0\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            Some("close"),
            b"guide".to_vec(),
        ),
        (
            b"GET /docs/guide.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            Some("keep-alive"),
            b"guide".to_vec(),
        ),
        (
            b"GET /docs/guide.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            Some("close"),
            b"guide".to_vec(),
        ),
        (
            b"GET http://a/docs/guide.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            None,
            b"guide".to_vec(),
        ),
        (
            b"GET /docs/guide.html?v=2 HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields(html, 5, "\"guide\""),
            None,
            b"guide".to_vec(),
        ),
        // Directory without slash: 301, query kept, path re-encoded.
        (
            b"GET /docs HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 301 Moved Permanently",
            with(html_error(301), &["Location: /docs/"]),
            None,
            builtin_page(301),
        ),
        (
            b"GET /docs?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 301 Moved Permanently",
            with(html_error(301), &["Location: /docs/?x=1&y"]),
            None,
            builtin_page(301),
        ),
        (
            b"GET /nested//deeper HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 301 Moved Permanently",
            with(html_error(301), &["Location: /nested/deeper/"]),
            None,
            builtin_page(301),
        ),
        (
            b"HEAD /docs HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 301 Moved Permanently",
            with(html_error(301), &["Location: /docs/"]),
            None,
            Vec::new(),
        ),
        // Not found: missing file, directory without index, file named as a directory.
        (
            b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            None,
            builtin_page(404),
        ),
        (
            b"GET /nested/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            None,
            builtin_page(404),
        ),
        (
            b"GET /docs/guide.html/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            None,
            builtin_page(404),
        ),
        (
            b"GET /DOCS/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            None,
            builtin_page(404),
        ),
        (
            b"HEAD /missing HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            None,
            Vec::new(),
        ),
        (
            b"GET /missing HTTP/1.0\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            html_error(404),
            Some("close"),
            builtin_page(404),
        ),
    ];
    check_cases(&test_site(), cases);
}

#[test]
fn location_is_percent_encoded() {
    let site = Site::from_entries(vec![file("a b/\u{e9}?#/index.html", b"x", "\"x\"")]);
    let response = serve_on(
        &site,
        b"GET /a%20b/%C3%A9%3F%23?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(response.status, 301);
    assert!(
        head_text(&response).contains("\r\nLocation: /a%20b/%C3%A9%3F%23/?q=1\r\n"),
        "{}",
        head_text(&response)
    );
    let followed = serve_on(
        &site,
        b"GET /a%20b/%C3%A9%3F%23/?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(followed.status, 200);
}

#[test]
fn methods() {
    let cases: Vec<ResponseCase> = vec![
        (
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 204 No Content",
            fields(&["Allow: GET, HEAD, OPTIONS"]),
            None,
            Vec::new(),
        ),
        (
            b"OPTIONS /docs/guide.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 204 No Content",
            fields(&["Allow: GET, HEAD, OPTIONS"]),
            None,
            Vec::new(),
        ),
        (
            b"OPTIONS * HTTP/1.0\r\n\r\n",
            "HTTP/1.1 204 No Content",
            fields(&["Allow: GET, HEAD, OPTIONS"]),
            Some("close"),
            Vec::new(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"PUT /x HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 501 Not Implemented",
            html_error(501),
            Some("close"),
            builtin_page(501),
        ),
        (
            b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
            html_error(400),
            Some("close"),
            builtin_page(400),
        ),
        (
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            "HTTP/1.1 505 HTTP Version Not Supported",
            html_error(505),
            Some("close"),
            builtin_page(505),
        ),
        (
            b"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
            html_error(400),
            Some("close"),
            builtin_page(400),
        ),
        // A chunked body frames like a Content-Length one: POST is 405 and the connection
        // stays open (the connection layer reads the body past).
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 501 Not Implemented",
            html_error(501),
            Some("close"),
            builtin_page(501),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
            html_error(400),
            Some("close"),
            builtin_page(400),
        ),
    ];
    check_cases(&test_site(), cases);
}

#[test]
fn error_responses_for_limits() {
    let site = test_site();
    for (error, status_line) in [
        (
            RequestError::RequestLineTooLong,
            "HTTP/1.1 414 URI Too Long",
        ),
        (
            RequestError::HeaderSectionTooLarge,
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            RequestError::ContentTooLarge,
            "HTTP/1.1 413 Content Too Large",
        ),
    ] {
        let response = error_response(&error, &site, NOW, &settings());
        let status = error.status();
        let expected = expected_head(
            status_line,
            &html_error(status)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            Some("close"),
        );
        assert_eq!(head_text(&response), expected);
        assert_eq!(response.body.to_vec(), builtin_page(status));
        assert!(response.close_after);
    }
}

#[test]
fn error_pages_come_from_the_site_when_present() {
    let site = site_with_error_pages();
    let cases: Vec<ResponseCase> = vec![
        (
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            fields(&[
                "Content-Type: text/html; charset=utf-8",
                "Content-Length: 17",
            ]),
            None,
            b"custom not found\n".to_vec(),
        ),
        (
            b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            fields(&[
                "Content-Type: text/html; charset=utf-8",
                "Content-Length: 17",
            ]),
            None,
            Vec::new(),
        ),
        // No 405.html: built in.
        (
            b"PUT / HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
            with(html_error(405), &["Allow: GET, HEAD, OPTIONS"]),
            None,
            builtin_page(405),
        ),
        // The error page itself is an ordinary file too.
        (
            b"GET /404.html HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK",
            file_fields("text/html; charset=utf-8", 17, "\"404\""),
            None,
            b"custom not found\n".to_vec(),
        ),
    ];
    check_cases(&site, cases);
}

#[test]
fn date_and_cache_control_follow_settings() {
    let site = test_site();
    let raw = b"GET /docs/guide.html HTTP/1.1\r\nHost: a\r\n\r\n";
    let ParseOutcome::Complete { request, .. } = parse(raw) else {
        panic!()
    };
    let settings = ResponseSettings {
        server_name: "test-server",
        cache_control: Some("public, max-age=60".into()),
    };
    let response = respond(&request, &site, None, &settings);
    assert_eq!(
        head_text(&response),
        alloc::format!(
            "HTTP/1.1 200 OK\r\nServer: test-server\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: 5\r\nLast-Modified: {MODIFIED_TEXT}\r\nETag: \"guide\"\r\n\
             Accept-Ranges: bytes\r\nCache-Control: public, max-age=60\r\n\
             X-Content-Type-Options: nosniff\r\n\r\n"
        )
    );
    // Errors carry no Cache-Control.
    let missing = b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n";
    let ParseOutcome::Complete { request, .. } = parse(missing) else {
        panic!()
    };
    let response = respond(&request, &site, None, &settings);
    assert!(!head_text(&response).contains("Cache-Control"));
}

#[test]
fn precompressed_siblings() {
    let css = "text/css; charset=utf-8";
    let gzip_fields = |etag: &str, length: usize| {
        with(
            file_fields(css, length, etag),
            &["Content-Encoding: gzip", "Vary: Accept-Encoding"],
        )
    };
    let plain_fields = || with(file_fields(css, 21, "\"css\""), &["Vary: Accept-Encoding"]);
    let plain = b"body { color: red; }\n".to_vec();
    let gzipped = b"GZIPPED-CSS".to_vec();
    let cases: Vec<ResponseCase> = vec![
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br;q=1.0, GZIP;q=0.5\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: x-gzip\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: *\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\nAccept-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"HEAD /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, Vec::new()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip; q=0.000\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: *, gzip;q=0\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: *;q=0\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=2\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0.0001\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0.001\r\n\r\n",
            "HTTP/1.1 200 OK", gzip_fields("\"css-gz\"", 11), None, gzipped.clone()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: deflate, identity\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        // Ranges apply to the gzip representation.
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nRange: bytes=0-6\r\n\r\n",
            "HTTP/1.1 206 Partial Content",
            with(file_fields(css, 7, "\"css-gz\""), &[
                "Content-Range: bytes 0-6/11", "Content-Encoding: gzip", "Vary: Accept-Encoding",
            ]),
            None, b"GZIPPED".to_vec()),
        // Conditionals use the variant's own ETag.
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"css-gz\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified",
            fields(&[&alloc::format!("Last-Modified: {MODIFIED_TEXT}"), "ETag: \"css-gz\"", "Vary: Accept-Encoding"]),
            None, Vec::new()),
        (b"GET /style.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"css-gz\"\r\n\r\n",
            "HTTP/1.1 200 OK", plain_fields(), None, plain.clone()),
        // The .gz file itself is served as what it is.
        (b"GET /style.css.gz HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK", file_fields("application/gzip", 11, "\"css-gz\""), None, gzipped),
    ];
    check_cases(&test_site(), cases);
}
