"""A private network namespace with a tap device, for the groups that boot the guest on
`-netdev tap` (clients_tap, ipv4_conflict, attack): the host end of the link and the guest live in
10.0.5.0/24 inside a namespace this run creates and deletes, so no address outside it is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from harness import TestFailure, TestSkipped, run_program

# The tap network (issue 4): host side and guest in 10.0.5.0/24 inside a namespace of our own.
TAP_INTERFACE = "tap0"
TAP_HOST_ADDRESS = "10.0.5.1"
TAP_GUEST_ADDRESS = "10.0.5.15"
TAP_PREFIX_LENGTH = 24


def tap_unavailable_reason() -> str | None:
    """Why the tap checks cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespace and tap device)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing"
    if shutil.which("ip") is None:
        return "the ip command is not installed (Debian package iproute2)"
    return None


def ip_command(*arguments: str) -> None:
    """Runs `ip …` and fails with its message if it fails."""
    result = run_program(["ip", *arguments], timeout_s=10)
    if result.returncode != 0:
        raise TestFailure(f"`ip {' '.join(arguments)}` failed: {result.stderr.decode(errors='replace').strip()}")


def in_namespace(namespace: str, arguments: list[str]) -> list[str]:
    """A command line that runs `arguments` inside the network namespace."""
    return ["ip", "netns", "exec", namespace, *arguments]


@contextlib.contextmanager
def tap_namespace(host_addresses: list[str], prefix: str = "bs-test") -> Iterator[str]:
    """A network namespace made for this run (`PREFIX-PID`) with the tap device `TAP_INTERFACE`
    up and holding `host_addresses` (each /`TAP_PREFIX_LENGTH`); deleted afterwards. Skips the
    group where tap devices cannot be made."""
    reason = tap_unavailable_reason()
    if reason is not None:
        raise TestSkipped(reason)
    namespace = f"{prefix}-{os.getpid()}"
    created = run_program(["ip", "netns", "add", namespace], timeout_s=10)
    if created.returncode != 0:
        raise TestSkipped(f"cannot create a network namespace: {created.stderr.decode(errors='replace').strip()}")
    try:
        # No duplicate address detection on the new device (RFC 4862 §5.4 allows
        # DupAddrDetectTransmits = 0): its link-local address is usable at once. Best effort:
        # without the sysctl the address takes a second longer.
        run_program(in_namespace(namespace, ["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"]), timeout_s=10)
        ip_command("-n", namespace, "link", "set", "lo", "up")
        ip_command("-n", namespace, "tuntap", "add", "dev", TAP_INTERFACE, "mode", "tap")
        for address in host_addresses:
            ip_command("-n", namespace, "address", "add", f"{address}/{TAP_PREFIX_LENGTH}", "dev", TAP_INTERFACE)
        ip_command("-n", namespace, "link", "set", TAP_INTERFACE, "up")
        yield namespace
    finally:
        deleted = run_program(["ip", "netns", "delete", namespace], timeout_s=10)
        if deleted.returncode != 0:
            reason = deleted.stderr.decode(errors="replace").strip()
            print(f"# could not delete network namespace {namespace}: {reason}", flush=True)
