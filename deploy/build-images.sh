#!/usr/bin/env bash
# Builds moodflow's container image without pulling anything:
#
#   1. the three binaries, built on the host, optimised (profile `release`
#      by default: these are the images users run; the CI's compose test
#      passes MOODFLOW_PROFILE=ci, the build the tests already made);
#   2. a base image made here from nothing: the binaries' shared libraries
#      (as ldd resolves them on this host), CA certificates, /etc/passwd and
#      an empty /data, packed as a tarball and loaded with `docker import`;
#   3. `moodflow:latest` from deploy/Dockerfile (no `# syntax=` line, no
#      registry), which copies the binaries onto that base.
#
# Usage: deploy/build-images.sh            (tag: moodflow:latest)
#        MOODFLOW_IMAGE=moodflow:dev deploy/build-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${MOODFLOW_PROFILE:-release}"
image="${MOODFLOW_IMAGE:-moodflow:latest}"
base="${MOODFLOW_BASE_IMAGE:-moodflow-base:latest}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/moodflow/target}"
export CARGO_TARGET_DIR="$target"

echo "== building binaries (profile $profile)"
cargo build --profile "$profile" --locked -p moodflow
bin_dir="$target/$profile"
[ "$profile" = dev ] && bin_dir="$target/debug"
bins=(moodflow moodflow-scheduler moodflow-executor)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,tmp,data,lib,lib64,usr/lib}
chmod 1777 "$rootfs/tmp"

echo "== base image $base from the host's libraries"
# Every shared library the binaries load, at the same path as on the host.
for b in "${bins[@]}"; do
  ldd "$bin_dir/$b" | awk '/=>/ { print $3 } /^[ \t]*\/.*ld-linux/ { print $1 }'
done | sort -u | while read -r lib; do
  [ -n "$lib" ] && [ -e "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# Name resolution (compose service names) and TLS for S3.
for f in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
         /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$f" ] && { mkdir -p "$rootfs$(dirname "$f")"; cp -L "$f" "$rootfs$f"; }
done
mkdir -p "$rootfs/etc/ssl/certs"
[ -e /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/false' > "$rootfs/etc/passwd"
echo 'moodflow:x:1000:1000:moodflow:/data:/bin/false' >> "$rootfs/etc/passwd"
printf 'root:x:0:\nmoodflow:x:1000:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/bin' --change 'WORKDIR /data' - "$base" >/dev/null

echo "== image $image"
ctx="$work/context"
mkdir -p "$ctx"
for b in "${bins[@]}"; do
  cp "$bin_dir/$b" "$ctx/"
  # Debug info is most of an unoptimised binary; the image does not need it.
  strip --strip-all "$ctx/$b" 2>/dev/null || true
done
cp deploy/Dockerfile "$ctx/Dockerfile"
docker build --build-arg "BASE=$base" -t "$image" "$ctx" >/dev/null
docker image ls "${image%%:*}"
