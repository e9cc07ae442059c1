//! The archive `sitepack` packs from a directory reads back through `Site::from_archive` with
//! identical bytes, modification times and ETags; and the demo site in `disk/` packs and indexes.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bareserve::site::{DirectoryEntry, Site};

/// A fresh, empty directory unique to this test process and `name`, removed on drop.
struct TempDirectory(PathBuf);

impl TempDirectory {
    fn new(name: &str) -> TempDirectory {
        let path = std::env::temp_dir().join(format!(
            "bareserve-site-archive-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDirectory(path)
    }

    fn write(&self, relative: &str, content: &[u8], modified_unix_s: u64) {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(modified_unix_s))
            .unwrap();
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn pack(root: &Path, options: &sitepack::PackOptions) -> (sitepack::PackedSite, Site) {
    let packed = sitepack::pack_directory(root, options).unwrap();
    let archive: &'static [u8] = packed.archive.clone().leak();
    let site = Site::from_archive(archive).unwrap();
    (packed, site)
}

#[test]
fn packed_directory_reads_back_identically() {
    let directory = TempDirectory::new("round-trip");
    let long_path = format!(
        "{}/{}.html",
        "deep/".repeat(40).trim_end_matches('/'),
        "x".repeat(80)
    );
    let files: Vec<(String, Vec<u8>, u64)> = vec![
        (
            "index.html".into(),
            b"<!doctype html><h1>home</h1>".repeat(20),
            1_700_000_000,
        ),
        ("empty.txt".into(), Vec::new(), 1_600_000_000),
        (
            "img/logo.png".into(),
            (0..=255u8).cycle().take(3000).collect(),
            1_500_000_000,
        ),
        (
            "über/файл.html".into(),
            "ünïcødé".as_bytes().to_vec(),
            1_400_000_000,
        ),
        (long_path.clone(), b"long".to_vec(), 1_300_000_000),
        (
            ".well-known/security.txt".into(),
            b"Contact: x".to_vec(),
            1_200_000_000,
        ),
    ];
    for (path, content, modified_unix_s) in &files {
        directory.write(path, content, *modified_unix_s);
    }
    let options = sitepack::PackOptions {
        source_date_epoch_s: Some(1_650_000_000),
        gzip_siblings: true,
        ..sitepack::PackOptions::default()
    };
    let (packed, site) = pack(&directory.0, &options);

    assert_eq!(site.file_count(), packed.files.len());
    for (path, content, modified_unix_s) in &files {
        let entry = site.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(entry.body, content.as_slice(), "{path}");
        assert_eq!(
            entry.modified_unix_s,
            (*modified_unix_s).min(1_650_000_000),
            "{path}"
        );
        assert_eq!(entry.etag, sitepack::etag_for_content(content), "{path}");
    }
    for packed_file in &packed.files {
        let entry = site.get(&packed_file.path).unwrap();
        assert_eq!(entry.etag, packed_file.etag);
        assert_eq!(entry.body.len() as u64, packed_file.size_bytes);
        assert_eq!(entry.modified_unix_s, packed_file.modified_unix_s);
    }
    // The repetitive page got a gzip sibling (RFC 1952 magic), the tiny and binary files did not.
    let sibling = site.get("index.html.gz").unwrap();
    assert_eq!(&sibling.body[..2], &[0x1f, 0x8b]);
    assert!(sibling.body.len() < 560);
    assert!(site.get("empty.txt.gz").is_none());
    assert!(site.get("img/logo.png.gz").is_none());
    let total: u64 = packed.files.iter().map(|file| file.size_bytes).sum();
    assert_eq!(site.total_bytes(), total);
    assert!(site.is_directory("deep/deep"));
    assert!(site.is_directory(".well-known"));
}

#[test]
fn demo_site_packs_and_has_the_pages_the_server_needs() {
    let disk = Path::new(env!("CARGO_MANIFEST_DIR")).join("disk");
    let (packed, site) = pack(&disk, &sitepack::PackOptions::default());
    for required in ["index.html", "404.html", "style.css", "docs/index.html"] {
        let entry = site
            .get(required)
            .unwrap_or_else(|| panic!("disk/{required} missing"));
        assert!(!entry.body.is_empty(), "{required}");
    }
    // Every page the index links to exists.
    let index = std::str::from_utf8(site.get("index.html").unwrap().body).unwrap();
    for link in index
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        // `/no-such-page` is there on purpose, to show the 404 page.
        if link.starts_with("http") || link.starts_with('#') || link == "/no-such-page" {
            continue;
        }
        let path = link.trim_start_matches('/');
        let found = site.get(path).is_some()
            || site.get(&format!("{}index.html", path)).is_some()
            || site.is_directory(path.trim_end_matches('/'));
        assert!(found, "index.html links to {link}, which is not in disk/");
    }
    let top: Vec<&str> = site
        .directory_entries("")
        .into_iter()
        .filter(|child| matches!(child, DirectoryEntry::Directory { .. }))
        .map(|child| child.name())
        .collect();
    assert!(top.contains(&"docs"));
    // Keep the demo small: the kernel image carries it.
    assert!(
        packed.archive.len() < 256 * 1024,
        "{} bytes",
        packed.archive.len()
    );
}
