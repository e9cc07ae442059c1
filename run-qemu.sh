#!/usr/bin/env bash
# Builds the bareserve kernel and boots it in QEMU, serving the site on the host at
# http://127.0.0.1:$PORT/ through QEMU's user-mode networking.
#
#   ./run-qemu.sh [-- EXTRA_QEMU_ARGUMENTS...]
#
# Environment:
#   BOARD     virt (default) or rpi4 (QEMU raspi4b; needs QEMU >= 9)
#   PORT      host port forwarded to the guest's port 80 (default 8080)
#   NIC       virtio-net transport on virt: mmio (default) or pci
#   GIC       GIC version on virt: 2 (default) or 3
#   SITE      directory to serve instead of disk/ (packed into the image at build time)
#   MEM       guest RAM (default 128M on virt; raspi4b always has 2G)
#   BOOTARGS  kernel command line (default: empty; see README "Boot arguments")
#   QEMU      the emulator binary (default qemu-system-aarch64)
#   DTB       raspi4b only: the Pi 4 device tree (default: Debian's, in tests/fixtures/)
#   NO_BUILD  set to 1 to boot the existing image without building
#
# Quit QEMU with Ctrl-A X.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
BOARD=${BOARD:-virt}
PORT=${PORT:-8080}
NIC=${NIC:-mmio}
GIC=${GIC:-2}
MEM=${MEM:-128M}
BOOTARGS=${BOOTARGS:-}
QEMU=${QEMU:-qemu-system-aarch64}
extra_arguments=()
if [ "${1:-}" = "--" ]; then
    shift
    extra_arguments=("$@")
elif [ $# -gt 0 ]; then
    echo "run-qemu.sh: unexpected argument '$1' (extra QEMU arguments go after --)" >&2
    exit 2
fi

say() { printf 'run-qemu.sh: %s\n' "$*" >&2; }

# --- What we need: the pinned Rust toolchain with its target (rust-toolchain.toml) and QEMU.
if ! command -v cargo >/dev/null 2>&1; then
    say "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again."
    exit 1
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
    tools/install-rust.sh
fi
# python3 runs tools/qemu_command.py, which builds the QEMU command line.
tools/install-tools.sh python3
if [ "$QEMU" = qemu-system-aarch64 ]; then
    # Installs Debian's qemu-system-arm when it is missing (as root; otherwise it names the
    # command to run as root and stops here).
    tools/install-tools.sh qemu-system-aarch64
elif ! command -v "$QEMU" >/dev/null 2>&1; then
    say "QEMU=$QEMU: no such program."
    exit 1
fi

case "$BOARD" in
    virt)
        image=target/kernel-virt.img
        [ "${NO_BUILD:-0}" = 1 ] || cargo kernel --board virt
        [ "$NIC" = mmio ] || [ "$NIC" = pci ] || { say "NIC must be mmio or pci, not '$NIC'"; exit 2; }
        qemu_command_options=(--board virt --image "$image" --memory "$MEM" --gic "$GIC" --nic "$NIC"
            --net user --port "$PORT")
        ;;
    rpi4)
        image=target/kernel8.img
        [ "${NO_BUILD:-0}" = 1 ] || cargo kernel --board rpi4
        # Debian's bcm2711-rpi-4-b.dtb, unchanged (tests/fixtures/README.md says where it is from).
        dtb=${DTB:-tests/fixtures/rpi4b-debian-6.1.0-50.dtb}
        # Stock QEMU's raspi4b has no Ethernet and warns that a -nic "was not created"; a QEMU
        # built with the GENET model (docs/genet-qemu.md) takes it silently.
        # (The output is read whole before it is searched: `grep -q` in a pipeline would quit at
        # the first match and, under pipefail, turn QEMU's SIGPIPE into the pipeline's status.)
        probe_output=$(printf 'quit\n' | timeout 20 "$QEMU" -M raspi4b -nic user -S -display none \
            -serial null -monitor stdio 2>&1 || true)
        if [[ "$probe_output" == *"has no raspi4b"* || "$probe_output" == *"unsupported machine"* ]]; then
            say "$QEMU has no raspi4b machine (it needs QEMU >= 9): $probe_output"
            exit 1
        fi
        if [[ "$probe_output" == *"was not created"* ]]; then
            say "$QEMU has no GENET model: the Pi build will boot without a network (see README)."
            network=none
        else
            network=user
        fi
        qemu_command_options=(--board rpi4 --image "$image" --dtb "$dtb" --net "$network" --port "$PORT")
        ;;
    *) say "BOARD must be virt or rpi4, not '$BOARD'"; exit 2 ;;
esac

# The command line itself comes from tools/qemu_command.py, which also builds the test tier's and
# the benchmark's: NUL-separated words into an array (wait checks the builder's exit status).
mapfile -d '' -t command < <(python3 tools/qemu_command.py --print "${qemu_command_options[@]}" \
    --qemu "$QEMU" --bootargs="$BOOTARGS" --console nographic -- "${extra_arguments[@]}")
wait $! || { say "tools/qemu_command.py failed"; exit 1; }
say "open http://127.0.0.1:$PORT/ once the console says 'listening' (Ctrl-A X quits QEMU)"
{ printf 'run-qemu.sh: running'; printf ' %q' "${command[@]}"; printf '\n'; } >&2
exec "${command[@]}"
