#!/usr/bin/env bash
# Fetches Debian's arm64 kernel (the package linux-image-arm64 depends on) and busybox-static for
# the arm64 test machine (images/vm, make vm) and unpacks them into a cache directory. The host's
# dpkg keeps its own architectures: apt-get runs with lists and a cache of its own for arm64
# only, downloads the two .debs, and dpkg-deb -x unpacks them, depmod indexes the modules. Nothing is installed.
# Usage: images/vm/fetch-arm64.sh [DIR]   (default ${XDG_CACHE_HOME:-$HOME/.cache}/chargegate-vm/arm64)
set -euo pipefail
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/chargegate-vm/arm64}
[ -e "$dir/root/.complete" ] && exit 0
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs"
opts=(-o APT::Architecture=arm64 -o APT::Architectures=arm64
	-o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
echo "chargegate: fetching Debian's arm64 kernel and busybox-static into $dir" >&2
apt-get -qq "${opts[@]}" update
kpkg=$(apt-cache "${opts[@]}" depends linux-image-arm64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "chargegate: no kernel package behind linux-image-arm64" >&2; exit 1; }
rm -f "$dir"/debs/*.deb
(cd "$dir/debs" && apt-get -qq "${opts[@]}" download "$kpkg" busybox-static)
rm -rf "$dir/root"
mkdir -p "$dir/root"
for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
# The package's postinst would run depmod; nothing was installed, so run it on the unpacked tree.
depmod -b "$dir/root" "${kpkg#linux-image-}"
touch "$dir/root/.complete"
rm -rf "$dir/apt" "$dir/debs"
