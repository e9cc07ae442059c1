#!/usr/bin/env bash
# Builds an SD-card image around a dummy kernel and checks it: partition table (one bootable
# FAT32-LBA partition at sector 2048), the six boot files, and that the kernel, config.txt and
# cmdline.txt read back byte for byte. Needs the same tools and package access as build.sh.
# Usage: tools/sdcard/selftest.sh        (prints PASS or FAIL as its last line)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT

fail() { printf 'sdcard selftest: %s\nFAIL\n' "$*"; exit 1; }

head -c 123457 /dev/urandom > "$work_dir/kernel8.img"
BOOTARGS="log=debug selftest=1" "$script_dir/build.sh" "$work_dir/kernel8.img" "$work_dir/card.img" \
    > "$work_dir/build.log" 2>&1 || { cat "$work_dir/build.log"; fail "build.sh failed"; }

partition=$(sfdisk --dump "$work_dir/card.img" | grep '^/')
[[ "$partition" =~ start=\ *2048, ]] || fail "partition does not start at sector 2048: $partition"
[[ "$partition" =~ type=c ]] || fail "partition type is not c (FAT32 LBA): $partition"
[[ "$partition" =~ bootable ]] || fail "partition is not marked bootable: $partition"

listing=$(mdir -b -i "$work_dir/card.img@@1M" ::/)
for file in start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt cmdline.txt kernel8.img; do
    grep -qx "::/$file" <<<"$listing" || fail "missing $file in: $listing"
done

mkdir "$work_dir/readback"
mcopy -i "$work_dir/card.img@@1M" ::/kernel8.img ::/config.txt ::/cmdline.txt "$work_dir/readback/"
cmp -s "$work_dir/kernel8.img" "$work_dir/readback/kernel8.img" || fail "kernel8.img differs"
"$script_dir/build.sh" --print-config-txt | cmp -s - "$work_dir/readback/config.txt" || fail "config.txt differs"
[[ "$(cat "$work_dir/readback/cmdline.txt")" == "log=debug selftest=1" ]] || fail "cmdline.txt differs"
printf 'sdcard selftest: image, partition and boot files as expected\nPASS\n'
