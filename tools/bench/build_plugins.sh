#!/usr/bin/env bash
# tools/bench/build_plugins.sh [OUT_DIR] - QEMU's TCG plugins for the benchmark's instruction
# counts, built for the installed qemu-system-aarch64; prints OUT_DIR (absolute) as its last line.
#
#   libinsn.so       counts every guest instruction ("total insns: N" when QEMU exits)
#   libhotblocks.so  execution count of every translated block: a profile that does not
#                    depend on the host's load
#
# OUT_DIR defaults to target/qemu-plugins in the repository; once both libraries are there,
# nothing is done. Debian builds QEMU with plugin support but ships no plugins; they need only
# QEMU's plugin header and glib, so they are compiled here, with gcc, from the source of the
# very QEMU that is installed (its Debian version's orig tarball, `apt-get source`): a plugin
# must match the API version of the QEMU that loads it.
# When apt knows no source for that version, a deb-src entry is made from the first stanza of
# /etc/apt/sources.list.d/debian.sources (its mirror, its keyring; the suite taken from the
# version: bookworm-backports for a ~bpo12 build), so no mirror is named here. Needs root for
# apt (the source list, glib's headers); every download is bounded.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/target/qemu-plugins}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
say() { printf '[build_plugins] %s\n' "$*" >&2; }
PLUGINS=(libinsn.so libhotblocks.so)

all_built() {
  local plugin
  for plugin in "${PLUGINS[@]}"; do [[ -f "$OUT/$plugin" ]] || return 1; done
}
if all_built; then echo "$OUT"; exit 0; fi

command -v qemu-system-aarch64 >/dev/null || { say "qemu-system-aarch64 is not installed"; exit 1; }
qemu_version=$(dpkg-query -W -f='${Version}' qemu-system-arm 2>/dev/null || true)
[[ -n "$qemu_version" ]] || { say "qemu-system-arm is not a Debian package here: no source to build the plugins from"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
install_packages() { # what is missing of: gcc, pkg-config, glib's headers, xz
  local missing=()
  command -v gcc >/dev/null || missing+=(gcc)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v xz >/dev/null || missing+=(xz-utils)
  pkg-config --exists glib-2.0 2>/dev/null || missing+=(libglib2.0-dev)
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || { say "missing ${missing[*]}: apt-get install ${missing[*]} (as root)"; exit 1; }
  say "installing ${missing[*]}"
  timeout 600 apt-get update -qq
  timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null
}
install_packages

source_dir="$OUT/source"
mkdir -p "$source_dir"
tarball=$(find "$source_dir" -maxdepth 1 -name 'qemu_*.orig.tar.*' | sort | head -n 1)
if [[ -z "$tarball" ]]; then
  source_known() { apt-cache showsrc qemu 2>/dev/null | grep -Fqx "Version: $qemu_version"; }
  if ! source_known; then
    [[ $(id -u) == 0 ]] || { say "apt knows no source of qemu $qemu_version, and looking for one needs root"; exit 1; }
    # A deb-src entry may be configured already with its index not yet downloaded.
    timeout 600 apt-get update -qq || true
  fi
  if ! source_known; then
    # The suite the installed version comes from: a backport (~bpo12) or the release itself.
    # shellcheck source=/dev/null
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    case $qemu_version in *bpo*) suite="$suite-backports" ;; esac
    list=/etc/apt/sources.list.d/bareserve-qemu-source.sources
    # First stanza only (paragraph mode), comments dropped, as a deb-src entry of that suite.
    awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { print; exit }' /etc/apt/sources.list.d/debian.sources |
      grep -v '^#' | sed -E "s/^Types:.*/Types: deb-src/; s/^Suites:.*/Suites: $suite/" >"$list"
    say "added $list (deb-src, $suite); apt-get update"
    timeout 600 apt-get update -qq
  fi
  say "downloading the source of qemu $qemu_version (apt-get source --download-only)"
  # Only the orig tarball is used: a mirror that lacks the .dsc or the Debian diff (apt then
  # fails) still serves the upstream source, so the tarball, not apt's status, decides.
  (cd "$source_dir" && timeout 900 apt-get source --download-only "qemu=$qemu_version") \
    >"$source_dir/apt-get-source.log" 2>&1 || true
  tarball=$(find "$source_dir" -maxdepth 1 -name 'qemu_*.orig.tar.*' | sort | head -n 1)
  [[ -n "$tarball" ]] || { tail -5 "$source_dir/apt-get-source.log" >&2; say "apt-get source left no orig tarball in $source_dir"; exit 1; }
fi

# Only the plugin API header and the two plugins' sources are needed out of the tarball.
rm -rf "$source_dir/extract"
mkdir -p "$source_dir/extract"
tar -xf "$tarball" -C "$source_dir/extract" --wildcards \
  '*/include/qemu/qemu-plugin.h' '*/tests/tcg/plugins/insn.c' '*/contrib/plugins/hotblocks.c'
tree=$(find "$source_dir/extract" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | sort | head -n 1)
[[ -n "$tree" ]] || { say "the orig tarball held no qemu-* folder"; exit 1; }
# hotblocks reports only its 20 most executed blocks; a profile by function needs all of them,
# or its shares would not add up to the total.
sed -i -E 's/^static guint64 limit = [0-9]+;/static guint64 limit = 1000000000;/' "$tree/contrib/plugins/hotblocks.c"
grep -q 'limit = 1000000000;' "$tree/contrib/plugins/hotblocks.c" \
  || { say "hotblocks.c has no 'static guint64 limit = N;' line to raise (another QEMU version?)"; exit 1; }
read -r -a glib_flags < <(pkg-config --cflags --libs glib-2.0)
for source in tests/tcg/plugins/insn.c contrib/plugins/hotblocks.c; do
  name=lib$(basename "$source" .c).so
  gcc -O2 -shared -fPIC -o "$OUT/$name.partial" "$tree/$source" -I"$tree/include/qemu" "${glib_flags[@]}"
  mv -f "$OUT/$name.partial" "$OUT/$name"   # never a half-written plugin under the real name
done
say "built ${PLUGINS[*]} for qemu $qemu_version in $OUT"
echo "$OUT"
