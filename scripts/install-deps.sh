#!/bin/sh
# Installs with apt whatever is missing for building, running and testing on Debian/Ubuntu.
# Does nothing (and needs no root) when everything is there already.
set -eu
# build: clang/llvm compile the BPF object; libbpf-dev gives bpf_helpers.h; linux-libc-dev the uapi headers.
# run:   libbpf1 is loaded by the exporter; iproute2 for `ip`.
# test:  bpftool, iputils-ping, gcc (small helpers), ethtool (offload checks) and maven.
# deploy tests: prometheus (the server and promtool), apache2-utils (htpasswd), openssl, curl,
#        util-linux (setpriv) and libcap2-bin (capsh).
# live view tests: chromium (headless, driven over the DevTools pipe) and tmux (the terminal view).
# container test: podman with runc (crun refuses the hybrid cgroup layout of the CI machines) and
#        mmdebstrap, which builds the image's base from Debian packages.
# reverse DNS test: dnsmasq-base (the server binary alone, no system service), run in a test namespace.
PKGS="clang llvm libbpf-dev libbpf1 linux-libc-dev make maven iproute2 bpftool iputils-ping gcc ethtool"
PKGS="$PKGS prometheus apache2-utils openssl curl util-linux libcap2-bin"
PKGS="$PKGS chromium tmux"
PKGS="$PKGS podman runc mmdebstrap"
PKGS="$PKGS dnsmasq-base"
[ $# -gt 0 ] && PKGS="$PKGS $*"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing; run as root (sudo make ...) to install them with apt-get" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
