"""Console input: the one-key commands typed into the guest's UART (QEMU's stdin), and garbage
that must not disturb the server."""

from __future__ import annotations

import random
import re

from framework import GroupRun, group
from harness import (
    LISTENING_PATTERN,
    TestFailure,
    VirtOptions,
    assert_no_fault,
    boot_virt,
    wait_for_http_ok,
)

HEAP_PATTERN = re.compile(
    r"heap: (?P<used_kib>\d+) of (?P<size_kib>\d+) KiB in use, high-water mark (?P<high_water_kib>\d+) KiB"
)
# Seed of the garbage bytes (fixed: a failure must be reproducible).
GARBAGE_SEED = 7
GARBAGE_BYTES = 2048
REPLY_TIMEOUT_S = 10
# The keys the kernel answers (src/kernel/serve.rs): help, memory, statistics.
COMMAND_KEYS = b"hm?s"


@group("console", checks=("heap", "statistics", "help", "garbage"), images=("virt",))
def console(run: GroupRun) -> None:
    """One boot with the console on a pipe; each check types and waits for the answer."""
    options = VirtOptions(image=run.context.image("virt"))
    with boot_virt(options, run.context.log_path("console"), with_stdin=True) as machine:
        machine.wait_for(LISTENING_PATTERN, 30)
        wait_for_http_ok(machine, 30)

        def type_and_wait(keys: bytes, pattern: re.Pattern | str) -> re.Match:
            offset = len(machine.text)
            machine.send_keys(keys)
            return machine.wait_for(pattern, REPLY_TIMEOUT_S, start=offset)

        def heap() -> str:
            match = type_and_wait(b"m\n", HEAP_PATTERN)
            used, size, high = (int(match[name]) for name in ("used_kib", "size_kib", "high_water_kib"))
            if not 0 < used <= high <= size:
                raise TestFailure(f"implausible heap report {match[0]!r}: expected 0 < used ≤ high-water ≤ size")
            return match[0]

        def statistics() -> str:
            # The summary's wording is the kernel's business; it must answer with something other
            # than "unknown key".
            offset = len(machine.text)
            machine.send_keys(b"s")
            answer = machine.wait_for(r"[^\n]+\n", REPLY_TIMEOUT_S, start=offset)
            if "unknown key" in answer[0]:
                raise TestFailure(f"'s' is not a command: {answer[0]!r}")
            return f"first line: {answer[0].strip()!r}"

        def help_text() -> str:
            return type_and_wait(b"h", r"[^\n]*help[^\n]*\n")[0].strip()

        def garbage() -> str:
            generator = random.Random(GARBAGE_SEED)
            # Every byte value, then random bytes: control characters, DEL, invalid UTF-8, and an
            # escape sequence; fed in pieces as a terminal would. The command keys are left out so
            # that the only heap report after the garbage answers the final `m`.
            raw = bytes(range(256)) + generator.randbytes(GARBAGE_BYTES) + b"\x1b[A\x1b[2J\x00\xff" * 8
            data = bytes(byte for byte in raw if byte not in COMMAND_KEYS)
            offset = len(machine.text)
            for start in range(0, len(data), 256):
                machine.send_keys(data[start:start + 256])
            # The kernel is still alive and still serving: a memory report, then a 200.
            heap_line = type_and_wait(b"\nm\n", HEAP_PATTERN)
            wait_for_http_ok(machine, 10)
            assert_no_fault(machine)
            # Proof that the bytes reached the guest: it answered them.
            answered = machine.text.count("unknown key", offset)
            if answered == 0:
                raise TestFailure("no 'unknown key' answer to the garbage: did the bytes reach the UART?")
            return f"{len(data)} garbage bytes typed ({answered} answered as unknown keys); then {heap_line[0]!r} and HTTP 200"

        run.check("heap", heap)
        run.check("statistics", statistics)
        run.check("help", help_text)
        run.check("garbage", garbage)
