//! Parsing one request head (RFC 9112 §2–§7) into a typed [`Request`] or a typed [`RequestError`].
//!
//! The request line is parsed here by hand, strictly (RFC 9112 §3: `method SP request-target SP
//! HTTP-version`), so that the version can be told apart from garbage (`505` vs `400`) and overlong
//! lines are caught before they are complete (`414`). The header section is parsed with
//! `httparse::parse_headers`, whose default configuration already rejects obs-fold and whitespace
//! between a field name and the colon (RFC 9112 §5.1, §5.2); the framing rules of RFC 9112 §6 are
//! enforced on top.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::Limits;

/// The request methods this server knows (RFC 9110 §9.3). Unknown method tokens are rejected by
/// [`parse_request`] with [`RequestError::MethodNotImplemented`] (`501`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (RFC 9110 §9.3.1).
    Get,
    /// `HEAD` (RFC 9110 §9.3.2).
    Head,
    /// `OPTIONS` (RFC 9110 §9.3.7).
    Options,
    /// `POST` (RFC 9110 §9.3.3).
    Post,
    /// `PUT` (RFC 9110 §9.3.4).
    Put,
    /// `DELETE` (RFC 9110 §9.3.5).
    Delete,
    /// `PATCH` (RFC 5789).
    Patch,
    /// `CONNECT` (RFC 9110 §9.3.6).
    Connect,
    /// `TRACE` (RFC 9110 §9.3.8).
    Trace,
}

impl Method {
    /// The method for a token; method names are case-sensitive (RFC 9110 §9.1).
    fn from_token(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"OPTIONS" => Method::Options,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => return None,
        })
    }

    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
        }
    }
}

/// The protocol version of a request (RFC 9112 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection closes after the response unless the client sent
    /// `Connection: keep-alive` (RFC 9112 §9.3, Appendix C.2.2).
    Http10,
    /// `HTTP/1.1`, and any higher `HTTP/1.x`, which RFC 9110 §2.5 says to process as the highest
    /// minor version we implement.
    Http11,
}

/// The request target, after decoding and normalisation (RFC 9112 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// origin-form or absolute-form: a path and an optional query.
    Path {
        /// The percent-decoded, dot-segment-resolved, slash-merged path. Always starts with `/`;
        /// ends with `/` when the request named a directory (`/docs/`, or `/docs/.`). Borrowed
        /// from the request when it was already in that form (most requests are).
        path: Cow<'a, str>,
        /// The raw query after `?` (without the `?`), kept for redirects; `None` when absent.
        query: Option<&'a str>,
    },
    /// asterisk-form `*` (only with `OPTIONS`, RFC 9112 §3.2.4).
    Asterisk,
    /// authority-form `host:port` (only with `CONNECT`, RFC 9112 §3.2.3).
    Authority(&'a str),
}

/// One header field line, as received (value without leading and trailing whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The field name as sent; compare case-insensitively (RFC 9110 §5.1).
    pub name: &'a str,
    /// The field value with optional whitespace around it removed (RFC 9110 §5.5).
    pub value: &'a [u8],
}

/// A parsed request head. Borrows the header values from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The protocol version.
    pub version: Version,
    /// The decoded request target.
    pub target: Target<'a>,
    /// The body length from `Content-Length`, if the field was present (RFC 9112 §6.3 item 6).
    pub content_length: Option<u64>,
    /// Whether the body is in the chunked transfer coding (RFC 9112 §6.3 item 4, §7.1):
    /// `Transfer-Encoding` was present with `chunked` as its only coding. `content_length` is
    /// then `None` (a request with both is refused, see [`RequestError::InvalidTransferEncoding`]).
    pub chunked: bool,
    headers: Vec<HeaderField<'a>>,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl<'a> Request<'a> {
    /// Whether the connection must close after the response: `Connection: close`, or HTTP/1.0
    /// without `Connection: keep-alive` (RFC 9112 §9.3).
    pub fn wants_close(&self) -> bool {
        self.connection_close || (self.version == Version::Http10 && !self.connection_keep_alive)
    }

    /// Whether the response must say `Connection: keep-alive` (an HTTP/1.0 client that asked for
    /// a persistent connection, RFC 9112 Appendix C.2.2).
    pub fn wants_keep_alive_header(&self) -> bool {
        self.version == Version::Http10 && !self.wants_close()
    }

    /// Whether the client sent `Expect: 100-continue` and may wait for an interim `100
    /// (Continue)` before sending the content. The expectation is case-insensitive, and a
    /// server MUST ignore it in an HTTP/1.0 request (RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .header_values("expect")
                .flat_map(list_elements)
                .any(|expectation| expectation.eq_ignore_ascii_case(b"100-continue"))
    }

    /// All header field lines, in order.
    pub fn headers(&self) -> &[HeaderField<'a>] {
        &self.headers
    }

    /// The value of the first field named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }

    /// The values of every field named `name` (case-insensitive), in order; a recipient may
    /// combine them into one comma-separated list (RFC 9110 §5.3).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }
}

/// Why a request head was rejected. Every variant maps to one status code, and after every one
/// the connection must close: the framing of anything that follows cannot be trusted (RFC 9112
/// §6.3 for framing errors; nginx closes after 400, 413, 414, 431, 501 and 505 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Malformed request line (not `method SP target SP version CRLF`), `400`.
    MalformedRequestLine,
    /// Invalid method token (RFC 9110 §9.1, token syntax of §5.6.2), `400`.
    InvalidMethod,
    /// A syntactically valid method token we do not implement, `501` (RFC 9110 §9.1).
    MethodNotImplemented,
    /// A well-formed HTTP-version whose major version is not 1, `505` (RFC 9110 §15.6.6).
    VersionNotSupported,
    /// A request target that is not valid origin-, absolute-, authority- or asterisk-form, or a
    /// form not allowed with the method (RFC 9112 §3.2), `400`.
    InvalidTarget,
    /// Bad percent-encoding, decoded bytes not UTF-8, NUL or control bytes in the path, `400`.
    InvalidPath,
    /// A `..` segment that would climb above the site root, `400` (as nginx answers).
    PathAboveRoot,
    /// Request line longer than [`Limits::request_line_max_bytes`], `414`.
    RequestLineTooLong,
    /// Header section larger than [`Limits::header_section_max_bytes`], or more than
    /// [`Limits::header_fields_max`] fields, `431` (RFC 6585 §5).
    HeaderSectionTooLarge,
    /// A malformed header field line: obs-fold, whitespace before the colon, invalid name or
    /// value bytes (RFC 9112 §5.1, §5.2), `400`.
    MalformedHeader,
    /// HTTP/1.1 without exactly one `Host`, more than one `Host`, or an invalid `Host` value
    /// (RFC 9112 §3.2), `400`.
    InvalidHost,
    /// Invalid `Content-Length`, or several differing values (RFC 9112 §6.3 item 5), `400`.
    InvalidContentLength,
    /// A `Transfer-Encoding` the body length cannot be determined from, `400`: together with
    /// `Content-Length` (RFC 9112 §6.3 item 3; refused rather than overridden, as nginx does, since
    /// the pair is the classic request smuggling vector, §11.2), in an HTTP/1.0 request (§6.1:
    /// faulty framing), with `chunked` not the final coding (§6.3 item 4), with `chunked` applied
    /// twice (§6.1: a sender MUST NOT), with parameters on `chunked` (it defines none), or with a
    /// coding that is not a token.
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` before the final `chunked` (`gzip, chunked`), `501`:
    /// RFC 9112 §6.1 says a server SHOULD answer 501 to a coding it does not understand, and this
    /// server decodes only `chunked` (nginx answers 501 too).
    TransferEncodingNotImplemented,
    /// The chunked body is malformed (RFC 9112 §7.1), `400`; found while reading the body, after
    /// the head was accepted.
    MalformedChunkedBody,
    /// A chunked trailer section larger than [`crate::http::chunked::TRAILER_SECTION_MAX_BYTES`],
    /// `431` (RFC 6585 §5: the fields are too large).
    TrailerSectionTooLarge,
    /// `Content-Length`, or the sum of the chunk sizes of a chunked body, above
    /// [`Limits::discard_body_max_bytes`], `413` (RFC 9110 §15.5.14).
    ContentTooLarge,
}

impl RequestError {
    /// The status code of the response to this error.
    pub fn status(self) -> u16 {
        match self {
            RequestError::MalformedRequestLine
            | RequestError::InvalidMethod
            | RequestError::InvalidTarget
            | RequestError::InvalidPath
            | RequestError::PathAboveRoot
            | RequestError::MalformedHeader
            | RequestError::InvalidHost
            | RequestError::InvalidContentLength
            | RequestError::InvalidTransferEncoding
            | RequestError::MalformedChunkedBody => 400,
            RequestError::ContentTooLarge => 413,
            RequestError::RequestLineTooLong => 414,
            RequestError::HeaderSectionTooLarge | RequestError::TrailerSectionTooLarge => 431,
            RequestError::MethodNotImplemented | RequestError::TransferEncodingNotImplemented => {
                501
            }
            RequestError::VersionNotSupported => 505,
        }
    }

    /// Whether the connection must close after the error response: always `true` (see the type's
    /// documentation); a method so the rule is stated in one place.
    pub fn must_close(self) -> bool {
        true
    }
}

/// The result of [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseOutcome<'a> {
    /// A whole request head; `head_len` bytes of the buffer belong to it (including any empty
    /// lines before the request line and the final empty line). A body, if any, follows.
    Complete {
        /// The request.
        request: Request<'a>,
        /// Bytes consumed from the start of the buffer.
        head_len: usize,
    },
    /// The head is not complete yet and nothing is wrong so far: read more bytes.
    Partial,
    /// The head is invalid; answer with [`super::error_response`] and close.
    Error(RequestError),
}

/// RFC 9110 §5.6.2: `tchar`.
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Parses one request head from the start of `buffer`.
///
/// Never panics. Returns [`ParseOutcome::Partial`] while the head is incomplete, but reports
/// [`RequestError::RequestLineTooLong`] and [`RequestError::HeaderSectionTooLarge`] as soon as the
/// bytes received so far exceed the limits.
pub fn parse_request<'a>(buffer: &'a [u8], limits: &Limits) -> ParseOutcome<'a> {
    match parse_request_inner(buffer, limits) {
        Ok(Some((request, head_len))) => ParseOutcome::Complete { request, head_len },
        Ok(None) => ParseOutcome::Partial,
        Err(error) => ParseOutcome::Error(error),
    }
}

type ParseResult<'a> = Result<Option<(Request<'a>, usize)>, RequestError>;

fn parse_request_inner<'a>(buffer: &'a [u8], limits: &Limits) -> ParseResult<'a> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the
    // request-line. Accept any number, but count them against the request line limit.
    let mut line_start = 0;
    while let Some(&byte) = buffer.get(line_start) {
        if byte == b'\r' || byte == b'\n' {
            line_start += 1;
        } else {
            break;
        }
    }
    let rest = buffer.get(line_start..).unwrap_or_default();
    // RFC 9112 §2.2: a bare CR MUST be considered invalid. Only a CR directly before the LF (or
    // at the end of the input so far, where the LF may follow) belongs to a line ending; find
    // any other at once instead of waiting for an LF that may never come.
    let newline = rest.iter().position(|&byte| byte == b'\n');
    let line_region_len = newline.unwrap_or(rest.len());
    let before_line_end = rest
        .get(..line_region_len.saturating_sub(1))
        .unwrap_or_default();
    if before_line_end.contains(&b'\r') {
        return Err(RequestError::MalformedRequestLine);
    }
    let Some(newline_offset) = newline else {
        if buffer.len() > limits.request_line_max_bytes {
            return Err(RequestError::RequestLineTooLong);
        }
        // RFC 9110 §9.1: the method is a token (§5.6.2). Bytes that cannot begin one — a TLS
        // ClientHello starts 0x16 0x03, other binary protocols alike — are answered 400 at once,
        // as nginx does, instead of waiting the whole request-head timeout for a line end that
        // never comes.
        let method_so_far = rest.split(|&byte| byte == b' ').next().unwrap_or_default();
        if !method_so_far.iter().all(|&byte| is_token_byte(byte)) {
            return Err(RequestError::MalformedRequestLine);
        }
        return Ok(None);
    };
    // RFC 9112 §2.2: a bare LF may be accepted as a line terminator; CR elsewhere is an error.
    let line_with_cr = rest.get(..newline_offset).unwrap_or_default();
    let line = line_with_cr.strip_suffix(b"\r").unwrap_or(line_with_cr);
    if line_start + line.len() > limits.request_line_max_bytes {
        return Err(RequestError::RequestLineTooLong);
    }
    let headers_start = line_start + newline_offset + 1;
    let (method, target_bytes, version) = parse_request_line(line)?;

    let header_bytes = buffer.get(headers_start..).unwrap_or_default();
    let Some((header_section_len, headers)) = parse_header_section(header_bytes, limits)? else {
        return Ok(None);
    };

    let target = parse_target(method, target_bytes)?;
    check_host(version, &headers)?;
    let content_length = parse_content_length(&headers)?;
    let chunked = check_transfer_encoding(&headers, version, content_length.is_some())?;
    if content_length.is_some_and(|length| length > limits.discard_body_max_bytes as u64) {
        return Err(RequestError::ContentTooLarge);
    }

    let mut connection_close = false;
    let mut connection_keep_alive = false;
    for value in headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("connection"))
        .map(|field| field.value)
    {
        // RFC 9110 §7.6.1: Connection is a comma-separated list of case-insensitive options.
        for option in list_elements(value) {
            if option.eq_ignore_ascii_case(b"close") {
                connection_close = true;
            } else if option.eq_ignore_ascii_case(b"keep-alive") {
                connection_keep_alive = true;
            }
        }
    }

    let request = Request {
        method,
        version,
        target,
        content_length,
        chunked,
        headers,
        connection_close,
        connection_keep_alive,
    };
    Ok(Some((request, headers_start + header_section_len)))
}

/// Header slots tried on the stack first: requests rarely carry more fields (browsers send
/// 10-20), and filling `header_fields_max` (100) slots on the heap for every request cost more
/// than parsing it.
const STACK_HEADER_SLOTS: usize = 32;

/// Parses the header section at the start of `header_bytes` (RFC 9112 §5) into at most
/// `limits.header_fields_max` fields: its length and the fields (values trimmed), `None` while
/// incomplete.
fn parse_header_section<'a>(
    header_bytes: &'a [u8],
    limits: &Limits,
) -> Result<Option<(usize, Vec<HeaderField<'a>>)>, RequestError> {
    let mut stack_slots = [httparse::EMPTY_HEADER; STACK_HEADER_SLOTS];
    let stack_count = limits.header_fields_max.min(STACK_HEADER_SLOTS);
    match parse_headers_with(header_bytes, &mut stack_slots[..stack_count], limits) {
        Err(RequestError::HeaderSectionTooLarge)
            if limits.header_fields_max > STACK_HEADER_SLOTS
                && header_bytes.len() <= limits.header_section_max_bytes =>
        {
            // More fields than the stack slots: once more with every slot the limit allows.
            let mut slots = vec![httparse::EMPTY_HEADER; limits.header_fields_max];
            parse_headers_with(header_bytes, &mut slots, limits)
        }
        outcome => outcome,
    }
}

/// [`parse_header_section`] with the given slots (their count is the field limit).
fn parse_headers_with<'a>(
    header_bytes: &'a [u8],
    slots: &mut [httparse::Header<'a>],
    limits: &Limits,
) -> Result<Option<(usize, Vec<HeaderField<'a>>)>, RequestError> {
    let (header_section_len, parsed) = match httparse::parse_headers(header_bytes, slots) {
        Ok(httparse::Status::Complete((length, parsed))) => (length, parsed),
        Ok(httparse::Status::Partial) => {
            if header_bytes.len() > limits.header_section_max_bytes {
                return Err(RequestError::HeaderSectionTooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeaderSectionTooLarge),
        Err(_) => {
            if header_bytes.len() > limits.header_section_max_bytes {
                return Err(RequestError::HeaderSectionTooLarge);
            }
            return Err(RequestError::MalformedHeader);
        }
    };
    if header_section_len > limits.header_section_max_bytes {
        return Err(RequestError::HeaderSectionTooLarge);
    }
    let headers = parsed
        .iter()
        .map(|header| HeaderField {
            name: header.name,
            value: trim_whitespace(header.value),
        })
        .collect();
    Ok(Some((header_section_len, headers)))
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`, single spaces.
fn parse_request_line(line: &[u8]) -> Result<(Method, &[u8], Version), RequestError> {
    let mut parts = line.split(|&byte| byte == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::MalformedRequestLine);
    };
    if method.is_empty() || target.is_empty() {
        return Err(RequestError::MalformedRequestLine);
    }
    // The version decides between 505 and 400 before anything else is judged, so that a request
    // of a future protocol is told so even if its other parts look odd to us.
    let version = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Version::Http10,
                // RFC 9110 §2.5: a higher minor version of a major version we implement is
                // processed as the highest minor version we implement (nginx does the same).
                (b'1', _) => Version::Http11,
                _ => return Err(RequestError::VersionNotSupported),
            }
        }
        _ => return Err(RequestError::MalformedRequestLine),
    };
    if !method.iter().all(|&byte| is_token_byte(byte)) {
        return Err(RequestError::InvalidMethod);
    }
    let method = Method::from_token(method).ok_or(RequestError::MethodNotImplemented)?;
    // RFC 9112 §3.2 and RFC 3986: the target is visible US-ASCII only.
    if !target.iter().all(|&byte| (0x21..=0x7e).contains(&byte)) {
        return Err(RequestError::InvalidTarget);
    }
    Ok((method, target, version))
}

fn parse_target(method: Method, target: &[u8]) -> Result<Target<'_>, RequestError> {
    // Visible ASCII was checked in parse_request_line, so this cannot fail.
    let target = core::str::from_utf8(target).map_err(|_| RequestError::InvalidTarget)?;
    if target == "*" {
        // RFC 9112 §3.2.4: asterisk-form only with OPTIONS.
        return if method == Method::Options {
            Ok(Target::Asterisk)
        } else {
            Err(RequestError::InvalidTarget)
        };
    }
    if method == Method::Connect {
        // RFC 9112 §3.2.3: CONNECT uses authority-form only (answered with 405 later).
        return if target.contains(['/', '?', '#', '@']) {
            Err(RequestError::InvalidTarget)
        } else {
            Ok(Target::Authority(target))
        };
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        // RFC 9112 §3.2.2: absolute-form must be accepted by servers; only the path counts.
        let after_scheme = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(RequestError::InvalidTarget)?;
        let authority_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(authority_end);
        if authority.is_empty() || authority.contains('@') || !is_valid_host(authority.as_bytes()) {
            return Err(RequestError::InvalidTarget);
        }
        if rest.starts_with('?') || rest.is_empty() {
            // RFC 9110 §4.2.3: an empty path in an http URI is equivalent to "/".
            return normalise("/", rest.strip_prefix('?'));
        }
        rest
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    normalise(path, query)
}

fn normalise<'a>(raw_path: &'a str, query: Option<&'a str>) -> Result<Target<'a>, RequestError> {
    // RFC 3986 §3.5: a fragment is never part of a request target.
    if raw_path.contains('#') || query.is_some_and(|query| query.contains('#')) {
        return Err(RequestError::InvalidTarget);
    }
    let path = if is_normal_path(raw_path) {
        Cow::Borrowed(raw_path)
    } else {
        Cow::Owned(normalise_path(raw_path)?)
    };
    Ok(Target::Path { path, query })
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// The value of a hex digit (RFC 5234 `HEXDIG`, either case).
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Whether [`normalise_path`] would return `raw` unchanged: it starts with `/` and has no `%`,
/// no control byte, no empty segment but a final one (`//`), no `.` or `..` segment. One pass,
/// no allocation: the common request needs no copy of its path.
fn is_normal_path(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    // Every segment is the bytes after a `/` up to the next one (or the end).
    let mut segment_start = 1;
    for (position, &byte) in bytes.iter().enumerate().skip(1) {
        match byte {
            b'%' => return false,
            _ if byte < 0x20 || byte == 0x7f => return false,
            b'/' => {
                if matches!(bytes.get(segment_start..position), Some(b"" | b"." | b"..")) {
                    return false;
                }
                segment_start = position + 1;
            }
            _ => {}
        }
    }
    // The last segment may be empty (a trailing slash), not `.` or `..`.
    !matches!(bytes.get(segment_start..), Some(b"." | b".."))
}

/// Percent-decodes `raw` (RFC 3986 §2.1, strictly: `%` must be followed by two hex digits),
/// requires UTF-8 and no control bytes, then resolves `.` and `..` segments (RFC 3986 §5.2.4) and
/// merges repeated slashes (as nginx `merge_slashes on`). Decoding comes first, as in nginx, so
/// `%2e%2e` is a `..` segment and `%2F` a separator; either way nothing can climb above the root.
/// The result starts with `/` and keeps a trailing `/` (also after a final `.` or `..`).
pub fn normalise_path(raw: &str) -> Result<String, RequestError> {
    if !raw.starts_with('/') {
        return Err(RequestError::InvalidTarget);
    }
    let raw = raw.as_bytes();
    let mut decoded: Vec<u8> = Vec::with_capacity(raw.len());
    let mut position = 0;
    while let Some(&byte) = raw.get(position) {
        if byte == b'%' {
            let high = raw.get(position + 1).copied().and_then(hex_value);
            let low = raw.get(position + 2).copied().and_then(hex_value);
            let (Some(high), Some(low)) = (high, low) else {
                return Err(RequestError::InvalidPath);
            };
            decoded.push(high * 16 + low);
            position += 3;
        } else {
            decoded.push(byte);
            position += 1;
        }
    }
    if decoded.iter().any(|&byte| byte < 0x20 || byte == 0x7f) {
        return Err(RequestError::InvalidPath);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| RequestError::InvalidPath)?;

    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/') {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(RequestError::PathAboveRoot)?;
                trailing_slash = true;
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim_whitespace(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&byte| byte != b' ' && byte != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&byte| byte != b' ' && byte != b'\t')
        .map_or(start, |end| end + 1);
    value.get(start..end).unwrap_or_default()
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1), whitespace trimmed.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(trim_whitespace)
        .filter(|element| !element.is_empty())
}

/// RFC 9112 §3.2 / RFC 3986 §3.2.2–3.2.3: `uri-host [ ":" port ]`; a loose character check
/// (reg-name, IPv4, bracketed IPv6) that keeps out whitespace, `/`, `@` and other delimiters.
fn is_valid_host(host: &[u8]) -> bool {
    host.iter()
        .all(|&byte| byte.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&byte))
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one `Host`; any request with more than one, or
/// with an invalid value, gets 400.
fn check_host(version: Version, headers: &[HeaderField<'_>]) -> Result<(), RequestError> {
    let mut hosts = headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("host"));
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(RequestError::InvalidHost);
    }
    match first {
        None if version == Version::Http11 => Err(RequestError::InvalidHost),
        Some(field) if !is_valid_host(field.value) => Err(RequestError::InvalidHost),
        _ => Ok(()),
    }
}

/// RFC 9112 §6.3 item 5 and RFC 9110 §8.6: `Content-Length = 1*DIGIT`; repeated identical values
/// (in one list or several lines) are accepted as one, anything else is an error.
fn parse_content_length(headers: &[HeaderField<'_>]) -> Result<Option<u64>, RequestError> {
    let mut length: Option<u64> = None;
    for field in headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("content-length"))
    {
        let mut elements = 0;
        for element in field.value.split(|&byte| byte == b',').map(trim_whitespace) {
            elements += 1;
            let value = parse_decimal(element).ok_or(RequestError::InvalidContentLength)?;
            match length {
                Some(previous) if previous != value => {
                    return Err(RequestError::InvalidContentLength);
                }
                _ => length = Some(value),
            }
        }
        if elements == 0 {
            return Err(RequestError::InvalidContentLength);
        }
    }
    Ok(length)
}

/// `1*DIGIT` as a u64; `None` on anything else, including overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

/// RFC 9112 §6.1 and §6.3: whether the body is chunked. The only transfer coding this server
/// decodes is `chunked`, alone; every other `Transfer-Encoding` is refused (see
/// [`RequestError::InvalidTransferEncoding`] and [`RequestError::TransferEncodingNotImplemented`]
/// for which gets `400` and which `501`).
fn check_transfer_encoding(
    headers: &[HeaderField<'_>],
    version: Version,
    has_content_length: bool,
) -> Result<bool, RequestError> {
    let mut fields = headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("transfer-encoding"))
        .peekable();
    if fields.peek().is_none() {
        return Ok(false);
    }
    if has_content_length {
        // RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length, but the pair "ought
        // to be handled as an error"; it is the classic request smuggling vector (§11.2), so
        // refuse and close, as nginx does.
        return Err(RequestError::InvalidTransferEncoding);
    }
    if version == Version::Http10 {
        // RFC 9112 §6.1: an HTTP/1.0 recipient cannot know the coding, so a server MUST treat a
        // Transfer-Encoding in an HTTP/1.0 message as faulty framing and close.
        return Err(RequestError::InvalidTransferEncoding);
    }
    // The codings in order, over every field line (RFC 9110 §5.3: one combined list).
    let mut codings = fields
        .flat_map(|field| list_elements(field.value))
        .peekable();
    let mut unknown_coding = false;
    let mut final_is_chunked = false;
    while let Some(coding) = codings.next() {
        // RFC 9112 §7: transfer-coding = token *( OWS ";" OWS transfer-parameter ).
        let mut parts = coding.split(|&byte| byte == b';');
        let name = parts.next().map(trim_whitespace).unwrap_or_default();
        let has_parameters = parts.next().is_some();
        if name.is_empty() || !name.iter().all(|&byte| is_token_byte(byte)) {
            return Err(RequestError::InvalidTransferEncoding);
        }
        let is_chunked = name.eq_ignore_ascii_case(b"chunked");
        if codings.peek().is_some() {
            if is_chunked {
                // RFC 9112 §6.1: chunked MUST NOT be applied more than once, and §6.3 item 4:
                // chunked not final means the length cannot be determined.
                return Err(RequestError::InvalidTransferEncoding);
            }
            unknown_coding = true;
        } else if is_chunked && !has_parameters {
            final_is_chunked = true;
        }
    }
    if !final_is_chunked {
        // RFC 9112 §6.3 item 4: chunked not the final coding (or no coding at all): 400 and close.
        return Err(RequestError::InvalidTransferEncoding);
    }
    if unknown_coding {
        return Err(RequestError::TransferEncodingNotImplemented);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    /// Every path of up to seven bytes over the bytes that matter (separators, dots, escapes,
    /// a control byte, a letter): the borrowed fast path is taken exactly when decoding and
    /// normalising would give the same path back.
    #[test]
    fn a_path_is_borrowed_exactly_when_normalising_leaves_it_unchanged() {
        const ALPHABET: &[u8] = b"/.a%2e\x01";
        let mut checked = 0usize;
        let mut borrowed = 0usize;
        for length in 0..=6u32 {
            for mut number in 0..(ALPHABET.len() as u32).pow(length) {
                let mut path = String::from("/");
                for _ in 0..length {
                    path.push(char::from(
                        ALPHABET[(number % ALPHABET.len() as u32) as usize],
                    ));
                    number /= ALPHABET.len() as u32;
                }
                let unchanged = normalise_path(&path).is_ok_and(|normal| normal == path);
                assert_eq!(is_normal_path(&path), unchanged, "{path:?}");
                checked += 1;
                borrowed += usize::from(unchanged);
            }
        }
        assert!(
            borrowed > 1000 && checked > 100_000,
            "{borrowed} of {checked}"
        );
    }
}
