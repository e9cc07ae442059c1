//! Tests of the chunked body decoder: valid bodies in every split, extensions, trailers, limits
//! and malformed framing.

use super::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

const BODY_MAX_BYTES: u64 = 64 * 1024;

/// Decodes `bytes` in pieces ending at `cuts` (offsets into `bytes`, increasing) and then the
/// rest; returns the outcome of the last call and the bytes the body took in all.
fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> (ChunkedProgress, usize) {
    let mut decoder = ChunkedDecoder::new(BODY_MAX_BYTES);
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&bytes.len())) {
        let progress = decoder.decode(&bytes[start..end]);
        match progress {
            ChunkedProgress::NeedMore => start = end,
            ChunkedProgress::Complete { consumed_bytes } => {
                return (progress, start + consumed_bytes);
            }
            ChunkedProgress::Error(_) => return (progress, start),
        }
    }
    (ChunkedProgress::NeedMore, start)
}

fn decode_whole(bytes: &[u8]) -> ChunkedProgress {
    ChunkedDecoder::new(BODY_MAX_BYTES).decode(bytes)
}

/// Valid bodies, each followed by the start of a next request that must not be consumed.
const VALID_BODIES: &[&[u8]] = &[
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\na\r\n0123456789\r\n0000\r\n\r\n",
    b"00000000000000F\r\n0123456789abcde\r\n0\r\n\r\n",
    // Data may hold any bytes, CR and LF included.
    b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
    // Chunk extensions (RFC 9112 §7.1.1), with BWS, token and quoted-string values.
    b"5;name\r\nhello\r\n0;last\r\n\r\n",
    b"5 ; a = b ;c;d=\"x y\\\"z\"\r\nhello\r\n0\r\n\r\n",
    // Whitespace may come only before `;` or `=` (BWS), so here the next extension follows.
    b"5;a=\"b\" ;c\r\nhello\r\n0\r\n\r\n",
    b"3;q=\"\"\r\nabc\r\n0;q=\"\\\t\xff\"\r\n\r\n",
    // Trailer fields (RFC 9112 §7.1.2), CRLF or bare LF (as in the header section).
    b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:\t v \xe9\r\n\r\n",
    b"5\r\nhello\r\n0\r\nX-Checksum: abc\nX-Empty:\n\n",
    b"0\r\n\n",
];

const NEXT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn valid_bodies_end_where_they_end_whatever_the_split() {
    for body in VALID_BODIES {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(NEXT_REQUEST);
        let expected = (
            ChunkedProgress::Complete {
                consumed_bytes: body.len(),
            },
            body.len(),
        );
        let label = String::from_utf8_lossy(body);
        assert_eq!(decode_in_pieces(&bytes, &[]), expected, "{label}");
        // Every split into two pieces.
        for cut in 0..=bytes.len() {
            let (progress, total) = decode_in_pieces(&bytes, &[cut]);
            assert!(
                matches!(progress, ChunkedProgress::Complete { .. }),
                "{label} cut at {cut}"
            );
            assert_eq!(total, body.len(), "{label} cut at {cut}");
        }
        // Byte by byte: every call but the one with the last byte of the body needs more.
        let mut decoder = ChunkedDecoder::new(BODY_MAX_BYTES);
        for (index, byte) in body.iter().enumerate() {
            let progress = decoder.decode(core::slice::from_ref(byte));
            if index + 1 < body.len() {
                assert_eq!(progress, ChunkedProgress::NeedMore, "{label} at {index}");
            } else {
                assert_eq!(
                    progress,
                    ChunkedProgress::Complete { consumed_bytes: 1 },
                    "{label}"
                );
            }
        }
        // Once over, the decoder takes nothing more.
        assert_eq!(
            decoder.decode(NEXT_REQUEST),
            ChunkedProgress::Complete { consumed_bytes: 0 }
        );
    }
}

#[test]
fn the_sum_of_the_chunk_sizes_is_counted() {
    let mut decoder = ChunkedDecoder::new(BODY_MAX_BYTES);
    assert!(matches!(
        decoder.decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        ChunkedProgress::Complete { .. }
    ));
    assert_eq!(decoder.body_bytes(), 11);
}

#[test]
fn an_incomplete_body_needs_more() {
    for body in [
        &b""[..],
        b"5",
        b"5\r",
        b"5\r\nhel",
        b"5\r\nhello",
        b"5\r\nhello\r",
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n0",
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhello\r\n0\r\nX: y\r\n",
        b"5\r\nhello\r\n0\r\n\r",
        b"5;a=\"open",
    ] {
        assert_eq!(
            decode_whole(body),
            ChunkedProgress::NeedMore,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn malformed_framing_is_refused() {
    let cases: &[&[u8]] = &[
        // No size, or not hex.
        b"\r\n",
        b"x\r\n",
        b"-1\r\n",
        b"+5\r\n",
        b"0x5\r\n",
        b"5x\r\nhello\r\n",
        b"g\r\n",
        // More than 16 hex digits, even zeros: no overflow is possible.
        b"00000000000000000\r\n\r\n",
        // The chunk-size line ends in CRLF exactly (bare LF, bare CR, whitespace before it).
        b"5\nhello\r\n0\r\n\r\n",
        b"5\rhello\r\n",
        b"5 \r\nhello\r\n",
        b"5\t\r\nhello\r\n",
        // The data is followed by CRLF exactly.
        b"5\r\nhelloX\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        b"5\r\nhello world\r\n",
        b"0\r\n\r\r\n",
        // Extensions: a token name, a token or quoted-string value.
        b"5;\r\nhello\r\n",
        b"5;=x\r\nhello\r\n",
        b"5;a=\r\nhello\r\n",
        b"5;a b\r\nhello\r\n",
        b"5;a=b c\r\nhello\r\n",
        b"5;a=\"b\"c\r\nhello\r\n",
        b"5;a=\"b\r\nhello\r\n",
        b"5;a=\"\\\x01\"\r\nhello\r\n",
        b"5;a=\"\x7f\"\r\nhello\r\n",
        b"5;a@b\r\nhello\r\n",
        b"5;a \r\nhello\r\n",
        b"5;a=b \r\nhello\r\n",
        b"5;a=\"b\" \r\nhello\r\n",
        b"5,a\r\nhello\r\n",
        // Trailer fields: name, colon, value of visible bytes; no obs-fold, no space before
        // the colon, no bare CR.
        b"0\r\nX-A : b\r\n\r\n",
        b"0\r\n X-A: b\r\n\r\n",
        b"0\r\nX-A: b\r\n continued\r\n\r\n",
        b"0\r\nX-A\r\n\r\n",
        b"0\r\n:b\r\n\r\n",
        b"0\r\nX-A: b\x00\r\n\r\n",
        b"0\r\nX-A: b\rc\r\n\r\n",
        b"0\r\n\rX",
    ];
    for body in cases {
        let label = String::from_utf8_lossy(body);
        assert_eq!(
            decode_whole(body),
            ChunkedProgress::Error(ChunkedError::Malformed),
            "{label}"
        );
        // The verdict does not depend on the split, and sticks.
        let mut decoder = ChunkedDecoder::new(BODY_MAX_BYTES);
        let mut verdict = ChunkedProgress::NeedMore;
        for byte in body.iter() {
            verdict = decoder.decode(core::slice::from_ref(byte));
            if verdict != ChunkedProgress::NeedMore {
                break;
            }
        }
        assert_eq!(
            verdict,
            ChunkedProgress::Error(ChunkedError::Malformed),
            "{label}"
        );
        assert_eq!(
            decoder.decode(b"0\r\n\r\n"),
            ChunkedProgress::Error(ChunkedError::Malformed)
        );
    }
}

#[test]
fn the_body_limit_counts_the_sum_of_the_chunk_sizes() {
    let limit = 10u64;
    // Exactly at the limit, in one chunk or several.
    for body in [
        &b"a\r\n0123456789\r\n0\r\n\r\n"[..],
        b"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
    ] {
        assert!(matches!(
            ChunkedDecoder::new(limit).decode(body),
            ChunkedProgress::Complete { .. }
        ));
    }
    // One byte over, refused as soon as the size is read (before any data arrives).
    for body in [&b"b\r\n"[..], b"b", b"5\r\n01234\r\n6", b"ffffffffffffffff"] {
        assert_eq!(
            ChunkedDecoder::new(limit).decode(body),
            ChunkedProgress::Error(ChunkedError::BodyTooLarge),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // The largest size there is, with the largest limit there is, does not overflow.
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    assert_eq!(
        decoder.decode(b"ffffffffffffffff\r\nab"),
        ChunkedProgress::NeedMore
    );
    assert_eq!(decoder.body_bytes(), u64::MAX);
    // A 17th digit would overflow a u64: refused as malformed, whatever the limit.
    assert_eq!(
        ChunkedDecoder::new(u64::MAX).decode(b"10000000000000000\r\n"),
        ChunkedProgress::Error(ChunkedError::Malformed)
    );
}

#[test]
fn the_chunk_size_line_is_bounded() {
    // The longest line allowed, extensions and CRLF included, then one byte more.
    let extension_bytes = CHUNK_SIZE_LINE_MAX_BYTES - "5;a=\r\n".len();
    let longest = format!("5;a={}\r\nhello\r\n0\r\n\r\n", "v".repeat(extension_bytes));
    assert!(matches!(
        decode_whole(longest.as_bytes()),
        ChunkedProgress::Complete { .. }
    ));
    let too_long = format!(
        "5;a={}\r\nhello\r\n0\r\n\r\n",
        "v".repeat(extension_bytes + 1)
    );
    assert_eq!(
        decode_whole(too_long.as_bytes()),
        ChunkedProgress::Error(ChunkedError::Malformed)
    );
    // The limit applies to each line, not to their sum.
    let mut many = Vec::new();
    for _ in 0..10 {
        many.extend_from_slice(format!("1;a={}\r\nx\r\n", "v".repeat(1000)).as_bytes());
    }
    many.extend_from_slice(b"0\r\n\r\n");
    assert!(matches!(
        decode_whole(&many),
        ChunkedProgress::Complete { .. }
    ));
}

#[test]
fn the_trailer_section_is_bounded() {
    let field =
        "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    // Fill the section up to exactly the limit with the final CRLF, then one byte over.
    let fields_bytes = TRAILER_SECTION_MAX_BYTES - 2;
    let mut trailer = field.repeat((fields_bytes - 4) / field.len());
    let padding = fields_bytes - trailer.len();
    trailer.push_str(&format!("X:{}\r\n", "b".repeat(padding - 4)));
    assert_eq!(trailer.len(), fields_bytes);
    let at_limit = format!("0\r\n{trailer}\r\n");
    assert!(matches!(
        decode_whole(at_limit.as_bytes()),
        ChunkedProgress::Complete { .. }
    ));
    let over = format!("0\r\nY{trailer}\r\n");
    assert_eq!(
        decode_whole(over.as_bytes()),
        ChunkedProgress::Error(ChunkedError::TrailerSectionTooLarge)
    );
}
