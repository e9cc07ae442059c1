//! Build tasks that Cargo alone cannot express: the raw kernel Image (an ELF turned into the
//! flat binary loaders expect) for either board.
//!
//! `cargo kernel [--board virt|rpi4] [--debug]` builds `target/kernel-virt.img` or
//! `target/kernel8.img` (the Raspberry Pi firmware's file name) and prints its path and size.
//! `cargo xtask sdcard` builds `kernel8.img` and then `target/rpi4-sdcard.img` around it
//! (`tools/sdcard/build.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("kernel") => build_kernel(&arguments[1..]),
        Some("sdcard") => build_sdcard(&arguments[1..]),
        _ => Err(
            "usage: cargo xtask kernel [--board virt|rpi4] [--debug] | cargo xtask sdcard"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Which board to build for.
#[derive(Clone, Copy)]
enum Board {
    QemuVirt,
    RaspberryPi4,
}

fn build_kernel(arguments: &[String]) -> Result<(), String> {
    let mut board = Board::QemuVirt;
    let mut release = true;
    let mut words = arguments.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--board" => {
                board = match words.next().map(String::as_str) {
                    Some("virt") | Some("qemu-virt") => Board::QemuVirt,
                    Some("rpi4") => Board::RaspberryPi4,
                    other => return Err(format!("unknown board {other:?} (virt or rpi4)")),
                }
            }
            "--debug" => release = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = Command::new(&cargo);
    build.current_dir(&root).args([
        "build",
        "--target",
        "aarch64-unknown-none",
        "--bin",
        "kernel",
    ]);
    if release {
        build.arg("--release");
    }
    match board {
        Board::QemuVirt => build.args(["--features", "kernel"]),
        Board::RaspberryPi4 => {
            build.args(["--no-default-features", "--features", "kernel,board-rpi4"])
        }
    };
    let status = build
        .status()
        .map_err(|error| format!("running cargo: {error}"))?;
    if !status.success() {
        return Err("the kernel build failed".to_string());
    }
    let target_directory =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let profile = if release { "release" } else { "debug" };
    let elf = target_directory
        .join("aarch64-unknown-none")
        .join(profile)
        .join("kernel");
    let image = target_directory.join(match board {
        Board::QemuVirt => "kernel-virt.img",
        Board::RaspberryPi4 => "kernel8.img",
    });
    objcopy(&elf, &image)?;
    let size = std::fs::metadata(&image)
        .map_err(|error| format!("{}: {error}", image.display()))?
        .len();
    println!("{} ({} bytes)", image.display(), size);
    Ok(())
}

/// Builds the Pi kernel, then the SD-card image around it.
fn build_sdcard(arguments: &[String]) -> Result<(), String> {
    if let Some(argument) = arguments.first() {
        return Err(format!(
            "unknown argument {argument:?} (sdcard takes none; BOOTARGS sets cmdline.txt)"
        ));
    }
    build_kernel(&["--board".to_string(), "rpi4".to_string()])?;
    let root = workspace_root();
    let target_directory =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let status = Command::new("bash")
        .arg(root.join("tools/sdcard/build.sh"))
        .arg(target_directory.join("kernel8.img"))
        .arg(target_directory.join("rpi4-sdcard.img"))
        .status()
        .map_err(|error| format!("running tools/sdcard/build.sh: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("building the SD-card image failed".to_string())
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// ELF → flat binary with the toolchain's `llvm-objcopy` (the `llvm-tools` component, which
/// rust-toolchain.toml lists) or the `rust-objcopy` that rustc ships.
fn objcopy(elf: &Path, image: &Path) -> Result<(), String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| format!("running rustc: {error}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let host = Command::new("rustc")
        .args(["-vV"])
        .output()
        .map_err(|error| format!("running rustc: {error}"))?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
        .ok_or("rustc -vV printed no host")?;
    let tool = sysroot
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objcopy");
    if !tool.exists() {
        return Err(format!(
            "{} is missing: run `rustup component add llvm-tools`",
            tool.display()
        ));
    }
    let status = Command::new(&tool)
        .args(["-O", "binary"])
        .arg(elf)
        .arg(image)
        .status()
        .map_err(|error| format!("running {}: {error}", tool.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err("llvm-objcopy failed".to_string())
    }
}
