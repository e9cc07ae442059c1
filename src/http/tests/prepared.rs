//! The prepared heads (`crate::http::prepared`) against the heads built field by field: the same
//! response for every file, variant, method and connection form, with and without a clock and a
//! `Cache-Control` setting; and a table is only used with the site it was made for.

use super::*;
use crate::http::PreparedHeads;
use alloc::format;
use alloc::string::ToString;

fn leaked(text: String) -> &'static [u8] {
    text.into_bytes().leak()
}

/// Every request form whose answer may come from a prepared head, and some that must not
/// (ranges, validators, errors), for each path of the site.
fn requests_for(paths: &[String]) -> Vec<&'static [u8]> {
    let mut requests = Vec::new();
    for path in paths {
        for method in ["GET", "HEAD"] {
            for (version, extra) in [
                ("HTTP/1.1", ""),
                ("HTTP/1.1", "Connection: close\r\n"),
                ("HTTP/1.0", ""),
                ("HTTP/1.0", "Connection: keep-alive\r\n"),
                ("HTTP/1.1", "Accept-Encoding: gzip, br\r\n"),
                ("HTTP/1.1", "Accept-Encoding: gzip;q=0\r\n"),
                ("HTTP/1.1", "Range: bytes=1-3\r\n"),
                ("HTTP/1.1", "Range: bytes=0-0,2-2\r\n"),
                ("HTTP/1.1", "Range: bytes=900-\r\n"),
                ("HTTP/1.1", "If-None-Match: \"css\", \"home\"\r\n"),
                (
                    "HTTP/1.1",
                    "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n",
                ),
                ("HTTP/1.1", "If-Match: \"nothing\"\r\n"),
            ] {
                requests.push(leaked(format!(
                    "{method} {path} {version}\r\nHost: example.test\r\n{extra}\r\n"
                )));
            }
        }
    }
    requests
}

fn paths_of(site: &Site) -> Vec<String> {
    let mut paths: Vec<String> = site
        .files()
        .map(|entry| format!("/{}", entry.path.replace(' ', "%20")))
        .collect();
    paths.extend(["/", "/docs/", "/docs", "/missing.txt", "/nested/"].map(ToString::to_string));
    paths
}

#[test]
fn prepared_heads_give_the_same_responses_as_heads_built_field_by_field() {
    let site = test_site();
    let mut with_cache_control = settings();
    with_cache_control.cache_control = Some(String::from("public, max-age=60"));
    for settings in [settings(), with_cache_control] {
        let prepared = PreparedHeads::new(&site, &settings);
        let mut prepared_count = 0usize;
        for raw in requests_for(&paths_of(&site)) {
            let request = request_of(raw);
            for now in [NOW, None, Some(NOW.unwrap_or(0) + 86_400)] {
                let built = respond(&request, &site, now, &settings);
                let from_table = respond_prepared(&request, &site, now, &settings, Some(&prepared));
                assert_eq!(
                    head_text(&from_table),
                    head_text(&built),
                    "{}",
                    String::from_utf8_lossy(raw)
                );
                assert_eq!(from_table, built, "{}", String::from_utf8_lossy(raw));
                prepared_count += usize::from(built.status == 200);
            }
        }
        // The comparison covered the prepared path, not only the field-by-field one.
        assert!(prepared_count > 100, "{prepared_count}");
    }
}

#[test]
fn a_table_made_for_another_site_is_not_used() {
    let site = test_site();
    let other = site_with_error_pages();
    let prepared = PreparedHeads::new(&other, &settings());
    assert!(!prepared.fits(&site));
    for raw in requests_for(&paths_of(&site)) {
        let request = request_of(raw);
        assert_eq!(
            respond_prepared(&request, &site, NOW, &settings(), Some(&prepared)),
            respond(&request, &site, NOW, &settings()),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn the_date_is_formatted_again_when_the_second_changes() {
    let prepared = PreparedHeads::new(&test_site(), &settings());
    let now = NOW.unwrap_or(0);
    assert_eq!(prepared.date(now).as_str(), NOW_TEXT);
    assert_eq!(prepared.date(now).as_str(), NOW_TEXT);
    assert_eq!(
        prepared.date(now + 1).as_str(),
        "Sun, 06 Nov 1994 08:49:38 GMT"
    );
    assert_eq!(prepared.date(now).as_str(), NOW_TEXT);
}
