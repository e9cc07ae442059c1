//! Parsing: request lines, targets, framing, persistence, errors and limits.

use super::*;

#[test]
fn parses_a_simple_request() {
    let request = request_of(
        b"GET /docs/guide.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.version, Version::Http11);
    assert_eq!(
        request.target,
        Target::Path {
            path: "/docs/guide.html".into(),
            query: Some("x=1")
        }
    );
    assert_eq!(request.content_length, None);
    assert!(!request.chunked);
    assert!(!request.wants_close());
    assert_eq!(request.header("ACCEPT"), Some(&b"*/*"[..]));
    assert_eq!(request.headers().len(), 2);
}

#[test]
fn head_length_excludes_the_body_and_counts_leading_empty_lines() {
    let raw = b"\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    match parse(raw) {
        ParseOutcome::Complete { request, head_len } => {
            assert_eq!(head_len, raw.len() - 5);
            assert_eq!(request.content_length, Some(5));
            assert_eq!(request.method, Method::Post);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn persistence_follows_version_and_connection_field() {
    let cases: &[(&[u8], bool, bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, false),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            true,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
            true,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
            true,
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", true, false),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            false,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            true,
            false,
        ),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", false, false),
    ];
    for (raw, close, keep_alive_header) in cases {
        let ParseOutcome::Complete { request, .. } = parse(raw) else {
            panic!("{:?}", String::from_utf8_lossy(raw));
        };
        assert_eq!(
            request.wants_close(),
            *close,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(request.wants_keep_alive_header(), *keep_alive_header);
    }
}

#[test]
fn targets_are_decoded_and_normalised() {
    let cases: &[(&[u8], Target<'static>)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/".into(),
                query: None,
            },
        ),
        (
            b"GET /a//b///c HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/b/c".into(),
                query: None,
            },
        ),
        (
            b"GET /a/./b/../c HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/c".into(),
                query: None,
            },
        ),
        (
            b"GET /a/b/.. HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/".into(),
                query: None,
            },
        ),
        (
            b"GET /a/. HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/".into(),
                query: None,
            },
        ),
        (
            b"GET /a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/".into(),
                query: None,
            },
        ),
        (
            b"GET /%61%2Fb HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a/b".into(),
                query: None,
            },
        ),
        (
            b"GET /a/%2e%2E/b HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/b".into(),
                query: None,
            },
        ),
        (
            b"GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/caf\u{e9}".into(),
                query: None,
            },
        ),
        (
            b"GET /a%20b?q=%ZZ HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/a b".into(),
                query: Some("q=%ZZ"),
            },
        ),
        (
            b"GET /? HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/".into(),
                query: Some(""),
            },
        ),
        (
            b"GET http://example.com/x/y?z HTTP/1.1\r\nHost: other\r\n\r\n",
            Target::Path {
                path: "/x/y".into(),
                query: Some("z"),
            },
        ),
        (
            b"GET HTTPS://example.com:8443 HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/".into(),
                query: None,
            },
        ),
        (
            b"GET http://example.com?q HTTP/1.1\r\nHost: a\r\n\r\n",
            Target::Path {
                path: "/".into(),
                query: Some("q"),
            },
        ),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Target::Asterisk),
        (
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Target::Authority("example.com:443"),
        ),
    ];
    for (raw, expected) in cases {
        assert_eq!(
            request_of(raw).target,
            *expected,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn invalid_requests_are_rejected_with_the_right_error() {
    use RequestError::*;
    let cases: &[(&[u8], RequestError)] = &[
        // Request line.
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/3.1\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET /\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / extra HTTP/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", InvalidMethod),
        (b"G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n", InvalidMethod),
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", MethodNotImplemented),
        (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", MethodNotImplemented),
        // Target.
        (b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET ftp://host/x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET http://user@host/x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /% HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /a%0Ab HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /%7F HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /%C3%28 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /%FF HTTP/1.1\r\nHost: a\r\n\r\n", InvalidPath),
        (b"GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", PathAboveRoot),
        (b"GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n", PathAboveRoot),
        (b"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", PathAboveRoot),
        (b"GET /a/..%2F..%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", PathAboveRoot),
        // Header syntax (RFC 9112 §5.1, §5.2).
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", MalformedHeader),
        (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", MalformedHeader),
        // Host (RFC 9112 §3.2).
        (b"GET / HTTP/1.1\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", InvalidHost),
        // Framing (RFC 9112 §6.3).
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", ContentTooLarge),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: g@zip, chunked\r\n\r\n", InvalidTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ;x, chunked\r\n\r\n", InvalidTransferEncoding),
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
        (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", InvalidTransferEncoding),
        (b"GET / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", InvalidTransferEncoding),
        // RFC 9112 §6.1: a coding we do not decode before the final chunked is 501.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TransferEncodingNotImplemented),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingNotImplemented),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x;q=1, chunked\r\n\r\n", TransferEncodingNotImplemented),
    ];
    for (raw, expected) in cases {
        assert_eq!(
            parse(raw),
            ParseOutcome::Error(*expected),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn accepted_framing_variants() {
    let cases: &[(&[u8], Option<u64>)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Some(5),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
            Some(5),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length:   007  \r\n\r\n",
            Some(7),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n",
            Some(65_536),
        ),
        (b"GET / HTTP/1.1\nHost: a\n\n", None),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", None),
    ];
    for (raw, expected) in cases {
        assert_eq!(
            request_of(raw).content_length,
            *expected,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

/// RFC 9112 §6.3 item 4: `chunked` as the only coding (any case, one list or one line) frames
/// the body; the head ends before it.
#[test]
fn chunked_framing_is_accepted() {
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , Chunked ,\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for raw in cases {
        let mut with_body = raw.to_vec();
        with_body.extend_from_slice(b"0\r\n\r\n");
        match parse(&with_body) {
            ParseOutcome::Complete { request, head_len } => {
                assert!(request.chunked, "{:?}", String::from_utf8_lossy(raw));
                assert_eq!(request.content_length, None);
                assert_eq!(head_len, raw.len());
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }
}

#[test]
fn status_of_every_error() {
    use RequestError::*;
    let cases: &[(RequestError, u16)] = &[
        (MalformedRequestLine, 400),
        (InvalidMethod, 400),
        (MethodNotImplemented, 501),
        (VersionNotSupported, 505),
        (InvalidTarget, 400),
        (InvalidPath, 400),
        (PathAboveRoot, 400),
        (RequestLineTooLong, 414),
        (HeaderSectionTooLarge, 431),
        (MalformedHeader, 400),
        (InvalidHost, 400),
        (InvalidContentLength, 400),
        (InvalidTransferEncoding, 400),
        (TransferEncodingNotImplemented, 501),
        (MalformedChunkedBody, 400),
        (TrailerSectionTooLarge, 431),
        (ContentTooLarge, 413),
    ];
    for (error, status) in cases {
        assert_eq!(error.status(), *status, "{error:?}");
        assert!(error.must_close());
    }
}

/// Found by the attack run: a request line ended by bare CRs (`GET / HTTP/1.1\rHost: x\r\r`)
/// was waited on until the head timeout, as no LF ever came. RFC 9112 §2.2: a recipient MUST
/// consider a bare CR invalid (or replace it with SP); a CR followed by anything but LF is now a
/// malformed request line at once, while a CR at the end of the input may still be the start of
/// CRLF.
#[test]
fn bare_cr_in_the_request_line_is_rejected_without_waiting_for_a_line_feed() {
    let cases: &[(&[u8], ParseOutcome<'static>)] = &[
        (
            b"GET /robots.txt HTTP/1.1\rHost: x\r\r",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        (
            b"GET /a\rb HTTP/1.1",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        (
            b"GET / HTTP/1.1\r\r\n",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        (b"GET / HTTP/1.1\r", ParseOutcome::Partial),
        (b"\r\n\r", ParseOutcome::Partial),
    ];
    for (raw, expected) in cases {
        assert_eq!(&parse(raw), expected, "{}", String::from_utf8_lossy(raw));
    }
}

/// A TLS ClientHello (or any binary protocol) on the plain-HTTP port is refused as soon as its
/// first byte shows it cannot be a method, not after the request-head timeout.
#[test]
fn a_request_line_that_cannot_begin_with_a_method_is_rejected_at_once() {
    // The first bytes of a TLS 1.2/1.3 ClientHello record (RFC 8446 §5.1: content type 22).
    let client_hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    for end in 1..=client_hello.len() {
        assert_eq!(
            parse(&client_hello[..end]),
            ParseOutcome::Error(RequestError::MalformedRequestLine),
            "prefix of {end} bytes"
        );
    }
    let cases: &[(&[u8], ParseOutcome<'static>)] = &[
        (
            b"\r\nG\x00",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        (
            b"GE(T",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        (
            b"\xffGET / HTTP/1.1",
            ParseOutcome::Error(RequestError::MalformedRequestLine),
        ),
        // Only the method is judged early: the target and version wait for the line end.
        (b"GET /\x01", ParseOutcome::Partial),
        (b"M-SEARCH * HTTP/1.1", ParseOutcome::Partial),
        (b"GET", ParseOutcome::Partial),
    ];
    for (raw, expected) in cases {
        assert_eq!(&parse(raw), expected, "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn partial_input_is_partial_until_complete() {
    let raw = b"GET /docs/ HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n";
    for end in 0..raw.len() {
        assert_eq!(
            parse(&raw[..end]),
            ParseOutcome::Partial,
            "prefix of {end} bytes"
        );
    }
    assert!(matches!(parse(raw), ParseOutcome::Complete { head_len, .. } if head_len == raw.len()));
}

#[test]
fn limits_are_enforced_early_and_exactly() {
    let limits = Limits {
        request_line_max_bytes: 32,
        header_section_max_bytes: 40,
        header_fields_max: 3,
        discard_body_max_bytes: 10,
    };
    fn outcome_with<'a>(raw: &'a [u8], limits: &Limits) -> ParseOutcome<'a> {
        parse_request(raw, limits)
    }
    let outcome = |raw: &'static [u8]| outcome_with(raw, &limits);
    // "GET /" + 23 bytes + " HTTP/1.1" is 37 bytes; 32 bytes of it without a newline are fine.
    let long_line = b"GET /aaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(outcome(&long_line[..32]), ParseOutcome::Partial);
    assert_eq!(
        outcome(&long_line[..33]),
        ParseOutcome::Error(RequestError::RequestLineTooLong)
    );
    assert_eq!(
        outcome(long_line),
        ParseOutcome::Error(RequestError::RequestLineTooLong)
    );
    // Exactly 32 bytes of request line are allowed.
    let exact_line = b"GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    assert!(matches!(outcome(exact_line), ParseOutcome::Complete { .. }));
    // Empty lines before the request line count towards the limit.
    let mut with_empty_lines = Vec::from(&b"\r\n\r\n"[..]);
    with_empty_lines.extend_from_slice(exact_line);
    assert_eq!(
        outcome_with(&with_empty_lines, &limits),
        ParseOutcome::Error(RequestError::RequestLineTooLong)
    );

    // Header section: "Host: a\r\n" (9) + "X: " + 26 bytes + "\r\n" (31) + "\r\n" (2) = 42 > 40.
    let big_headers = b"GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(
        outcome(big_headers),
        ParseOutcome::Error(RequestError::HeaderSectionTooLarge)
    );
    // Detected before the end of the header section arrives.
    assert_eq!(
        outcome(&big_headers[..16 + 41]),
        ParseOutcome::Error(RequestError::HeaderSectionTooLarge)
    );
    assert_eq!(outcome(&big_headers[..16 + 40]), ParseOutcome::Partial);
    let fitting_headers = b"GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert!(matches!(
        outcome(fitting_headers),
        ParseOutcome::Complete { .. }
    ));

    let three_fields = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(matches!(
        outcome(three_fields),
        ParseOutcome::Complete { .. }
    ));
    let four_fields = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        outcome(four_fields),
        ParseOutcome::Error(RequestError::HeaderSectionTooLarge)
    );

    let body_ten = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
    assert!(matches!(outcome(body_ten), ParseOutcome::Complete { .. }));
    let body_eleven = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
    assert_eq!(
        outcome(body_eleven),
        ParseOutcome::Error(RequestError::ContentTooLarge)
    );

    // A huge run of empty lines is also bounded.
    let empty_lines = [b'\n'; 64];
    assert_eq!(
        outcome_with(&empty_lines, &limits),
        ParseOutcome::Error(RequestError::RequestLineTooLong)
    );
}

#[test]
fn header_fields_beyond_the_stack_slots_are_parsed_up_to_the_limit() {
    let limits = Limits::default();
    let with_fields = |count: usize| {
        let mut head = alloc::string::String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for index in 1..count {
            head.push_str(&alloc::format!("X-Field-{index}: {index}\r\n"));
        }
        head.push_str("\r\n");
        head
    };
    for count in [31, 32, 33, 64, limits.header_fields_max] {
        let head = with_fields(count);
        match parse_request(head.as_bytes(), &limits) {
            ParseOutcome::Complete { request, head_len } => {
                assert_eq!(head_len, head.len());
                assert_eq!(request.headers().len(), count, "{count} fields");
                let last = alloc::format!("{}", count - 1);
                assert_eq!(
                    request.header(&alloc::format!("x-field-{}", count - 1)),
                    Some(last.as_bytes())
                );
            }
            other => panic!("{count} fields: {other:?}"),
        }
    }
    let too_many = with_fields(limits.header_fields_max + 1);
    assert_eq!(
        parse_request(too_many.as_bytes(), &limits),
        ParseOutcome::Error(RequestError::HeaderSectionTooLarge)
    );
}
