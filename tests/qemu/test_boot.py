"""Booting on QEMU `virt`: banner, RAM size from the device tree, GIC version, the ready line,
and how long a boot takes (guest time to `listening`, host time to the first HTTP 200)."""

from __future__ import annotations

import re

from framework import GroupRun, group
from harness import (
    BANNER_PATTERN,
    LISTENING_PATTERN,
    SERVING_PATTERN,
    TestFailure,
    VirtOptions,
    assert_no_fault,
    boot_virt,
    median,
    wait_for_http_ok,
)

BOOT_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 30


def check_banner(match: re.Match, ram_mib: int) -> str:
    """The banner names QEMU virt and the RAM QEMU was given."""
    if match["board"] != "QEMU virt":
        raise TestFailure(f"banner names board {match['board']!r}, expected 'QEMU virt'")
    if int(match["ram_mib"]) != ram_mib:
        raise TestFailure(f"banner says {match['ram_mib']} MiB RAM, QEMU has -m {ram_mib}M: {match[0]!r}")
    if int(match["heap_kib"]) <= 0 or int(match["timer_hz"]) <= 0:
        raise TestFailure(f"banner has a zero heap or timer frequency: {match[0]!r}")
    return f"{match['ram_mib']} MiB RAM, {match['heap_kib']} KiB heap, timer {match['timer_hz']} Hz"


def boot_and_measure(run: GroupRun, name: str, options: VirtOptions, ram_mib: int,
                     gic_line: str) -> tuple[str, int, float]:
    """Boots, checks banner/GIC/listening/HTTP 200; returns (banner summary, guest µs to
    `listening`, host seconds from QEMU start to the first 200)."""
    with boot_virt(options, run.context.log_path(name)) as machine:
        banner = machine.wait_for(BANNER_PATTERN, BOOT_TIMEOUT_S)
        summary = check_banner(banner, ram_mib)
        machine.wait_for(re.escape(gic_line), BOOT_TIMEOUT_S)
        machine.wait_for(r"site: \d+ files, \d+ bytes", BOOT_TIMEOUT_S)
        listening = machine.wait_for(LISTENING_PATTERN, BOOT_TIMEOUT_S)
        host_s = wait_for_http_ok(machine, HTTP_TIMEOUT_S)
        assert_no_fault(machine)
        serving = SERVING_PATTERN.search(machine.text)
        summary += (f"; host clock: banner at {machine.seconds_until(banner.start()):.2f} s, "
                    f"listening at {machine.seconds_until(listening.start()):.2f} s"
                    + (f", address at {machine.seconds_until(serving.start()):.2f} s" if serving else ""))
        return summary, int(listening["ready_us"]), host_s


@group("boot_gicv2", checks=("banner_128m", "ram_256m", "boot_time"), images=("virt",),
       slow_checks=())
def boot_gicv2(run: GroupRun) -> None:
    """GICv2, virtio-mmio: the default machine."""
    image = run.context.image("virt")
    ready_us: list[int] = []
    host_s: list[float] = []

    def banner_128m() -> str:
        summary, guest_us, host_seconds = boot_and_measure(
            run, "boot_gicv2-128m", VirtOptions(image=image, memory="128M"), 128, "GICv2 at 0x8000000"
        )
        ready_us.append(guest_us)
        host_s.append(host_seconds)
        return f"{summary}; ready {guest_us} us after reset, first 200 after {host_seconds:.2f} s"

    def ram_256m() -> str:
        summary, _, _ = boot_and_measure(
            run, "boot_gicv2-256m", VirtOptions(image=image, memory="256M"), 256, "GICv2 at 0x8000000"
        )
        return summary

    def boot_time() -> str:
        # Five boots for the closing note locally; three in CI keep the tier short.
        boots = 3 if run.context.ci else 5
        for index in range(len(ready_us), boots):
            _, guest_us, host_seconds = boot_and_measure(
                run, f"boot_gicv2-timing-{index}", VirtOptions(image=image), 128, "GICv2 at 0x8000000"
            )
            ready_us.append(guest_us)
            host_s.append(host_seconds)
        return (
            f"median of {len(ready_us)} boots: guest ready {median(ready_us) / 1000:.1f} ms after reset; "
            f"host QEMU start → first HTTP 200 {median(host_s) * 1000:.0f} ms "
            f"(min {min(host_s) * 1000:.0f}, max {max(host_s) * 1000:.0f})"
        )

    run.check("banner_128m", banner_128m)
    run.check("ram_256m", ram_256m)
    run.check("boot_time", boot_time)


@group("boot_gicv3", checks=("banner",), images=("virt",))
def boot_gicv3(run: GroupRun) -> None:
    """GICv3 (`-M virt,gic-version=3`): the same kernel finds the other GIC in the device tree."""
    image = run.context.image("virt")

    def banner() -> str:
        summary, guest_us, host_seconds = boot_and_measure(
            run, "boot_gicv3", VirtOptions(image=image, gic_version=3), 128, "GICv3"
        )
        return f"GICv3; {summary}; ready {guest_us} us, first 200 after {host_seconds:.2f} s"

    run.check("banner", banner)
