//! Conditional requests (RFC 9110 §13) and ranges (RFC 9110 §14).

use super::*;

fn not_modified_fields(etag: &str) -> Vec<String> {
    vec![
        alloc::format!("Last-Modified: {MODIFIED_TEXT}"),
        alloc::format!("ETag: {etag}"),
    ]
}

#[test]
fn conditional_requests_follow_rfc_9110_section_13_2_2() {
    let text = "text/plain; charset=utf-8";
    let ok = || file_fields(text, 10, "\"digits\"");
    let digits = b"0123456789".to_vec();
    let not_modified = || not_modified_fields("\"digits\"");
    let cases: Vec<ResponseCase> = vec![
        // If-None-Match: weak comparison, lists, `*`, commas inside tags.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/\"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"a,b\", \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.0\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), Some("close"), Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: digits\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"digits\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        // If-Modified-Since: not modified when Last-Modified <= the date, any of three formats.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Tue Nov 14 22:13:20 2023\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: yesterday\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        // If-None-Match wins over If-Modified-Since (step 3 before step 4).
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\nIf-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        // If-Match: strong comparison.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: *\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\", \"digits\"\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: W/\"digits\"\r\n\r\n",
            "HTTP/1.1 412 Precondition Failed", html_error(412), None, builtin_page(412)),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"other\"\r\n\r\n",
            "HTTP/1.1 412 Precondition Failed", html_error(412), None, builtin_page(412)),
        (b"HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"other\"\r\n\r\n",
            "HTTP/1.1 412 Precondition Failed", html_error(412), None, Vec::new()),
        // If-Unmodified-Since, ignored when If-Match is present or the date is invalid.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n",
            "HTTP/1.1 412 Precondition Failed", html_error(412), None, builtin_page(412)),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: not a date\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"digits\"\r\nIf-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        // If-Match is evaluated before If-None-Match.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"other\"\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 412 Precondition Failed", html_error(412), None, builtin_page(412)),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"digits\"\r\nIf-None-Match: \"digits\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        // Preconditions come before Range.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"digits\"\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 304 Not Modified", not_modified(), None, Vec::new()),
        // No representation: conditionals do not apply (RFC 9110 §13.2.1).
        (b"GET /missing HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\n\r\n",
            "HTTP/1.1 404 Not Found", html_error(404), None, builtin_page(404)),
    ];
    check_cases(&test_site(), cases);
}

#[test]
fn not_modified_carries_cache_control() {
    let site = test_site();
    let raw = b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"digits\"\r\n\r\n";
    let ParseOutcome::Complete { request, .. } = parse(raw) else {
        panic!()
    };
    let settings = ResponseSettings {
        server_name: "bareserve",
        cache_control: Some("no-cache".into()),
    };
    let response = respond(&request, &site, NOW, &settings);
    let mut expected_fields = not_modified_fields("\"digits\"");
    expected_fields.push("Cache-Control: no-cache".into());
    let refs: Vec<&str> = expected_fields.iter().map(String::as_str).collect();
    assert_eq!(
        head_text(&response),
        expected_head("HTTP/1.1 304 Not Modified", &refs, None)
    );
}

#[test]
fn single_ranges() {
    let text = "text/plain; charset=utf-8";
    let partial = |length: usize, content_range: &str| {
        with(file_fields(text, length, "\"digits\""), &[content_range])
    };
    let ok = || file_fields(text, 10, "\"digits\"");
    let digits = b"0123456789".to_vec();
    let unsatisfiable = |length: u64| {
        with(
            html_error(416),
            &[&alloc::format!("Content-Range: bytes */{length}")],
        )
    };
    let cases: Vec<ResponseCase> = vec![
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-4\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(5, "Content-Range: bytes 0-4/10"), None, b"01234".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(5, "Content-Range: bytes 5-9/10"), None, b"56789".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-3\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(3, "Content-Range: bytes 7-9/10"), None, b"789".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=8-100\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(2, "Content-Range: bytes 8-9/10"), None, b"89".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-3,2-5\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(6, "Content-Range: bytes 0-5/10"), None, b"012345".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=10-\r\n\r\n",
            "HTTP/1.1 416 Range Not Satisfiable", unsatisfiable(10), None, builtin_page(416)),
        (b"GET /empty.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-\r\n\r\n",
            "HTTP/1.1 416 Range Not Satisfiable", unsatisfiable(0), None, builtin_page(416)),
        // Malformed or foreign ranges are ignored.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-4\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: items=0-4\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,0-0,1-1,2-2,3-3,4-4,5-5,6-6\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        // Range is for GET only.
        (b"HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-4\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, Vec::new()),
        // If-Range: strong ETag or exact date, else the whole representation.
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: \"digits\"\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(2, "Content-Range: bytes 0-1/10"), None, b"01".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 206 Partial Content", partial(2, "Content-Range: bytes 0-1/10"), None, b"01".to_vec()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: \"other\"\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: W/\"digits\"\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: Wed, 15 Nov 2023 00:00:00 GMT\r\nRange: bytes=0-1\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: \"digits\"\r\nRange: bytes=20-\r\n\r\n",
            "HTTP/1.1 416 Range Not Satisfiable", unsatisfiable(10), None, builtin_page(416)),
        (b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-Range: \"other\"\r\nRange: bytes=20-\r\n\r\n",
            "HTTP/1.1 200 OK", ok(), None, digits.clone()),
    ];
    check_cases(&test_site(), cases);
}

#[test]
fn multiple_ranges_are_multipart_byteranges() {
    let response =
        serve(b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=7-8, 0-1, -1\r\n\r\n");
    let head = head_text(&response);
    let boundary = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Content-Type: multipart/byteranges; boundary="))
        .unwrap();
    assert!(
        boundary.starts_with("bareserve-") && boundary.len() == 26,
        "{boundary}"
    );
    let expected_body = alloc::format!(
        "\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
         \r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 7-9/10\r\n\r\n789\
         \r\n--{boundary}--\r\n"
    );
    let content_type = alloc::format!("Content-Type: multipart/byteranges; boundary={boundary}");
    let content_length = alloc::format!("Content-Length: {}", expected_body.len());
    let last_modified = alloc::format!("Last-Modified: {MODIFIED_TEXT}");
    assert_eq!(
        head,
        expected_head(
            "HTTP/1.1 206 Partial Content",
            &[
                &content_type,
                &content_length,
                &last_modified,
                "ETag: \"digits\"",
                "Accept-Ranges: bytes"
            ],
            None
        )
    );
    assert_eq!(response.body.to_vec(), expected_body.into_bytes());
    assert_eq!(response.status, 206);
}

/// Found by the attack run: the boundary search scanned every selected byte before the first
/// response byte, 0.4 s for a two-range request over a 10 MiB file on QEMU, during which no other
/// connection is served — and a client that never reads can queue sixteen such requests per
/// connection. Multipart responses are bounded to `MULTIPART_SCAN_MAX_BYTES` of selected
/// content; beyond that the Range field is ignored (RFC 9110 §14.2: a server MAY ignore it) and
/// the whole representation is sent, which costs no scan.
#[test]
fn multipart_ranges_over_the_scan_budget_get_the_whole_representation() {
    let length = 2 * 1024 * 1024 + 10;
    let content: &'static [u8] = alloc::boxed::Box::leak(vec![b'a'; length].into_boxed_slice());
    let site = Site::from_entries(vec![file("big.bin", content, "\"big\"")]);
    // Selected bytes: 1 MiB + 1 and 2 → over the budget.
    let response = serve_on(
        &site,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1048576,2000000-2000001\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), length);
    assert!(head_text(&response).contains(&alloc::format!("\r\nContent-Length: {length}\r\n")));
    // Exactly the budget still gets multipart/byteranges.
    let response = serve_on(
        &site,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1048573,2000000-2000001\r\n\r\n",
    );
    assert_eq!(response.status, 206);
    assert!(head_text(&response).contains("multipart/byteranges"));
    // A single range is sent without a scan, whatever its size.
    let response = serve_on(
        &site,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1-\r\n\r\n",
    );
    assert_eq!(response.status, 206);
    assert_eq!(response.body.len(), length - 1);
}

#[test]
fn multipart_boundary_avoids_the_content() {
    // Find the boundary for this ETag, then make a file that contains it.
    let probe_site = Site::from_entries(vec![file("f.bin", b"abcdef", "\"tag\"")]);
    let probe = serve_on(
        &probe_site,
        b"GET /f.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0,2-2\r\n\r\n",
    );
    let head = head_text(&probe);
    let first_boundary = String::from(
        head.split("\r\n")
            .find_map(|line| line.strip_prefix("Content-Type: multipart/byteranges; boundary="))
            .unwrap(),
    );
    let content: &'static [u8] = alloc::boxed::Box::leak(
        alloc::format!("{first_boundary}xx{first_boundary}")
            .into_bytes()
            .into_boxed_slice(),
    );
    let site = Site::from_entries(vec![file("f.bin", content, "\"tag\"")]);
    let response = serve_on(
        &site,
        b"GET /f.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-29,-26\r\n\r\n",
    );
    assert_eq!(response.status, 206);
    let head = head_text(&response);
    assert!(!head.contains(&first_boundary), "{head}");
    assert_eq!(
        response.body.len(),
        head.split("\r\nContent-Length: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    );
}

/// A list of thousands of entity-tags (as much as the header-section limit holds) is judged by
/// one walk over the field, with no list built: a match at its end counts, and a malformed tag
/// anywhere makes the whole list match nothing (RFC 9110 §13.1.2: the field is then invalid).
#[test]
fn a_long_if_none_match_list_is_judged_to_its_end() {
    let mut tags = String::new();
    for _ in 0..3_000 {
        tags.push_str("\"x\",");
    }
    let request = |list: &str| -> &'static [u8] {
        let text =
            alloc::format!("GET /digits.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: {list}\r\n\r\n");
        Box::leak(text.into_bytes().into_boxed_slice())
    };
    let status = |raw: &'static [u8]| head_text(&serve(raw)).lines().next().unwrap().to_owned();
    assert_eq!(
        status(request(&alloc::format!("{tags}\"digits\""))),
        "HTTP/1.1 304 Not Modified"
    );
    assert_eq!(status(request(&tags)), "HTTP/1.1 200 OK");
    assert_eq!(
        status(request(&alloc::format!("\"digits\",{tags}bad"))),
        "HTTP/1.1 200 OK"
    );
}
