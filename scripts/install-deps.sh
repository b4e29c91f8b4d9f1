#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and benchmark tamandua.
# Needs root (apt-get). Idempotent: packages already present are left alone.
set -euo pipefail
need=()
# live capture (tests/live.rs, scripts/live-test.sh, bpf/): clang/llvm/libbpf-dev build the XDP
# program; iproute2, tcpreplay (tcprewrite) and ethtool drive the namespace tests and tuning/
# wireshark-common: editcap, with which tests/batch.rs splits captures into file series
for p in libpcap-dev gcc python3 clang llvm libbpf-dev iproute2 tcpreplay ethtool wireshark-common; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo (Rust toolchain) is required" >&2; exit 1; }
