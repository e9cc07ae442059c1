#!/usr/bin/env python3
"""The one place that builds bareserve's QEMU command lines.

run-qemu.sh (the user's command), the QEMU test tier (tests/qemu/harness.py and its tests) and
the benchmark (tools/bench/) all take their argv from here:

    virt_command(image, ...)   QEMU `virt`, cortex-a72, one CPU, virtio-net over user networking
                               with hostfwd (mmio or pci), over a host tap device, or no network
    rpi4_command(image, ...)   QEMU `raspi4b` with a device tree, with `-nic user,hostfwd=...`
                               (a QEMU with the GENET model) or without a network (stock QEMU)

From a shell:

    python3 tools/qemu_command.py --print [OPTIONS] [-- EXTRA_QEMU_ARGUMENTS...]

prints the argv NUL-separated (read it with `mapfile -d '' -t command < <(...)`); `--shell`
prints it as one shell-quoted line instead (for a `bash -c` or measure.sh --start string).
Options: --board virt|rpi4, --image, --qemu, --memory, --gic, --nic mmio|pci, --net
user|tap|none, --port (hostfwd host port on 127.0.0.1), --tap (tap interface), --mac,
--bootargs, --dtb (rpi4), --console nographic|stdio, --no-reboot. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_QEMU = "qemu-system-aarch64"
# The netdev every virt command line attaches its virtio-net device to.
NETDEV_ID = "net0"


def qemu_binary() -> str:
    """$QEMU, or qemu-system-aarch64."""
    return os.environ.get("QEMU", DEFAULT_QEMU)


def console_arguments(console: str) -> list[str]:
    """How the guest's serial console reaches the host.

    "nographic": QEMU's -nographic (serial and monitor multiplexed on stdio; Ctrl-A X quits),
    what a user at a terminal wants. "stdio": serial console on stdio with no monitor
    multiplexed in (so no byte a test types is a monitor escape) and `signal=off` (so a 0x03
    byte reaches the guest instead of killing QEMU), no display: what the tests use."""
    if console == "nographic":
        return ["-nographic"]
    if console == "stdio":
        return [
            "-display", "none",
            "-monitor", "none",
            "-chardev", "stdio,id=console0,signal=off",
            "-serial", "chardev:console0",
        ]
    raise ValueError(f"console must be nographic or stdio, not {console!r}")


def hostfwd(http_port: int) -> str:
    """User networking's forward of 127.0.0.1:http_port on the host to the guest's port 80."""
    return f"hostfwd=tcp:127.0.0.1:{http_port}-:80"


def virt_command(
    image: str | Path,
    *,
    qemu: str | None = None,
    memory: str = "128M",
    gic_version: int | str = 2,
    transport: str = "mmio",
    network: str = "user",
    http_port: int = 8080,
    tap_interface: str = "tap0",
    mac: str = "",
    bootargs: str = "",
    console: str = "nographic",
    no_reboot: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """QEMU `virt` booting `image`.

    network: "user" (slirp, hostfwd from 127.0.0.1:http_port to the guest's port 80), "tap" (the
    host tap device `tap_interface`, which must exist and be up, e.g. in a network namespace;
    no port forwarding) or "none" (`-nic none`). transport: the virtio-net device, "mmio"
    (virtio-mmio, modern) or "pci". mac: the guest NIC's MAC ("" = QEMU's default,
    52:54:00:12:34:56). extra: more QEMU arguments, appended last (e.g. -plugin ...)."""
    command = [
        qemu or qemu_binary(),
        "-M", f"virt,gic-version={gic_version}",
        "-cpu", "cortex-a72",
        "-smp", "1",
        "-m", memory,
        *console_arguments(console),
        "-kernel", str(image),
        "-append", bootargs,
    ]
    if network == "none":
        command += ["-nic", "none"]
    else:
        if network == "tap":
            command += ["-netdev", f"tap,id={NETDEV_ID},ifname={tap_interface},script=no,downscript=no"]
        elif network == "user":
            command += ["-netdev", f"user,id={NETDEV_ID},{hostfwd(http_port)}"]
        else:
            raise ValueError(f"network must be user, tap or none, not {network!r}")
        mac_option = f",mac={mac}" if mac else ""
        if transport == "mmio":
            command += [
                "-device", f"virtio-net-device,netdev={NETDEV_ID}{mac_option}",
                "-global", "virtio-mmio.force-legacy=false",
            ]
        elif transport == "pci":
            command += ["-device", f"virtio-net-pci,netdev={NETDEV_ID},romfile={mac_option}"]
        else:
            raise ValueError(f"transport must be mmio or pci, not {transport!r}")
    if no_reboot:
        command.append("-no-reboot")
    command += list(extra)
    return command


def rpi4_command(
    image: str | Path,
    *,
    dtb: str | Path,
    qemu: str | None = None,
    network: str = "none",
    http_port: int = 8080,
    bootargs: str = "",
    console: str = "nographic",
    no_reboot: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """QEMU `raspi4b` (QEMU >= 9; its RAM is fixed at 2G) booting `image` with device tree `dtb`.

    network: "user" (`-nic user,hostfwd=...`: a QEMU built with the GENET model,
    docs/genet-qemu.md) or "none" (no -nic at all: stock QEMU's raspi4b has no Ethernet and
    would only warn that the NIC "was not created")."""
    command = [
        qemu or qemu_binary(),
        "-M", "raspi4b",
        "-kernel", str(image),
        "-dtb", str(dtb),
        "-append", bootargs,
        *console_arguments(console),
    ]
    if network == "user":
        command += ["-nic", f"user,{hostfwd(http_port)}"]
    elif network != "none":
        raise ValueError(f"network on rpi4 must be user or none, not {network!r}")
    if no_reboot:
        command.append("-no-reboot")
    command += list(extra)
    return command


def shell_line(command: Sequence[str]) -> str:
    """The argv as one line a POSIX shell splits back into the same words."""
    return " ".join(shlex.quote(word) for word in command)


def main(arguments: list[str]) -> int:
    extra: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, extra = arguments[:split], arguments[split + 1:]
    parser = argparse.ArgumentParser(prog="qemu_command.py", description=__doc__.split("\n")[0])
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--print", action="store_true", help="print the argv, NUL-separated")
    output.add_argument("--shell", action="store_true", help="print the argv as one shell-quoted line")
    parser.add_argument("--board", choices=("virt", "rpi4"), default="virt")
    parser.add_argument("--image", required=True, help="the kernel image (-kernel)")
    parser.add_argument("--qemu", default=None, help="the emulator (default: $QEMU or qemu-system-aarch64)")
    parser.add_argument("--memory", default="128M", help="guest RAM, virt only (default 128M)")
    parser.add_argument("--gic", default="2", choices=("2", "3"), help="GIC version, virt only (default 2)")
    parser.add_argument("--nic", default="mmio", choices=("mmio", "pci"), help="virtio-net transport (virt)")
    parser.add_argument("--net", default="user", choices=("user", "tap", "none"),
                        help="user (hostfwd), tap (virt only) or none")
    parser.add_argument("--port", type=int, default=8080, help="host port on 127.0.0.1 forwarded to :80")
    parser.add_argument("--tap", default="tap0", help="tap interface for --net tap (default tap0)")
    parser.add_argument("--mac", default="", help="the guest NIC's MAC, virt only (default: QEMU's)")
    parser.add_argument("--bootargs", default="", help="kernel command line (-append)")
    parser.add_argument("--dtb", default=None, help="device tree, rpi4 only (required there)")
    parser.add_argument("--console", default="nographic", choices=("nographic", "stdio"))
    parser.add_argument("--no-reboot", action="store_true", help="QEMU exits instead of resetting")
    options = parser.parse_args(arguments)
    if options.board == "virt":
        command = virt_command(
            options.image, qemu=options.qemu, memory=options.memory, gic_version=options.gic,
            transport=options.nic, network=options.net, http_port=options.port, tap_interface=options.tap,
            mac=options.mac, bootargs=options.bootargs, console=options.console,
            no_reboot=options.no_reboot, extra=extra)
    else:
        if options.dtb is None:
            parser.error("--board rpi4 needs --dtb")
        if options.net == "tap":
            parser.error("--net tap is for --board virt only")
        command = rpi4_command(
            options.image, dtb=options.dtb, qemu=options.qemu, network=options.net,
            http_port=options.port, bootargs=options.bootargs, console=options.console,
            no_reboot=options.no_reboot, extra=extra)
    if options.print:
        sys.stdout.write("".join(word + "\0" for word in command))
    else:
        sys.stdout.write(shell_line(command) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
