"""The Raspberry Pi 4 build with its GENET v5 Ethernet, on a QEMU whose `raspi4b` has a GENET
model (docs/genet-qemu.md; stock QEMU has none). Optional: the emulator takes minutes to
build, so the group runs only when GENET_QEMU names that binary, and SKIPs otherwise.

What it shows: our GENET driver brings the MAC and PHY up, the link comes up, DHCP over QEMU's
user network gets a lease, and every file of the demo site comes back byte for byte over HTTP
through hostfwd, on fresh and on kept-alive connections."""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path

from framework import GroupRun, group
from harness import (
    TestFailure,
    TestSkipped,
    assert_no_fault,
    booted,
    free_port,
    rpi4_command,
    wait_for_http_ok,
)
from test_rpi4 import find_dtb

BOOT_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 20
GENET_PATTERN = r"GENET v5 at 0xfd580000[^\n]*\n"
LINK_PATTERN = r"GENET: link up[^\n]*\n"
LEASE_PATTERN = r"net: DHCP lease [^\n]*\n"
KEEP_ALIVE_REQUESTS = 50


def site_files(root: Path) -> dict[str, bytes]:
    """Every file of the demo site by URL path (what the kernel packs from disk/)."""
    files: dict[str, bytes] = {}
    for path in sorted((root / "disk").rglob("*")):
        if path.is_file():
            files["/" + path.relative_to(root / "disk").as_posix()] = path.read_bytes()
    return files


@group("rpi4_genet", checks=("genet", "link_up", "dhcp", "files", "keepalive", "no_fault"),
       images=("rpi4",), slow=True)
def rpi4_genet(run: GroupRun) -> None:
    """One boot of kernel8.img on a GENET-capable raspi4b with `-nic user,hostfwd=...`."""
    qemu = os.environ.get("GENET_QEMU", "")
    if not qemu:
        raise TestSkipped("GENET_QEMU is not set (a QEMU built with the GENET model; see docs/genet-qemu.md)")
    if not Path(qemu).is_file():
        raise TestSkipped(f"GENET_QEMU={qemu} does not exist")
    image = run.context.image("rpi4")
    dtb, _ = find_dtb(run.context)
    port = free_port()
    command = rpi4_command(image, dtb, http_port=port, qemu=qemu)
    files = site_files(run.context.repository_root)
    with booted(command, port, run.context.log_path("rpi4_genet")) as machine:

        def genet() -> str:
            return machine.wait_for(GENET_PATTERN, BOOT_TIMEOUT_S)[0].strip()

        def link_up() -> str:
            return machine.wait_for(LINK_PATTERN, BOOT_TIMEOUT_S)[0].strip()

        def dhcp() -> str:
            line = machine.wait_for(LEASE_PATTERN, BOOT_TIMEOUT_S)[0].strip()
            seconds = wait_for_http_ok(machine, BOOT_TIMEOUT_S)
            return f"{line}; first 200 {seconds:.2f} s after QEMU started"

        def all_files() -> str:
            total = 0
            for url_path, content in files.items():
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
                try:
                    connection.request("GET", url_path)
                    response = connection.getresponse()
                    body = response.read()
                finally:
                    connection.close()
                if response.status != 200:
                    raise TestFailure(f"GET {url_path}: status {response.status}")
                if hashlib.sha256(body).digest() != hashlib.sha256(content).digest():
                    raise TestFailure(f"GET {url_path}: {len(body)} bytes differ from disk{url_path} ({len(content)} bytes)")
                total += len(body)
            return f"{len(files)} files, {total} bytes, identical to disk/"

        def keepalive() -> str:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            paths = list(files)
            try:
                for number in range(KEEP_ALIVE_REQUESTS):
                    url_path = paths[number % len(paths)]
                    connection.request("GET", url_path)
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200 or body != files[url_path]:
                        raise TestFailure(f"request {number + 1} on one connection: GET {url_path} gave "
                                          f"status {response.status}, {len(body)} bytes")
            finally:
                connection.close()
            return f"{KEEP_ALIVE_REQUESTS} requests on one connection, all intact"

        def no_fault() -> str:
            assert_no_fault(machine)
            if machine.exit_code() is not None:
                raise TestFailure(f"QEMU exited ({machine.exit_code()}){machine.describe_tail()}")
            return "no exception or panic on the console; QEMU still running"

        run.require("genet", genet)
        run.require("link_up", link_up)
        run.require("dhcp", dhcp)
        run.check("files", all_files)
        run.check("keepalive", keepalive)
        run.check("no_fault", no_fault)
