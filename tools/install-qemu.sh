#!/usr/bin/env bash
# Installs QEMU for aarch64 on Debian bookworm (needs root). QEMU >= 9 (for the raspi4b machine)
# comes from bookworm-backports, added by copying this machine's own first Debian source entry
# with its suite changed — no mirror name is written anywhere.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-qemu.sh: run as root (sudo $0)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
sources=/etc/apt/sources.list.d/debian.sources
backports=/etc/apt/sources.list.d/bareserve-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && [ -f "$sources" ]; then
    awk 'BEGIN { RS = ""; ORS = "\n\n" } NR == 1' "$sources" \
        | sed -E 's/^Suites:.*/Suites: bookworm-backports/' > "$backports"
fi
apt-get update -qq
if apt-cache policy qemu-system-arm | grep -q bpo; then
    apt-get install -y -qq -t bookworm-backports qemu-system-arm >/dev/null
else
    apt-get install -y -qq qemu-system-arm >/dev/null
fi
qemu-system-aarch64 --version | head -1
