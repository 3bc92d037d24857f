#!/usr/bin/env bash
# Installs the Debian 12 packages vkgw needs to build, test and benchmark.
# `make` runs this only when deploy/check-deps.sh finds something missing.
# Usage: deploy/install-deps.sh [--check]   (--check: exit 1 if anything is missing, install nothing)
set -euo pipefail

# Build: compiler toolchain and the libraries vkgw links against.
BUILD_PKGS=(build-essential pkg-config clang-format
  android-libboringssl-dev libjansson-dev libmaxminddb-dev libcmocka-dev liburing-dev libsystemd-dev
  libcrypt-dev
  ca-certificates)
# Tests and benchmarks: real peers, all driven on loopback only.
PEER_PKGS=(curl strace nginx-light haproxy redis-server wrk nghttp2-client openssl
  prometheus clang libclang-rt-14-dev python3 python3-jsonschema python3-yaml python3-cryptography util-linux procps systemd
  apache2-utils libnginx-mod-http-geoip2)
# The Kubernetes manifests' schema check (tests/e2e/gw_kubernetes.sh) runs on
# Node.js; its packages come from npm into build/. A Node.js from elsewhere
# (NodeSource's bundles npm) counts: these are wanted only when the command
# is missing.
COMMAND_PKGS=(node:nodejs npm:npm)

missing=()
for p in "${BUILD_PKGS[@]}" "${PEER_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for c in "${COMMAND_PKGS[@]}"; do
  command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done

if [ "${1:-}" = "--check" ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Services from these packages must not start on install (we run our own on loopback).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "dependencies installed" >&2
