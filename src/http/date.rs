//! HTTP dates (RFC 9110 §5.6.7): formatting as IMF-fixdate, parsing IMF-fixdate and the two
//! obsolete formats (RFC 850 and ANSI C `asctime`). Civil-from-days arithmetic after Howard
//! Hinnant's "chrono-Compatible Low-Level Date Algorithms", on Unix seconds; no calendar crate.

use alloc::string::String;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const SECONDS_PER_DAY: u64 = 86_400;
/// The last second of 9999-12-31; IMF-fixdate has a four-digit year.
const LATEST_FORMATTABLE_UNIX_S: u64 = 253_402_300_799;

/// A calendar date and time of day in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CivilTime {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

/// Year, month (1–12), day (1–31) of a day count since 1970-01-01 (Hinnant's `civil_from_days`,
/// restricted to days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date on or after it (Hinnant's `days_from_civil`); `None` before.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Bytes of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_BYTES: usize = 29;

/// An IMF-fixdate (RFC 9110 §5.6.7) held in place: written digit by digit, without `core::fmt`
/// or an allocation, because every response carries one or two (`Date`, `Last-Modified`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpDate([u8; HTTP_DATE_BYTES]);

impl HttpDate {
    /// The date as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written (names from the tables, digits, separators).
        core::str::from_utf8(&self.0).unwrap_or("Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

/// Unix seconds as an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7). Times
/// after 9999-12-31 are clamped to its last second, which keeps the format valid.
pub fn http_date(unix_s: u64) -> HttpDate {
    let unix_s = unix_s.min(LATEST_FORMATTABLE_UNIX_S);
    let days = unix_s / SECONDS_PER_DAY;
    let second_of_day = unix_s % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 counting from Monday).
    let weekday = DAY_NAMES
        .get(((days + 3) % 7) as usize)
        .copied()
        .unwrap_or("Mon");
    let month_name = MONTH_NAMES
        .get((month - 1) as usize)
        .copied()
        .unwrap_or("Jan");
    let mut text = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    text[0..3].copy_from_slice(weekday.as_bytes());
    write_digits(&mut text[5..7], day);
    text[8..11].copy_from_slice(month_name.as_bytes());
    write_digits(&mut text[12..16], year);
    write_digits(&mut text[17..19], second_of_day / 3600);
    write_digits(&mut text[20..22], second_of_day / 60 % 60);
    write_digits(&mut text[23..25], second_of_day % 60);
    HttpDate(text)
}

/// Writes `value` in decimal, zero-padded to fill `digits` (the value always fits: the callers
/// pass at most four-digit years and two-digit fields).
fn write_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Formats Unix seconds as an IMF-fixdate ([`http_date`], as a `String`).
pub fn format_http_date(unix_s: u64) -> String {
    String::from(http_date(unix_s).as_str())
}

/// Parses an HTTP-date in any of the three formats RFC 9110 §5.6.7 requires recipients to accept,
/// returning Unix seconds; `None` for anything invalid (the caller then ignores the field, as
/// RFC 9110 §13.1.3 and §13.1.4 require). The weekday name must be well-formed but is not checked
/// against the date.
///
/// For RFC 850's two-digit year, `now_unix_s` supplies the rule of RFC 9110 §5.6.7 (a year more
/// than 50 years in the future means the most recent past year with those digits); without it,
/// 70–99 mean 19xx and 00–69 mean 20xx.
pub fn parse_http_date(text: &[u8], now_unix_s: Option<u64>) -> Option<u64> {
    let text = core::str::from_utf8(text).ok()?;
    let civil = parse_imf_fixdate(text)
        .or_else(|| parse_rfc850(text, now_unix_s))
        .or_else(|| parse_asctime(text))?;
    if !(1..=12).contains(&civil.month)
        || civil.day == 0
        || civil.day > days_in_month(civil.year, civil.month)
        || civil.hour > 23
        || civil.minute > 59
        // RFC 9110 §5.6.7 allows a leap second (60) in the grammar.
        || civil.second > 60
    {
        return None;
    }
    let days = days_from_civil(civil.year, civil.month, civil.day)?;
    days.checked_mul(SECONDS_PER_DAY)?
        .checked_add(civil.hour * 3600 + civil.minute * 60 + civil.second)
}

fn digits(text: &str, count: usize) -> Option<u64> {
    if text.len() != count || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn month_number(name: &str) -> Option<u64> {
    MONTH_NAMES
        .iter()
        .position(|month| *month == name)
        .map(|index| index as u64 + 1)
}

/// `HH:MM:SS`.
fn parse_time_of_day(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split(':');
    let hour = digits(parts.next()?, 2)?;
    let minute = digits(parts.next()?, 2)?;
    let second = digits(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    Some((hour, minute, second))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` — names are case-sensitive in the grammar.
fn parse_imf_fixdate(text: &str) -> Option<CivilTime> {
    let rest = text.strip_suffix(" GMT")?;
    let (weekday, rest) = rest.split_once(", ")?;
    if !DAY_NAMES.contains(&weekday) {
        return None;
    }
    let mut parts = rest.split(' ');
    let day = digits(parts.next()?, 2)?;
    let month = month_number(parts.next()?)?;
    let year = digits(parts.next()?, 4)?;
    let (hour, minute, second) = parse_time_of_day(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(text: &str, now_unix_s: Option<u64>) -> Option<CivilTime> {
    let rest = text.strip_suffix(" GMT")?;
    let (weekday, rest) = rest.split_once(", ")?;
    if !DAY_NAMES_LONG.contains(&weekday) {
        return None;
    }
    let (date, time) = rest.split_once(' ')?;
    let mut date_parts = date.split('-');
    let day = digits(date_parts.next()?, 2)?;
    let month = month_number(date_parts.next()?)?;
    let two_digit_year = digits(date_parts.next()?, 2)?;
    if date_parts.next().is_some() {
        return None;
    }
    let (hour, minute, second) = parse_time_of_day(time)?;
    let year = match now_unix_s {
        Some(now) => {
            let (current_year, _, _) =
                civil_from_days(now.min(LATEST_FORMATTABLE_UNIX_S) / SECONDS_PER_DAY);
            let century = current_year / 100 * 100;
            let candidate = century + two_digit_year;
            // The one year with these digits in (current − 50, current + 50].
            if candidate > current_year + 50 {
                candidate.saturating_sub(100)
            } else if candidate + 100 <= current_year + 50 {
                candidate + 100
            } else {
                candidate
            }
        }
        None if two_digit_year >= 70 => 1900 + two_digit_year,
        None => 2000 + two_digit_year,
    };
    Some(CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

/// `Sun Nov  6 08:49:37 1994` (the day is space-padded to two characters).
fn parse_asctime(text: &str) -> Option<CivilTime> {
    let weekday = text.get(..4)?;
    let month = text.get(4..8)?;
    let day = text.get(8..10)?;
    let rest = text.get(10..)?;
    if !DAY_NAMES.contains(&weekday.strip_suffix(' ')?) {
        return None;
    }
    let month = month_number(month.strip_suffix(' ')?)?;
    let day = match day.as_bytes() {
        [b' ', digit] if digit.is_ascii_digit() => u64::from(digit - b'0'),
        _ => digits(day, 2)?,
    };
    let rest = rest.strip_prefix(' ')?;
    let (time, year) = rest.split_once(' ')?;
    let (hour, minute, second) = parse_time_of_day(time)?;
    let year = digits(year, 4)?;
    Some(CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let cases: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (4_133_980_799, "Fri, 31 Dec 2100 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for (unix_s, expected) in cases {
            assert_eq!(format_http_date(*unix_s), *expected, "{unix_s}");
        }
    }

    #[test]
    fn parses_the_three_formats() {
        let cases: &[(&str, Option<u64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Sun Nov 16 08:49:37 1994", Some(784_111_777 + 10 * 86_400)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Tue, 29 Feb 2000 00:00:00 GMT", Some(951_782_400)),
            ("Wed, 31 Dec 1969 23:59:59 GMT", None),
            ("Tue, 29 Feb 2001 00:00:00 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 6 Nov 1994 08:49:37 GMT", None),
            ("sun, 06 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT ", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
            ("Sun Nov 6 08:49:37 1994", None),
            ("", None),
            ("\u{ff}\u{ff}", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_http_date(text.as_bytes(), None),
                *expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn two_digit_years_follow_the_fifty_year_rule() {
        // Now: 2023-11-14. "69" is not more than 50 years ahead of 2023 → 2069 (> 2073? no).
        let now = Some(1_700_000_000);
        let year_of = |text: &str| {
            parse_http_date(text.as_bytes(), now).map(|unix_s| civil_from_days(unix_s / 86_400).0)
        };
        assert_eq!(year_of("Monday, 01-Jan-73 00:00:00 GMT"), Some(2073));
        assert_eq!(year_of("Monday, 01-Jan-74 00:00:00 GMT"), Some(1974));
        assert_eq!(year_of("Monday, 01-Jan-99 00:00:00 GMT"), Some(1999));
        assert_eq!(year_of("Monday, 01-Jan-23 00:00:00 GMT"), Some(2023));
        // Now: 1994-11-06. "23" is 29 years ahead → 2023; "45" is 51 years ahead → 1945.
        let now = Some(784_111_777);
        let year_of = |text: &str| {
            parse_http_date(text.as_bytes(), now).map(|unix_s| civil_from_days(unix_s / 86_400).0)
        };
        assert_eq!(year_of("Monday, 01-Jan-23 00:00:00 GMT"), Some(2023));
        assert_eq!(year_of("Monday, 01-Jan-44 00:00:00 GMT"), Some(2044));
        // 1945 lies before the Unix epoch, which no file time can precede: invalid.
        assert_eq!(year_of("Monday, 01-Jan-45 00:00:00 GMT"), None);
        assert_eq!(year_of("Monday, 01-Jan-94 00:00:00 GMT"), Some(1994));
    }

    #[test]
    fn round_trips_over_many_days() {
        let mut unix_s = 0u64;
        while unix_s < 5_000_000_000 {
            let text = format_http_date(unix_s);
            assert_eq!(
                parse_http_date(text.as_bytes(), None),
                Some(unix_s),
                "{text}"
            );
            unix_s += 86_400 * 17 + 3_607;
        }
    }
}
