#!/bin/sh
# Builds the base of the tested container image from Debian packages, as a tarball for
# `podman import`: mmdebstrap extracts libbpf1 and busybox with their dependencies (libc6, libelf1,
# zlib1g, libgcc-s1, gcc-12-base) and nothing else: no dpkg, apt, bash or coreutils. busybox gives
# the launcher its /bin/sh, dirname and readlink. Needs root and mmdebstrap; takes under a minute.
#
# The packages come from the Debian suite and mirrors this machine's apt uses (its sources files
# that name its own codename), so no mirror is written here.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT.tar" >&2; exit 2; }
out=$1
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
sources=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -f "$f" ] && grep -Eqs "^[^#]*[[:space:]]$suite([[:space:]]|$)" "$f"; then
        sources="$sources $f"
    fi
done
[ -n "$sources" ] || { echo "no apt sources file names suite $suite" >&2; exit 1; }

arch=$(dpkg --print-architecture)
multiarch=$(uname -m)-linux-gnu
root=$(mktemp -d "${out%.tar}.rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
rmdir "$root"
# shellcheck disable=SC2086
mmdebstrap --quiet --mode=root --variant=extract --architectures="$arch" --include=libbpf1,busybox \
    "$suite" "$root" $sources
# What a container needs of a Debian system is only the libraries and the shell: drop the package
# manager's state (nothing here was installed by dpkg), documentation, translations, gconv modules,
# and the files mmdebstrap copied from this host (resolv.conf, hostname: the runtime provides them).
cd "$root"
rm -rf dev etc/apt etc/dpkg etc/fstab etc/hostname etc/resolv.conf var usr/share/doc usr/share/man \
    usr/share/locale usr/share/lintian usr/share/initramfs-tools "usr/lib/$multiarch/gconv" tmp/*
for c in sh dirname readlink; do
    ln -s busybox "bin/$c"
done
mkdir -p dev proc sys run tmp
chmod 1777 tmp
cd - >/dev/null
tar --numeric-owner --sort=name -C "$root" -cf "$out" .
