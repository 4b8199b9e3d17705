#!/usr/bin/env bash
# images/build.sh — what `make image` runs. Assembles, under $OUT (default var/image):
#
#   app/chargegate                   the linux/arm64 gateway binary (cgo, aarch64-linux-gnu-gcc)
#   rootfs-overlay/                  files to lay over a Raspberry Pi OS / rpi-image-gen root
#   rootfs-overlay.tar               the same, as a reproducible tarball (owner root, fixed mtime)
#   boot/config.txt                  firmware configuration for each slot's boot partition
#   bootconfig/autoboot.txt          A/B selection for the bootconfig partition (tryboot_a_b=1)
#   chargegate-$VERSION-DEVELOPMENT-SIGNED.bundle
#                                    an update bundle (app payload; plus rootfs if ROOTFS_IMAGE
#                                    names an image file) signed with the DEVELOPMENT key
#
# The development release key is generated on first use into var/keys/ and named
# DEVELOPMENT-ONLY-release.{key,pub}; it is never committed and never a production default.
# Its public key goes into the overlay's trusted-keys directory only for this development
# image. For a release, set RELEASE_KEY=/path/release.key (the .pub beside it is installed
# instead) — keep that key offline.
#
# SLOTS selects the update mode of the overlay: files (default; app-only slot directories,
# which the app payload of the development bundle can update) or tryboot (Raspberry Pi A/B:
# adds the agent's partition and autoboot.txt rights, the polkit rule for
# `reboot "0 tryboot"` and the bootconfig mount; updates then need a rootfs payload).
#
# Environment: VERSION (default: git describe or "dev"), SECURITY_VERSION (default 1 for
# development bundles; required with RELEASE_KEY — devices refuse bundles below their floor),
# COMPATIBLE (default rpi4,rpi5), SLOTS, OUT, RELEASE_KEY, ROOTFS_IMAGE, GO (default go),
# CHUNK_SIZE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
if [ -n "${RELEASE_KEY:-}" ] && [ -z "${SECURITY_VERSION:-}" ]; then
	echo "build.sh: RELEASE_KEY set: choose SECURITY_VERSION (the last release's, higher for a security fix)" >&2
	exit 2
fi
SECURITY_VERSION=${SECURITY_VERSION:-1}
COMPATIBLE=${COMPATIBLE:-rpi4,rpi5}
CHUNK_SIZE=${CHUNK_SIZE:-1048576}
OUT=${OUT:-var/image}
SLOTS=${SLOTS:-files}
case "$SLOTS" in files|tryboot) ;; *) echo "build.sh: SLOTS=$SLOTS: want files or tryboot" >&2; exit 2 ;; esac
KEYDIR=${KEYDIR:-var/keys}
EPOCH=${SOURCE_DATE_EPOCH:-0}

for tool in aarch64-linux-gnu-gcc tar; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool missing (make deps installs it)" >&2; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT/app" "$OUT/boot" "$OUT/bootconfig" "$OUT/tools"

echo "== chargegate $VERSION for linux/arm64"
CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	"$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$OUT/app/chargegate" ./gateway/cmd/chargegate
"$GO" build -trimpath -o "$OUT/tools/chargegate-bundle" ./ota/cmd/chargegate-bundle

echo "== release key"
if [ -n "${RELEASE_KEY:-}" ]; then
	key=$RELEASE_KEY
	pub=${RELEASE_KEY%.key}.pub
	pubname=$(basename "$pub")
else
	key=$KEYDIR/DEVELOPMENT-ONLY-release.key
	pub=$KEYDIR/DEVELOPMENT-ONLY-release.pub
	pubname=DEVELOPMENT-ONLY-release.pub
	if [ ! -f "$key" ]; then
		"$OUT/tools/chargegate-bundle" keygen --out "$KEYDIR/DEVELOPMENT-ONLY-release"
	fi
	echo "   signing with the DEVELOPMENT key $key: not for production devices"
fi
[ -f "$pub" ] || { echo "build.sh: public key $pub missing" >&2; exit 1; }

echo "== rootfs overlay"
ov=$OUT/rootfs-overlay
install -D -m 0755 "$OUT/app/chargegate" "$ov/usr/bin/chargegate"
mkdir -p "$ov/etc/systemd/system/multi-user.target.wants"
install -D -m 0755 images/chargegate-launch "$ov/usr/lib/chargegate/chargegate-launch"
install -D -m 0644 images/chargegate.service "$ov/etc/systemd/system/chargegate.service"
install -D -m 0644 images/chargegate.sysusers "$ov/usr/lib/sysusers.d/chargegate.conf"
install -D -m 0644 images/watchdog.conf "$ov/etc/systemd/system.conf.d/chargegate-watchdog.conf"
if [ "$SLOTS" = tryboot ]; then
	install -D -m 0644 images/chargegate.service.d/ota-ab.conf "$ov/etc/systemd/system/chargegate.service.d/ota-ab.conf"
	install -D -m 0755 images/chargegate-trial-guard "$ov/usr/lib/chargegate/chargegate-trial-guard"
	install -D -m 0644 images/chargegate-trial-guard.service "$ov/etc/systemd/system/chargegate-trial-guard.service"
	ln -sf ../chargegate-trial-guard.service "$ov/etc/systemd/system/multi-user.target.wants/chargegate-trial-guard.service"
	install -D -m 0644 images/50-chargegate.rules "$ov/etc/polkit-1/rules.d/50-chargegate.rules"
	install -D -m 0644 images/fstab.ab "$ov/usr/share/chargegate/fstab.ab"
else
	install -D -m 0644 images/chargegate.service.d/app-only.conf "$ov/etc/systemd/system/chargegate.service.d/app-only.conf"
fi
install -D -m 0644 "$pub" "$ov/etc/chargegate/trusted-keys/$pubname"
ln -sf ../chargegate.service "$ov/etc/systemd/system/multi-user.target.wants/chargegate.service"
if [ -f images/chargegate.yaml ]; then
	install -D -m 0644 images/chargegate.yaml "$ov/etc/chargegate/config.yaml"
fi
install -D -m 0644 images/config.txt "$OUT/boot/config.txt"
install -D -m 0644 images/autoboot.txt "$OUT/bootconfig/autoboot.txt"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" \
	-C "$ov" -cf "$OUT/rootfs-overlay.tar" .

echo "== update bundle"
bundle="$OUT/chargegate-$VERSION-DEVELOPMENT-SIGNED.bundle"
[ -n "${RELEASE_KEY:-}" ] && bundle="$OUT/chargegate-$VERSION.bundle"
payloads=("app=$OUT/app/chargegate")
[ -n "${ROOTFS_IMAGE:-}" ] && payloads+=("rootfs=$ROOTFS_IMAGE")
"$OUT/tools/chargegate-bundle" create --key "$key" --version "$VERSION" --security-version "$SECURITY_VERSION" \
	--compatible "$COMPATIBLE" --chunk-size "$CHUNK_SIZE" --out "$bundle" "${payloads[@]}"
"$OUT/tools/chargegate-bundle" verify --key "$pub" "$bundle" | sed -n 's/^signed by/   signed by/p' # key and security version

echo "== done: $OUT"
ls -l "$OUT" "$OUT/app"
