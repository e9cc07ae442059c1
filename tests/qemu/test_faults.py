"""The failure paths: a data abort decoded on the console, a panic, and what the machine does
afterwards (PSCI SYSTEM_OFF with `panic=halt`, PSCI SYSTEM_RESET otherwise)."""

from __future__ import annotations

import re
import time

from framework import GroupRun, group
from harness import BANNER_PATTERN, PANIC_PATTERN, TestFailure, VirtOptions, boot_virt

# The kernel must report and halt well within this (QEMU exits on PSCI SYSTEM_OFF).
EXIT_TIMEOUT_S = 20
# Lines of the decoded report for `test=fault` (a read of 0xffff_ffff_0000, outside the identity
# map): Arm ARM D17.2.40 — EC 0x25 is a data abort taken without a change of exception level.
FAULT_REPORT_LINES = (
    ("exception header", r"\*\*\* EXCEPTION: Synchronous from current EL with SP_ELx"),
    ("ESR_EL1 class 0x25", r"ESR_EL1 0x[0-9a-f]+: class 0x25 \(data abort without change of EL\)"),
    ("FAR_EL1", r"FAR_EL1 0x0000ffffffff0000"),
    ("ELR_EL1", r"ELR_EL1 0x[0-9a-f]{16}"),
    ("register dump x0/x1", r"x0 +0x[0-9a-f]{16} +x1 +0x[0-9a-f]{16}"),
    ("register dump x30", r"x30 +0x[0-9a-f]{16}"),
    ("panic line", r"\*\*\* KERNEL PANIC at "),
    ("halting", r"\*\*\* halting \(panic=halt\)"),
)


def assert_lines(text: str, expected: tuple[tuple[str, str], ...]) -> None:
    """Every pattern matches a line of `text`, in order."""
    position = 0
    for description, pattern in expected:
        match = re.compile(pattern, re.MULTILINE).search(text, position)
        if match is None:
            raise TestFailure(f"{description} (/{pattern}/) missing after offset {position}")
        position = match.end()


@group("fault", checks=("report", "halts"), images=("virt",))
def fault(run: GroupRun) -> None:
    """`test=fault panic=halt`: the decoded report, then QEMU exits by itself."""
    image = run.context.image("virt")
    options = VirtOptions(image=image, bootargs="test=fault panic=halt")
    with boot_virt(options, run.context.log_path("fault")) as machine:
        started = time.monotonic()
        exit_code: list[int] = []

        def halts() -> str:
            exit_code.append(machine.wait_exit(EXIT_TIMEOUT_S))
            return f"QEMU exited by itself after {time.monotonic() - started:.2f} s, status {exit_code[0]}"

        def report() -> str:
            if not exit_code:
                machine.wait_for(r"\*\*\* halting", EXIT_TIMEOUT_S)
            try:
                assert_lines(machine.text, FAULT_REPORT_LINES)
            except TestFailure as failure:
                raise TestFailure(f"{failure}{machine.describe_tail(40)}") from None
            esr = re.search(r"ESR_EL1 (0x[0-9a-f]+)", machine.text)
            return f"ESR_EL1 {esr[1] if esr else '?'}, FAR_EL1 0x0000ffffffff0000, registers dumped"

        run.check("halts", halts)
        run.check("report", report)


@group("panic_reset", checks=("no_reboot_exits", "comes_back"), images=("virt",))
def panic_reset(run: GroupRun) -> None:
    """`test=panic`: the panic report, then PSCI SYSTEM_RESET — QEMU exits under `-no-reboot`,
    and without it the machine boots again (a second banner)."""
    image = run.context.image("virt")

    def no_reboot_exits() -> str:
        options = VirtOptions(image=image, bootargs="test=panic", no_reboot=True)
        with boot_virt(options, run.context.log_path("panic-no-reboot")) as machine:
            started = time.monotonic()
            code = machine.wait_exit(EXIT_TIMEOUT_S)
            seconds = time.monotonic() - started
            text = machine.text
            try:
                assert_lines(text, (
                    ("panic line", r"\*\*\* KERNEL PANIC at .*test=panic"),
                    ("resetting", r"\*\*\* resetting"),
                ))
            except TestFailure as failure:
                raise TestFailure(f"{failure}{machine.describe_tail()}") from None
            if "halting" in text:
                raise TestFailure("the kernel halted although panic=halt was not given")
            return f"panic reported, reset requested, QEMU exited after {seconds:.2f} s (status {code})"

    def comes_back() -> str:
        options = VirtOptions(image=image, bootargs="test=panic")
        with boot_virt(options, run.context.log_path("panic-reboot")) as machine:
            started = time.monotonic()
            banners = machine.wait_for_count(BANNER_PATTERN, 2, 2 * EXIT_TIMEOUT_S)
            panics = len(PANIC_PATTERN.findall(machine.text))
            if panics < 1:
                raise TestFailure(f"second banner without a panic report before it{machine.describe_tail()}")
            return (f"{len(banners)} banners after {time.monotonic() - started:.2f} s, "
                    f"{panics} panic report(s): the machine reset and came back")

    run.check("no_reboot_exits", no_reboot_exits)
    run.check("comes_back", comes_back)
