//! Build script: packs the site (`disk/`, or the directory named by `SITE`) into
//! `$OUT_DIR/site.tar`, which the kernel embeds with `include_bytes!`.

use std::path::PathBuf;

fn main() {
    pack_site();
    link_kernel();
}

/// Tells the linker where the kernel is loaded on the chosen board (linker.ld reads
/// `BOARD_LOAD_ADDRESS`): RAM base + the Image header's text_offset of 0x80000. QEMU virt's RAM
/// starts at 0x4000_0000; the Raspberry Pi 4's at 0 (docs/bcm2711.md §1.4–§1.6).
fn link_kernel() {
    println!("cargo::rerun-if-changed=linker.ld");
    let load_address = if std::env::var_os("CARGO_FEATURE_BOARD_RPI4").is_some() {
        "0x80000"
    } else {
        "0x40080000"
    };
    println!("cargo::rustc-link-arg-bins=--defsym=BOARD_LOAD_ADDRESS={load_address}");
}

/// Packs the site directory into `$OUT_DIR/site.tar` (format: see the `sitepack` crate) and tells
/// Cargo to rerun when `SITE`, `SOURCE_DATE_EPOCH`, `SITE_GZIP`, the directory or anything in it
/// changes. Fails the build with a message naming the offending file.
fn pack_site() {
    println!("cargo::rerun-if-env-changed=SITE");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo::rerun-if-env-changed=SITE_GZIP");
    println!("cargo::rerun-if-env-changed=SITE_HIDDEN");

    let manifest_directory =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // `SITE` may be absolute or relative to the package root; `join` keeps an absolute one as is.
    let site_root = match std::env::var_os("SITE") {
        Some(site) if !site.is_empty() => manifest_directory.join(site),
        _ => manifest_directory.join("disk"),
    };
    println!("cargo::rerun-if-changed={}", site_root.display());

    let options = match sitepack::PackOptions::from_environment(|name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(error) => fail(&error.to_string()),
    };
    let packed = match sitepack::pack_directory(&site_root, &options) {
        Ok(packed) => packed,
        Err(error) => fail(&format!(
            "packing the site {}: {error}",
            site_root.display()
        )),
    };
    // A hidden file is never published by accident: say what was left out, on every build.
    if !packed.left_out.is_empty() {
        let listed: Vec<String> = packed
            .left_out
            .iter()
            .map(
                |entry| match (entry.path.ends_with('/'), entry.file_count) {
                    (false, _) => entry.path.clone(),
                    (true, 1) => format!("{} (1 file)", entry.path),
                    (true, count) => format!("{} ({count} files)", entry.path),
                },
            )
            .collect();
        println!(
            "cargo::warning=site: left out {} hidden paths (SITE_HIDDEN=include packs them): {}",
            packed.left_out.len(),
            listed.join(", ")
        );
    }
    for path in &packed.watched_paths {
        println!("cargo::rerun-if-changed={}", path.display());
    }
    let Some(out_directory) = std::env::var_os("OUT_DIR") else {
        fail("OUT_DIR is not set");
    };
    let archive_path = PathBuf::from(out_directory).join("site.tar");
    if let Err(error) = std::fs::write(&archive_path, &packed.archive) {
        fail(&format!("writing {}: {error}", archive_path.display()));
    }
}

/// Stops the build with `message` (Cargo shows a build script's stderr when it fails).
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
