//! Static-file semantics: from a parsed [`Request`] and the [`Site`] to a [`Response`].
//!
//! Order of evaluation: method (RFC 9110 §9), target resolution (directory redirect, index file,
//! precompressed sibling), preconditions (RFC 9110 §13.2.2), ranges (RFC 9110 §14), then the head.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use super::date::{HttpDate, http_date, parse_http_date};
use super::mime::content_type_for_path;
use super::prepared::{PreparedHeads, response_date};
use super::range::{ByteRange, RangeDecision, evaluate_range};
use super::request::{Method, Request, RequestError, Target, list_elements, trim_whitespace};
use super::{Body, BodyPart, Response, ResponseSettings};
use crate::site::{FileEntry, Site};

/// The methods a static site supports, for `Allow` (RFC 9110 §10.2.1).
pub const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

/// The reason phrase for a status code (RFC 9110 §15; the phrase is informational only).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// How the connection header of a response is chosen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Persistence {
    /// Send `Connection: close` and close after the response.
    pub(super) close_after: bool,
    /// Send `Connection: keep-alive` (HTTP/1.0 client that asked for it, RFC 9112 §C.2.2).
    pub(super) keep_alive_header: bool,
}

impl Persistence {
    fn of(request: &Request<'_>) -> Persistence {
        Persistence {
            close_after: request.wants_close(),
            keep_alive_header: request.wants_keep_alive_header(),
        }
    }

    /// `Connection: close`, and the connection closes after the response.
    pub(super) fn closing() -> Persistence {
        Persistence {
            close_after: true,
            keep_alive_header: false,
        }
    }
}

/// Builds a response head: status line, header fields, final CRLF. Every response head comes
/// from here (the file responses, error pages, and the connection layer's `408` and `503`), so
/// all share one field order: `Server`, `Date`, the response's own fields,
/// `X-Content-Type-Options`, `Connection`.
pub(super) struct HeadWriter {
    text: String,
}

impl HeadWriter {
    /// Starts a head with the status line, `Server` and (with a clock) `Date`.
    pub(super) fn new(
        status: u16,
        date: Option<HttpDate>,
        settings: &ResponseSettings,
    ) -> HeadWriter {
        let mut writer = HeadWriter {
            text: String::with_capacity(256),
        };
        writer.status_line_and_server(status, settings);
        // RFC 9110 §6.6.1: an origin server without a clock MUST NOT send Date.
        if let Some(date) = date {
            writer.known_field("Date", date.as_str());
        }
        writer
    }

    /// A writer with nothing in it yet (for field blocks prepared apart from a head).
    pub(super) fn empty() -> HeadWriter {
        HeadWriter {
            text: String::with_capacity(256),
        }
    }

    /// The status line and `Server`, the first lines of every head.
    pub(super) fn status_and_server(status: u16, settings: &ResponseSettings) -> Vec<u8> {
        let mut writer = HeadWriter::empty();
        writer.status_line_and_server(status, settings);
        writer.into_bytes()
    }

    fn status_line_and_server(&mut self, status: u16, settings: &ResponseSettings) {
        // RFC 9110 §2.5: a server sends its own highest conformant version.
        self.text.push_str("HTTP/1.1 ");
        self.text.push_str(itoa::Buffer::new().format(status));
        self.text.push(' ');
        self.text.push_str(reason_phrase(status));
        self.text.push_str("\r\n");
        self.field("Server", settings.server_name);
    }

    /// The bytes written so far.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }

    /// Appends one header field.
    pub(super) fn field(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        self.text.push_str(": ");
        // Values come from the site, settings or our own formatting; strip CR and LF anyway so a
        // bad Cache-Control bootarg or file name can never split the head. Almost every value
        // has neither, and is copied whole.
        if value.bytes().any(|byte| byte == b'\r' || byte == b'\n') {
            self.text.extend(
                value
                    .chars()
                    .filter(|&character| character != '\r' && character != '\n'),
            );
        } else {
            self.text.push_str(value);
        }
        self.text.push_str("\r\n");
    }

    /// Appends a header field whose value this module made itself (a constant, a number, a
    /// date, a media type from the MIME table): it has no CR or LF, so it is not scanned.
    pub(super) fn known_field(&mut self, name: &str, value: &str) {
        debug_assert!(!value.bytes().any(|byte| byte == b'\r' || byte == b'\n'));
        self.text.push_str(name);
        self.text.push_str(": ");
        self.text.push_str(value);
        self.text.push_str("\r\n");
    }

    /// Appends a header field with a decimal value.
    pub(super) fn number_field(&mut self, name: &str, value: u64) {
        self.known_field(name, itoa::Buffer::new().format(value));
    }

    /// Appends `X-Content-Type-Options`, the `Connection` field `persistence` asks for and the
    /// empty line ending the head.
    pub(super) fn finish(mut self, persistence: Persistence) -> Vec<u8> {
        self.known_field("X-Content-Type-Options", "nosniff");
        if persistence.close_after {
            self.known_field("Connection", "close");
        } else if persistence.keep_alive_header {
            self.known_field("Connection", "keep-alive");
        }
        self.text.push_str("\r\n");
        self.text.into_bytes()
    }
}

/// An extra header for an error response.
type ExtraField<'f> = (&'static str, &'f str);

/// An error page: `<status>.html` from the site root when present, else a small built-in page.
fn error_page(
    status: u16,
    extra_fields: &[ExtraField<'_>],
    site: &Site,
    include_body: bool,
    persistence: Persistence,
    date: Option<HttpDate>,
    settings: &ResponseSettings,
) -> Response {
    let page_name = format!("{status}.html");
    let (body, length) = match site.get(&page_name) {
        Some(entry) if status >= 400 => (Body::Static(entry.body), entry.body.len()),
        _ => {
            let reason = reason_phrase(status);
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
                 <body><h1>{status} {reason}</h1></body></html>\n"
            );
            let length = page.len();
            (
                Body::Parts(vec![BodyPart::Owned(page.into_bytes())]),
                length,
            )
        }
    };
    let mut head = HeadWriter::new(status, date, settings);
    head.known_field("Content-Type", "text/html; charset=utf-8");
    head.number_field("Content-Length", length as u64);
    for (name, value) in extra_fields {
        head.field(name, value);
    }
    Response {
        status,
        head: head.finish(persistence),
        body: if include_body { body } else { Body::Empty },
        close_after: persistence.close_after,
    }
}

/// The response to a request head that [`super::parse_request`] rejected: always closes.
pub fn error_response(
    error: &RequestError,
    site: &Site,
    now_unix_s: Option<u64>,
    settings: &ResponseSettings,
) -> Response {
    // The method is unknown or untrusted here, so the body is always sent (a HEAD client that
    // sent a broken head still reads the Content-Length and copes).
    error_page(
        error.status(),
        &[],
        site,
        true,
        Persistence::closing(),
        now_unix_s.map(http_date),
        settings,
    )
}

/// Percent-encodes a decoded path for a `Location` field: everything but RFC 3986 `pchar` and `/`.
fn encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// What a path names in the site.
enum Resolution<'s> {
    /// A file; `type_path` decides the Content-Type (the index file for a directory).
    File {
        entry: &'s FileEntry,
        /// The file's position in the site (see [`Site::position`]).
        position: usize,
        type_path: &'s str,
    },
    /// A directory named without its trailing slash: redirect to it.
    DirectoryWithoutSlash,
    /// Nothing (or a directory without `index.html`, which is never listed).
    NotFound,
}

fn resolve<'s>(site: &'s Site, path: &str) -> Resolution<'s> {
    let relative = path.strip_prefix('/').unwrap_or(path);
    let position = if relative.is_empty() || relative.ends_with('/') {
        match joined_position(site, relative, "index.html") {
            Some(position) => position,
            None => return Resolution::NotFound,
        }
    } else if let Some(position) = site.position(relative) {
        position
    } else if site.is_directory(relative) {
        return Resolution::DirectoryWithoutSlash;
    } else {
        return Resolution::NotFound;
    };
    match site.file_at(position) {
        Some(entry) => Resolution::File {
            entry,
            position,
            type_path: entry.path,
        },
        None => Resolution::NotFound,
    }
}

/// Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip` with q > 0, or
/// failing an explicit entry, `*` with q > 0. No field means no preference, but sending gzip to a
/// client that did not ask is unwise, so only an explicit field counts.
fn accepts_gzip(request: &Request<'_>) -> bool {
    let mut gzip_quality: Option<bool> = None;
    let mut any_quality: Option<bool> = None;
    for value in request.header_values("accept-encoding") {
        for element in list_elements(value) {
            let mut pieces = element.split(|&byte| byte == b';').map(trim_whitespace);
            let coding = pieces.next().unwrap_or_default();
            let mut acceptable = true;
            for parameter in pieces {
                let Some((name, weight)) = split_once_byte(parameter, b'=') else {
                    continue;
                };
                if trim_whitespace(name).eq_ignore_ascii_case(b"q") {
                    // An invalid qvalue makes the coding unacceptable: the safe reading.
                    acceptable = qvalue_is_positive(trim_whitespace(weight)).unwrap_or(false);
                }
            }
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                gzip_quality = Some(acceptable);
            } else if coding == b"*" {
                any_quality = Some(acceptable);
            }
        }
    }
    gzip_quality.or(any_quality).unwrap_or(false)
}

fn split_once_byte(text: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let position = text.iter().position(|&byte| byte == separator)?;
    Some((text.get(..position)?, text.get(position + 1..)?))
}

/// RFC 9110 §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`; whether it
/// is above zero, `None` when malformed.
fn qvalue_is_positive(text: &[u8]) -> Option<bool> {
    let (integer, fraction) = match split_once_byte(text, b'.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (text, &b""[..]),
    };
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match integer {
        b"0" => Some(fraction.iter().any(|&digit| digit != b'0')),
        b"1" if fraction.iter().all(|&digit| digit == b'0') => Some(true),
        _ => None,
    }
}

/// One entity-tag of a list (RFC 9110 §8.8.3): whether it is weak, and the opaque tag with
/// its quotes.
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

/// Walks `#entity-tag` (commas may occur inside the quotes, so a plain split will not do),
/// handing each tag to `visit`; returns how many there were, or `None` when the list is
/// malformed (some tags may have been visited by then). Nothing is allocated: a client's list of
/// thousands of tags costs no memory beyond the request head that holds it.
fn visit_entity_tags<'a>(value: &'a [u8], mut visit: impl FnMut(EntityTag<'a>)) -> Option<usize> {
    let mut count = 0usize;
    let mut rest = value;
    loop {
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return Some(count);
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = rest.get(2..)?;
        }
        if rest.first() != Some(&b'"') {
            return None;
        }
        let closing = rest.iter().skip(1).position(|&byte| byte == b'"')? + 1;
        let opaque = rest.get(..=closing)?;
        // etagc = %x21 / %x23-7E / obs-text
        if !opaque
            .get(1..closing)?
            .iter()
            .all(|&byte| byte == 0x21 || byte >= 0x23 && byte != 0x7f)
        {
            return None;
        }
        visit(EntityTag { weak, opaque });
        count += 1;
        rest = rest.get(closing + 1..)?;
        if !matches!(rest.first(), None | Some(b' ' | b'\t' | b',')) {
            return None;
        }
    }
}

/// Whether an `If-Match`/`If-None-Match` value matches `etag`; `*` matches any current
/// representation (RFC 9110 §13.1.1, §13.1.2). `strong` selects the comparison (§8.8.3.2).
fn entity_tag_list_matches(value: &[u8], etag: &str, strong: bool) -> bool {
    if value == b"*" {
        return true;
    }
    let mut matched = false;
    let well_formed = visit_entity_tags(value, |tag| {
        matched |= tag.opaque == etag.as_bytes() && !(strong && tag.weak);
    })
    .is_some();
    // A malformed list matches nothing, even if a tag before the fault did.
    well_formed && matched
}

/// A single HTTP-date from a field that must hold exactly one (RFC 9110 §13.1.3: ignore the
/// field if it is not a valid date).
fn field_date(request: &Request<'_>, name: &str, now_unix_s: Option<u64>) -> Option<u64> {
    let mut values = request.header_values(name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_http_date(value, now_unix_s)
}

/// The outcome of RFC 9110 §13.2.2 steps 1–4.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

fn evaluate_preconditions(
    request: &Request<'_>,
    entry: &FileEntry,
    now_unix_s: Option<u64>,
) -> Precondition {
    // Step 1 / step 2: If-Match, or failing that If-Unmodified-Since.
    if let Some(if_match) = request.header("if-match") {
        let all: Vec<u8> = join_values(request, "if-match", if_match);
        if !entity_tag_list_matches(&all, entry.etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = field_date(request, "if-unmodified-since", now_unix_s)
        && entry.modified_unix_s > date
    {
        return Precondition::Failed;
    }
    // Step 3 / step 4: If-None-Match, or failing that If-Modified-Since (GET and HEAD only).
    if let Some(if_none_match) = request.header("if-none-match") {
        let all: Vec<u8> = join_values(request, "if-none-match", if_none_match);
        if entity_tag_list_matches(&all, entry.etag, false) {
            // Only GET and HEAD reach this function.
            return Precondition::NotModified;
        }
    } else if let Some(date) = field_date(request, "if-modified-since", now_unix_s)
        && entry.modified_unix_s <= date
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Combines repeated field lines into one list value (RFC 9110 §5.3).
fn join_values(request: &Request<'_>, name: &str, first: &[u8]) -> Vec<u8> {
    let mut joined = Vec::from(first);
    for value in request.header_values(name).skip(1) {
        joined.push(b',');
        joined.extend_from_slice(value);
    }
    joined
}

/// RFC 9110 §13.1.5: If-Range holds an entity-tag (strong comparison) or a date (exact match
/// with Last-Modified). When it does not match, the Range field is ignored.
fn if_range_allows_range(
    request: &Request<'_>,
    entry: &FileEntry,
    now_unix_s: Option<u64>,
) -> bool {
    let Some(value) = request.header("if-range") else {
        return true;
    };
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let mut first = None;
        let count = visit_entity_tags(value, |tag| {
            first.get_or_insert(tag);
        });
        return match (count, first) {
            (Some(1), Some(tag)) => !tag.weak && tag.opaque == entry.etag.as_bytes(),
            _ => false,
        };
    }
    parse_http_date(value, now_unix_s) == Some(entry.modified_unix_s)
}

/// Most bytes of selected content a `multipart/byteranges` response may carry. The boundary
/// must be searched for in every selected byte before the first byte is sent, and the server is
/// single-threaded: unbounded, one 100-byte request for two halves of a 10 MiB file held every
/// other connection up for 0.4 s on QEMU. Beyond this, the Range field is ignored (RFC 9110
/// §14.2 allows it) and the whole representation is sent, which needs no search.
pub const MULTIPART_SCAN_MAX_BYTES: u64 = 1024 * 1024;

/// Start of every boundary; what follows is 16 hexadecimal digits.
const BOUNDARY_PREFIX: &[u8] = b"bareserve-";

/// How many boundary candidates are tried before giving up.
const BOUNDARY_CANDIDATES: u64 = 8;

/// A multipart boundary that occurs in none of the selected parts (RFC 2046 §5.1.1 requires it
/// not to appear in the encapsulated data). Derived from the ETag, so responses are reproducible.
/// One pass over the parts checks every candidate: they share [`BOUNDARY_PREFIX`], so only
/// positions where the prefix occurs are compared further.
fn choose_boundary(etag: &str, parts: &[&[u8]]) -> Option<String> {
    // FNV-1a, 64 bit.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in etag.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let candidates: Vec<String> = (0..BOUNDARY_CANDIDATES)
        .map(|attempt| format!("bareserve-{:016x}", hash.wrapping_add(attempt)))
        .collect();
    let mut collides = vec![false; candidates.len()];
    let first_byte = BOUNDARY_PREFIX.first().copied().unwrap_or(b'b');
    for part in parts {
        let mut rest: &[u8] = part;
        while let Some(position) = rest.iter().position(|&byte| byte == first_byte) {
            let tail = rest.get(position..).unwrap_or_default();
            if tail.starts_with(BOUNDARY_PREFIX) {
                for (candidate, collision) in candidates.iter().zip(collides.iter_mut()) {
                    *collision |= tail.starts_with(candidate.as_bytes());
                }
            }
            rest = tail.get(1..).unwrap_or_default();
        }
    }
    candidates
        .into_iter()
        .zip(collides)
        .find_map(|(candidate, collision)| (!collision).then_some(candidate))
}

fn slice_of(body: &'static [u8], range: ByteRange) -> &'static [u8] {
    let first = usize::try_from(range.first).unwrap_or(usize::MAX);
    let end = usize::try_from(range.last)
        .ok()
        .and_then(|last| last.checked_add(1))
        .unwrap_or(usize::MAX);
    body.get(first..end).unwrap_or_default()
}

/// Bytes of a joined name (`dir/` + `index.html`, `path` + `.gz`) built on the stack; longer
/// names (rare) take an allocation.
const JOINED_NAME_BYTES_MAX: usize = 256;

/// The position of the file `path` + `suffix`, if the site has it.
fn joined_position(site: &Site, path: &str, suffix: &str) -> Option<usize> {
    let length = path.len() + suffix.len();
    let mut name = [0u8; JOINED_NAME_BYTES_MAX];
    match name.get_mut(..length) {
        Some(bytes) => {
            bytes[..path.len()].copy_from_slice(path.as_bytes());
            bytes[path.len()..].copy_from_slice(suffix.as_bytes());
            // Two strings joined are a string.
            site.position(core::str::from_utf8(bytes).ok()?)
        }
        None => site.position(&format!("{path}{suffix}")),
    }
}

/// The file `path` + `suffix` (a precompressed variant), if the site has it.
pub(super) fn sibling<'s>(site: &'s Site, path: &str, suffix: &str) -> Option<&'s FileEntry> {
    site.file_at(joined_position(site, path, suffix)?)
}

/// `Vary` (when the file has a precompressed variant) and the configured `Cache-Control`.
pub(super) fn cache_fields(head: &mut HeadWriter, has_variants: bool, settings: &ResponseSettings) {
    if has_variants {
        head.known_field("Vary", "Accept-Encoding");
    }
    if let Some(cache_control) = &settings.cache_control {
        head.field("Cache-Control", cache_control);
    }
}

/// Turns a request and the site into a response. Never panics.
pub fn respond(
    request: &Request<'_>,
    site: &Site,
    now_unix_s: Option<u64>,
    settings: &ResponseSettings,
) -> Response {
    respond_prepared(request, site, now_unix_s, settings, None)
}

/// [`respond`] with the site's [`PreparedHeads`] (made for this `site` and `settings`): the same
/// response, with the head of a whole file taken from the table. A table that does not fit the
/// site is not used.
pub fn respond_prepared(
    request: &Request<'_>,
    site: &Site,
    now_unix_s: Option<u64>,
    settings: &ResponseSettings,
    prepared: Option<&PreparedHeads>,
) -> Response {
    let prepared = prepared.filter(|prepared| prepared.fits(site));
    let date = response_date(now_unix_s, prepared);
    let persistence = Persistence::of(request);
    let is_head = request.method == Method::Head;
    let error = |status: u16, extra: &[ExtraField<'_>]| {
        error_page(status, extra, site, !is_head, persistence, date, settings)
    };
    match request.method {
        Method::Get | Method::Head => {}
        Method::Options => {
            // RFC 9110 §9.3.7: OPTIONS (also `OPTIONS *`) describes the communication options;
            // 204 because there is no content (and so no Content-Length, RFC 9110 §8.6).
            let mut head = HeadWriter::new(204, date, settings);
            head.known_field("Allow", ALLOWED_METHODS);
            return Response {
                status: 204,
                head: head.finish(persistence),
                body: Body::Empty,
                close_after: persistence.close_after,
            };
        }
        // RFC 9110 §15.5.6: 405 MUST carry Allow.
        _ => return error(405, &[("Allow", ALLOWED_METHODS)]),
    }
    let (path, query) = match &request.target {
        Target::Path { path, query } => (&**path, *query),
        // parse_request only admits these forms with OPTIONS and CONNECT.
        Target::Asterisk | Target::Authority(_) => return error(400, &[]),
    };
    let (original, position, type_path) = match resolve(site, path) {
        Resolution::File {
            entry,
            position,
            type_path,
        } => (entry, position, type_path),
        Resolution::NotFound => return error(404, &[]),
        Resolution::DirectoryWithoutSlash => {
            // As nginx: a directory named without its slash is redirected to it, query kept. A
            // relative reference (RFC 9110 §10.2.2) avoids echoing an untrusted Host.
            let mut location = encode_path(path);
            location.push('/');
            if let Some(query) = query {
                location.push('?');
                location.push_str(query);
            }
            return error(301, &[("Location", &location)]);
        }
    };

    // Precompressed sibling (nginx gzip_static): the .gz bytes, their own ETag, the original's
    // type, and Vary on both variants so caches keep them apart (RFC 9110 §12.5.5).
    let gzip_sibling = match prepared {
        Some(prepared) => prepared
            .gzip_sibling(position)
            .and_then(|index| site.file_at(index)),
        None => sibling(site, original.path, ".gz"),
    };
    let has_variants = gzip_sibling.is_some();
    let (entry, content_encoding) = match gzip_sibling {
        Some(compressed) if accepts_gzip(request) => (compressed, Some("gzip")),
        _ => (original, None),
    };
    let representation_fields = |head: &mut HeadWriter| {
        head.known_field("Last-Modified", http_date(entry.modified_unix_s).as_str());
        head.field("ETag", entry.etag);
    };
    let cache_fields = |head: &mut HeadWriter| cache_fields(head, has_variants, settings);

    match evaluate_preconditions(request, entry, now_unix_s) {
        Precondition::Proceed => {}
        Precondition::Failed => return error(412, &[]),
        Precondition::NotModified => {
            // RFC 9110 §15.4.5: 304 carries the validators and the fields a 200 would have for
            // caching; like nginx, no Content-Type, Content-Length or Accept-Ranges.
            let mut head = HeadWriter::new(304, date, settings);
            representation_fields(&mut head);
            cache_fields(&mut head);
            return Response {
                status: 304,
                head: head.finish(persistence),
                body: Body::Empty,
                close_after: persistence.close_after,
            };
        }
    }

    // RFC 9110 §9.3.2: HEAD gets the same fields as GET, without content.
    let body_unless_head = |body: Body| if is_head { Body::Empty } else { body };
    let length = entry.body.len() as u64;
    // RFC 9110 §14.2: Range is only defined for GET; other methods ignore it.
    let decision = match request.header("range") {
        Some(value)
            if request.method == Method::Get
                && if_range_allows_range(request, entry, now_unix_s) =>
        {
            evaluate_range(value, length)
        }
        _ => RangeDecision::Ignore,
    };
    if let RangeDecision::Ignore = decision
        && let Some(head) = prepared.and_then(|prepared| {
            prepared.ok_head(position, content_encoding.is_some(), date, persistence)
        })
    {
        return Response {
            status: 200,
            head,
            body: body_unless_head(Body::Static(entry.body)),
            close_after: persistence.close_after,
        };
    }
    let content_type = content_type_for_path(type_path);
    let encoding_field = |head: &mut HeadWriter| {
        if let Some(encoding) = content_encoding {
            head.known_field("Content-Encoding", encoding);
        }
    };

    let (status, body, content_length, content_range, multipart_type) = match decision {
        RangeDecision::Ignore => (200, Body::Static(entry.body), length, None, None),
        RangeDecision::Unsatisfiable => {
            // RFC 9110 §15.5.17: 416 SHOULD carry Content-Range with the current length.
            let content_range = format!("bytes */{length}");
            return error(416, &[("Content-Range", &content_range)]);
        }
        RangeDecision::Satisfiable(ranges) => match ranges.as_slice() {
            [range] => {
                let slice = slice_of(entry.body, *range);
                let content_range = format!("bytes {}-{}/{length}", range.first, range.last);
                (
                    206,
                    Body::Static(slice),
                    range.len(),
                    Some(content_range),
                    None,
                )
            }
            _ if ranges
                .iter()
                .map(|range| range.len())
                .fold(0u64, u64::saturating_add)
                > MULTIPART_SCAN_MAX_BYTES =>
            {
                (200, Body::Static(entry.body), length, None, None)
            }
            _ => {
                let slices: Vec<&'static [u8]> = ranges
                    .iter()
                    .map(|range| slice_of(entry.body, *range))
                    .collect();
                match choose_boundary(entry.etag, &slices) {
                    Some(boundary) => {
                        let (parts, total) =
                            multipart_body(&boundary, content_type, &ranges, &slices, length);
                        let media_type = format!("multipart/byteranges; boundary={boundary}");
                        (206, Body::Parts(parts), total, None, Some(media_type))
                    }
                    // Practically unreachable; the whole representation is always correct.
                    None => (200, Body::Static(entry.body), length, None, None),
                }
            }
        },
    };

    let mut head = HeadWriter::new(status, date, settings);
    head.known_field(
        "Content-Type",
        multipart_type.as_deref().unwrap_or(content_type),
    );
    head.number_field("Content-Length", content_length);
    representation_fields(&mut head);
    head.known_field("Accept-Ranges", "bytes");
    if let Some(content_range) = &content_range {
        head.known_field("Content-Range", content_range);
    }
    encoding_field(&mut head);
    cache_fields(&mut head);
    Response {
        status,
        head: head.finish(persistence),
        body: body_unless_head(body),
        close_after: persistence.close_after,
    }
}

/// RFC 9110 §14.6: `multipart/byteranges`, each part with Content-Type and Content-Range.
fn multipart_body(
    boundary: &str,
    content_type: &str,
    ranges: &[ByteRange],
    slices: &[&'static [u8]],
    length: u64,
) -> (Vec<BodyPart>, u64) {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total: u64 = 0;
    for (range, slice) in ranges.iter().zip(slices) {
        let part_head = format!(
            "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{length}\r\n\r\n",
            range.first, range.last
        );
        total = total
            .saturating_add(part_head.len() as u64)
            .saturating_add(slice.len() as u64);
        parts.push(BodyPart::Owned(part_head.into_bytes()));
        parts.push(BodyPart::Static(slice));
    }
    let closing = format!("\r\n--{boundary}--\r\n");
    total = total.saturating_add(closing.len() as u64);
    parts.push(BodyPart::Owned(closing.into_bytes()));
    (parts, total)
}
