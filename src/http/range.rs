//! Byte range requests (RFC 9110 §14): parsing a `Range` field against a representation length.

use alloc::vec::Vec;

use super::request::trim_whitespace;

/// Most range-specs honoured in one `Range` field; a field with more is ignored and the whole
/// representation sent (as nginx's `max_ranges`; RFC 9110 §14.2 lets a server ignore a Range field
/// with many ranges, "indications of either a broken client or a deliberate denial-of-service
/// attack"). Answering 200 rather than 416 keeps well-meaning clients working.
pub const RANGES_MAX: usize = 16;

/// An inclusive byte range within a representation, `first <= last < length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub first: u64,
    /// Last byte offset (inclusive, as in `Content-Range`).
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one byte.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// What to do with a `Range` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeDecision {
    /// Send the whole representation (`200`): the field is invalid, uses another unit, or has too
    /// many ranges (RFC 9110 §14.2: "MAY ignore").
    Ignore,
    /// No range overlaps the representation: `416` with `Content-Range: bytes */length`.
    Unsatisfiable,
    /// One or more ranges, sorted and with overlapping or adjacent ranges coalesced (RFC 9110
    /// §14.2 allows coalescing); one range gives a plain `206`, several `multipart/byteranges`.
    Satisfiable(Vec<ByteRange>),
}

/// Digits as a u64, saturating on overflow (a huge position is still valid syntax and simply
/// lies beyond the end); `None` for anything but `1*DIGIT`.
fn parse_position(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |value, &digit| {
        value
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

/// Evaluates a `Range` field value (RFC 9110 §14.1.1 `ranges-specifier`) against a representation
/// of `length` bytes.
pub fn evaluate_range(value: &[u8], length: u64) -> RangeDecision {
    let value = trim_whitespace(value);
    let Some(unit_end) = value.iter().position(|&byte| byte == b'=') else {
        return RangeDecision::Ignore;
    };
    let (unit, range_set) = value.split_at(unit_end);
    // RFC 9110 §14.1: range units are case-insensitive; §14.2: an unknown unit is ignored.
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return RangeDecision::Ignore;
    }
    let range_set = range_set.get(1..).unwrap_or_default();
    let mut ranges: Vec<ByteRange> = Vec::new();
    let mut spec_count = 0;
    // RFC 9110 §5.6.1: list elements may be empty; at least one must not be.
    for spec in range_set.split(|&byte| byte == b',').map(trim_whitespace) {
        if spec.is_empty() {
            continue;
        }
        spec_count += 1;
        if spec_count > RANGES_MAX {
            return RangeDecision::Ignore;
        }
        let Some(dash) = spec.iter().position(|&byte| byte == b'-') else {
            return RangeDecision::Ignore;
        };
        let (first_text, last_text) = spec.split_at(dash);
        let last_text = last_text.get(1..).unwrap_or_default();
        if first_text.is_empty() {
            // suffix-range = "-" suffix-length
            let Some(suffix_length) = parse_position(last_text) else {
                return RangeDecision::Ignore;
            };
            if suffix_length > 0 && length > 0 {
                let first = length - suffix_length.min(length);
                ranges.push(ByteRange {
                    first,
                    last: length - 1,
                });
            }
            continue;
        }
        let Some(first) = parse_position(first_text) else {
            return RangeDecision::Ignore;
        };
        let last = if last_text.is_empty() {
            u64::MAX
        } else {
            match parse_position(last_text) {
                Some(last) => last,
                None => return RangeDecision::Ignore,
            }
        };
        // RFC 9110 §14.1.1: last-pos < first-pos makes the range-set invalid; §14.2 lets a
        // server ignore an invalid ranges-specifier.
        if last < first {
            return RangeDecision::Ignore;
        }
        if first < length {
            ranges.push(ByteRange {
                first,
                last: last.min(length - 1),
            });
        }
    }
    if spec_count == 0 {
        return RangeDecision::Ignore;
    }
    if ranges.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    crate::sorting::sort_by_key(&mut ranges, |range| range.first);
    let mut coalesced: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match coalesced.last_mut() {
            Some(previous) if range.first <= previous.last.saturating_add(1) => {
                previous.last = previous.last.max(range.last);
            }
            _ => coalesced.push(range),
        }
    }
    RangeDecision::Satisfiable(coalesced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ranges(pairs: &[(u64, u64)]) -> RangeDecision {
        RangeDecision::Satisfiable(
            pairs
                .iter()
                .map(|&(first, last)| ByteRange { first, last })
                .collect(),
        )
    }

    #[test]
    fn evaluates_range_fields() {
        let cases: Vec<(&str, u64, RangeDecision)> = vec![
            ("bytes=0-4", 10, ranges(&[(0, 4)])),
            ("bytes=5-", 10, ranges(&[(5, 9)])),
            ("bytes=-3", 10, ranges(&[(7, 9)])),
            ("bytes=-30", 10, ranges(&[(0, 9)])),
            ("bytes=0-100", 10, ranges(&[(0, 9)])),
            ("BYTES=1-1", 10, ranges(&[(1, 1)])),
            (" bytes=1-2 ", 10, ranges(&[(1, 2)])),
            ("bytes=1-2, 4-5", 10, ranges(&[(1, 2), (4, 5)])),
            ("bytes=4-5,1-2", 10, ranges(&[(1, 2), (4, 5)])),
            ("bytes=0-3,2-5", 10, ranges(&[(0, 5)])),
            ("bytes=0-3,4-5", 10, ranges(&[(0, 5)])),
            ("bytes=0-3,,5-5", 10, ranges(&[(0, 3), (5, 5)])),
            ("bytes=0-0,-1", 10, ranges(&[(0, 0), (9, 9)])),
            ("bytes=20-30,1-1", 10, ranges(&[(1, 1)])),
            ("bytes=0-99999999999999999999999", 10, ranges(&[(0, 9)])),
            ("bytes=10-", 10, RangeDecision::Unsatisfiable),
            ("bytes=10-20", 10, RangeDecision::Unsatisfiable),
            ("bytes=-0", 10, RangeDecision::Unsatisfiable),
            ("bytes=0-", 0, RangeDecision::Unsatisfiable),
            ("bytes=-5", 0, RangeDecision::Unsatisfiable),
            ("bytes=5-4", 10, RangeDecision::Ignore),
            ("bytes=", 10, RangeDecision::Ignore),
            ("bytes=,", 10, RangeDecision::Ignore),
            ("bytes=a-b", 10, RangeDecision::Ignore),
            ("bytes=1", 10, RangeDecision::Ignore),
            ("bytes=--1", 10, RangeDecision::Ignore),
            ("bytes=1-2-3", 10, RangeDecision::Ignore),
            ("bytes=+1-2", 10, RangeDecision::Ignore),
            ("bytes 0-1", 10, RangeDecision::Ignore),
            ("items=0-1", 10, RangeDecision::Ignore),
            ("", 10, RangeDecision::Ignore),
            (
                "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,\
                 26-26,28-28,30-30",
                100,
                RangeDecision::Satisfiable(
                    (0..16)
                        .map(|index| ByteRange {
                            first: index * 2,
                            last: index * 2,
                        })
                        .collect(),
                ),
            ),
            (
                "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,\
                 26-26,28-28,30-30,32-32",
                100,
                RangeDecision::Ignore,
            ),
        ];
        for (value, length, expected) in cases {
            assert_eq!(
                evaluate_range(value.as_bytes(), length),
                expected,
                "{value:?} of {length}"
            );
        }
    }
}
