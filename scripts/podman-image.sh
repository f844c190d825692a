#!/bin/sh
# Builds the container image with podman from deploy/docker/Dockerfile's final stage, where base
# images cannot be pulled (as on the CI machines): after `make build`,
#   - scripts/image-base.sh makes the base from Debian packages (mmdebstrap),
#   - scripts/image-dist.sh makes /dist (the jlinked Java runtime, the launcher and the jar),
# both are imported into podman under names with a random suffix, and the Dockerfile is built with
# --build-arg RUNTIME_BASE=<base> --build-arg DIST=<dist>. The two helper images are removed again.
# Prints the image's size (as `podman image inspect` counts it: uncompressed). Needs root, podman,
# mmdebstrap. Work files go to target/image/ (WORK=... to change).
#
#   scripts/podman-image.sh localhost/ebpf-traffic-exporter:dev
set -eu
[ $# -eq 1 ] || { echo "usage: $0 IMAGE-NAME" >&2; exit 2; }
tag=$1
cd "$(dirname "$0")/.."
work=${WORK:-target/image}
suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$work"
dir=$(mktemp -d "$work/build.XXXXXX")
base=localhost/ebpf-traffic-exporter-base-$suffix
dist=localhost/ebpf-traffic-exporter-dist-$suffix
cleanup() {
    podman rmi -f "$base" "$dist" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

scripts/image-base.sh "$dir/base.tar"
scripts/image-dist.sh "$dir/dist-root/dist"
podman import --quiet "$dir/base.tar" "$base" >/dev/null
tar --numeric-owner -C "$dir/dist-root" -cf "$dir/dist.tar" dist
podman import --quiet "$dir/dist.tar" "$dist" >/dev/null
# The final stage uses no file of the build context, so an empty one will do.
mkdir "$dir/context"
podman build --quiet --pull=never --layers=false -f deploy/docker/Dockerfile \
    --build-arg RUNTIME_BASE="$base" --build-arg DIST="$dist" -t "$tag" "$dir/context" >/dev/null
podman image inspect --format '{{.Size}}' "$tag"
