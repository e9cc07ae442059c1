"""The Raspberry Pi 4 build on stock QEMU `raspi4b` (QEMU ≥ 9), which has no Ethernet model:
banner, RAM from the device tree, timer interrupts, the no-network report, no fault."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from framework import Context, GroupRun, group
from harness import (
    BANNER_PATTERN,
    QEMU_BINARY,
    TestFailure,
    TestSkipped,
    assert_no_fault,
    booted,
    qemu_machines,
    rpi4_command,
)
from test_timer import check_ticks

# The unchanged Debian device tree (tests/fixtures/README.md): the same file
# tools/sdcard/build.sh puts on the SD card, committed, so this tier needs no download.
FIXTURE_DTB = Path("tests/fixtures/rpi4b-debian-6.1.0-50.dtb")
BOOT_TIMEOUT_S = 60
NO_NETWORK_PATTERN = r"GENET[^\n]*(?:no network|absent)[^\n]*\n"


def find_dtb(context: Context) -> tuple[Path, str]:
    """The Pi 4 device tree: $DTB (as run-qemu.sh), the committed fixture, or what
    tools/sdcard/build.sh --print-dtb-path names (which may download it)."""
    override = os.environ.get("DTB")
    if override:
        return Path(override), "$DTB"
    fixture = context.repository_root / FIXTURE_DTB
    if fixture.is_file():
        return fixture, str(FIXTURE_DTB)
    script = context.repository_root / "tools/sdcard/build.sh"
    if script.is_file() and "--print-dtb-path" in script.read_text():
        try:
            result = subprocess.run([str(script), "--print-dtb-path"], cwd=context.repository_root,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=600, check=False)
        except subprocess.TimeoutExpired:
            raise TestSkipped("tools/sdcard/build.sh --print-dtb-path took over 10 minutes") from None
        path = Path(result.stdout.strip().split("\n")[-1]) if result.stdout.strip() else None
        if result.returncode == 0 and path is not None and path.is_file():
            return path, "tools/sdcard/build.sh --print-dtb-path"
        raise TestSkipped(f"no Pi 4 device tree: tools/sdcard/build.sh --print-dtb-path failed "
                          f"({result.stderr.strip()[-200:]})")
    raise TestSkipped(f"no Pi 4 device tree ({FIXTURE_DTB} missing, set DTB=...)")


@group("rpi4", checks=("banner", "timer_ticks", "no_network", "no_fault"), images=("rpi4",), slow=True)
def rpi4(run: GroupRun) -> None:
    """One boot of kernel8.img with `test=timer` on `-M raspi4b`."""
    if "raspi4b" not in qemu_machines():
        raise TestSkipped(f"{QEMU_BINARY} has no raspi4b machine (needs QEMU >= 9)")
    image = run.context.image("rpi4")
    dtb, dtb_source = find_dtb(run.context)
    command = rpi4_command(image, dtb, bootargs="test=timer")
    with booted(command, 0, run.context.log_path("rpi4")) as machine:

        def banner() -> str:
            match = machine.wait_for(BANNER_PATTERN, BOOT_TIMEOUT_S)
            if not match["board"].startswith("Raspberry Pi 4"):
                raise TestFailure(f"banner names board {match['board']!r}, expected Raspberry Pi 4")
            ram_mib = int(match["ram_mib"])
            if not 0 < ram_mib <= 4096:
                raise TestFailure(f"banner says {ram_mib} MiB RAM; expected 1–4096 MiB from the DTB memory node")
            return (f"{match['board']}: {ram_mib} MiB RAM (as QEMU filled the DTB from {dtb_source}), "
                    f"{match['heap_kib']} KiB heap, timer {match['timer_hz']} Hz")

        def no_network() -> str:
            return machine.wait_for(NO_NETWORK_PATTERN, BOOT_TIMEOUT_S)[0].strip()

        def no_fault() -> str:
            machine.wait_for(NO_NETWORK_PATTERN, BOOT_TIMEOUT_S)
            # The kernel goes on to wait for console input; give a late fault a moment to show.
            time.sleep(1.0)
            assert_no_fault(machine)
            if machine.exit_code() is not None:
                raise TestFailure(f"QEMU exited ({machine.exit_code()}){machine.describe_tail()}")
            return "no exception or panic; still running after the no-network report"

        run.check("banner", banner)
        run.check("timer_ticks", lambda: check_ticks(machine, BOOT_TIMEOUT_S))
        run.check("no_network", no_network)
        run.check("no_fault", no_fault)
