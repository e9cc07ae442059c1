#!/usr/bin/env python3
"""The QEMU end-to-end tests (test tier 3): builds the kernel images once, boots them in QEMU and
checks them from the outside — console lines, HTTP through user-mode networking, QEMU's exit.

    python3 tests/qemu/run.py [--quick] [--only NAME]... [--no-build] [--list]

Prints one line per check (`PASS name (details)`, `FAIL name: reason`, `SKIP name: reason`) and
ends with `N passed, M failed` (plus `, K skipped`). Exits 1 if any check failed, 2 on a usage
error. Console logs of every QEMU run are kept in `$CARGO_TARGET_DIR/e2e/logs/` (default
`target/e2e/logs/`). Python 3.11 standard library only.

Images: `cargo kernel` (→ target/kernel-virt.img), `cargo kernel --board rpi4` (→ kernel8.img),
and the generated test site (tests/qemu/testsite.py) packed with `SITE=` into a separate target
directory, `CARGO_TARGET_DIR=target/e2e`, so the normal image is left alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# No __pycache__ next to the sources: the suite runs once per invocation anyway.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import framework  # noqa: E402
import harness  # noqa: E402
import test_attack  # noqa: E402,F401  (registers its groups)
import test_boot  # noqa: E402,F401
import test_clients  # noqa: E402,F401
import test_console  # noqa: E402,F401
import test_faults  # noqa: E402,F401
import test_genet  # noqa: E402,F401
import test_http  # noqa: E402,F401
import test_rpi4  # noqa: E402,F401
import test_timer  # noqa: E402,F401
import testsite  # noqa: E402

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# A first kernel build on a fresh machine compiles every dependency; allow for a slow one.
BUILD_TIMEOUT_S = 30 * 60
# The order the groups run in: cheap boots first, then HTTP, then the other board.
GROUP_ORDER = ("boot_gicv2", "boot_gicv3", "fault", "panic_reset", "timer", "console",
               "http_mmio", "http_pci", "clients", "clients_tap", "attack", "rpi4")


def target_directory() -> Path:
    """Cargo's target directory: $CARGO_TARGET_DIR (relative to the repository) or target/."""
    configured = os.environ.get("CARGO_TARGET_DIR")
    return REPOSITORY_ROOT / configured if configured else REPOSITORY_ROOT / "target"


def build_image(name: str, arguments: list[str], environment: dict[str, str], image: Path,
                log_path: Path, results: framework.Results) -> Path | str:
    """Runs one `cargo kernel` build; returns the image path or the failure reason (also
    reported as `build.<name>`)."""
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(arguments) + "\n").encode())
        log.flush()
        try:
            completed = subprocess.run(arguments, cwd=REPOSITORY_ROOT, env=environment, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False)
            code = completed.returncode
        except subprocess.TimeoutExpired:
            code = None
        except OSError as error:
            reason = f"cannot run {arguments[0]}: {error}"
            results.record(f"build.{name}", "FAIL", reason)
            return reason
    seconds = time.monotonic() - started
    if code == 0 and image.is_file():
        results.record(f"build.{name}", "PASS", f"{image.relative_to(REPOSITORY_ROOT) if image.is_relative_to(REPOSITORY_ROOT) else image}, "
                       f"{image.stat().st_size} bytes", seconds)
        return image
    tail = log_path.read_text(errors="replace").rstrip().split("\n")[-20:]
    if code is None:
        reason = f"`{' '.join(arguments)}` took over {BUILD_TIMEOUT_S // 60} minutes"
    elif code == 0:
        reason = f"`{' '.join(arguments)}` succeeded but {image} is missing"
    else:
        reason = f"`{' '.join(arguments)}` exited with {code}"
    reason += f" (log {log_path}):\n" + "\n".join("      | " + line for line in tail)
    results.record(f"build.{name}", "FAIL", reason, seconds)
    return reason


def build_images(needed: set[str], target: Path, log_directory: Path,
                 results: framework.Results) -> tuple[dict[str, Path], dict[str, str]]:
    """Builds the images the selected groups boot: "virt", "rpi4", "e2e"."""
    images: dict[str, Path] = {}
    errors: dict[str, str] = {}
    cargo = shutil.which("cargo")
    if cargo is None:
        for name in sorted(needed):
            errors[name] = "cargo is not on PATH"
            results.record(f"build.{name}", "FAIL", errors[name])
        return images, errors
    # The normal images pack disk/, whatever SITE the caller's shell has.
    environment = {key: value for key, value in os.environ.items() if key != "SITE"}
    plans = []
    if "virt" in needed:
        plans.append(("virt", [cargo, "kernel", "--board", "virt"], environment, target / "kernel-virt.img"))
    if "rpi4" in needed:
        plans.append(("rpi4", [cargo, "kernel", "--board", "rpi4"], environment, target / "kernel8.img"))
    if "e2e" in needed:
        e2e_target = target / "e2e"
        site_directory = e2e_target / "site"
        testsite.write_site(site_directory)
        e2e_environment = dict(environment, CARGO_TARGET_DIR=str(e2e_target), SITE=str(site_directory))
        plans.append(("e2e", [cargo, "kernel", "--board", "virt"], e2e_environment, e2e_target / "kernel-virt.img"))
    for name, arguments, build_environment, image in plans:
        outcome = build_image(name, arguments, build_environment, image, log_directory / f"build-{name}.log", results)
        if isinstance(outcome, Path):
            images[name] = outcome
        else:
            errors[name] = f"build failed ({log_directory / f'build-{name}.log'})"
    return images, errors


def existing_images(needed: set[str], target: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """`--no-build`: the images already on disk."""
    paths = {"virt": target / "kernel-virt.img", "rpi4": target / "kernel8.img",
             "e2e": target / "e2e" / "kernel-virt.img"}
    images, errors = {}, {}
    for name in needed:
        if paths[name].is_file():
            images[name] = paths[name]
        else:
            errors[name] = f"--no-build, and {paths[name]} does not exist"
    return images, errors


def stop_on_terminate(signal_number: int, _frame) -> None:
    """SIGTERM (a CI time limit, `kill`) becomes an exception, so that every `finally` runs and
    kills the QEMU it started instead of leaving it behind in its own process group."""
    raise SystemExit(128 + signal_number)


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="leave out the slow parts: the 10 MiB file, PCI, raspi4b")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this group or check (group or group.check; repeatable)")
    parser.add_argument("--no-build", action="store_true", help="boot the images already built")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    options = parser.parse_args()

    groups = sorted(framework.REGISTRY, key=lambda definition: (
        GROUP_ORDER.index(definition.name) if definition.name in GROUP_ORDER else len(GROUP_ORDER)))
    all_names = [f"{definition.name}.{check}" for definition in groups for check in definition.checks]
    if options.list:
        for definition in groups:
            for check in definition.checks:
                slow = definition.slow or check in definition.slow_checks
                print(f"{definition.name}.{check}" + ("  (slow: not with --quick)" if slow else ""))
        return 0
    group_names = {definition.name for definition in groups}
    for name in options.only:
        if name not in group_names and name not in all_names:
            print(f"run.py: --only {name!r} names no group or check; --list shows them", file=sys.stderr)
            return 2

    def selected(full_name: str) -> bool:
        group_name, check = full_name.split(".", 1)
        if full_name in options.only:
            return True  # named explicitly: runs even with --quick
        if options.only and group_name not in options.only:
            return False
        definition = next(entry for entry in groups if entry.name == group_name)
        return not (options.quick and (definition.slow or check in definition.slow_checks))

    chosen = [definition for definition in groups
              if any(selected(f"{definition.name}.{check}") for check in definition.checks)]
    results = framework.Results()
    started = time.monotonic()
    target = target_directory()
    log_directory = target / "e2e" / "logs"
    if log_directory.exists():
        shutil.rmtree(log_directory)
    log_directory.mkdir(parents=True)
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    print(f"# QEMU end-to-end tests: {len(chosen)} groups{' (quick)' if options.quick else ''}{' (CI)' if ci else ''}; "
          f"logs in {log_directory}", flush=True)

    if not harness.qemu_available():
        for definition in chosen:
            for check in definition.checks:
                if selected(f"{definition.name}.{check}"):
                    results.record(f"{definition.name}.{check}", "FAIL",
                                   f"{harness.QEMU_BINARY} is not on PATH (tools/install-tools.sh qemu-system-aarch64 installs it)")
        print(results.summary())
        return 1
    version = subprocess.run([harness.QEMU_BINARY, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout.split("\n")[0]
    print(f"# {version}", flush=True)

    needed = {image for definition in chosen for image in definition.images}
    if options.no_build:
        images, image_errors = existing_images(needed, target)
    else:
        images, image_errors = build_images(needed, target, log_directory, results)
    context = framework.Context(REPOSITORY_ROOT, target, log_directory, images, image_errors,
                                quick=options.quick, ci=ci)
    for definition in chosen:
        framework.run_group(definition, context, results, selected)

    print(f"# took {time.monotonic() - started:.0f} s", flush=True)
    if results.failures:
        print("# failed: " + ", ".join(results.failures), flush=True)
    print(results.summary(), flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
