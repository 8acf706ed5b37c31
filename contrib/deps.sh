#!/bin/sh
# Install, with apt-get, the Debian packages named as arguments that are not
# installed yet. Runs 'apt-get update' once, and only when something is
# missing. Sourced by demo.sh and check.sh.
pidio_install() {
  missing=""
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed" || missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  echo "Installing:$missing"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends $missing
}

# What building pidio (with its BPF reader: clang, llvm, libbpf-dev,
# bpftool) and running its tests needs.
PIDIO_BUILD_DEPS="gcc make autoconf automake libtool pkg-config check
  collectd-core collectd-dev python3 util-linux procps
  clang llvm libbpf-dev bpftool"

# What the end-to-end pipelines (carbon-cache, InfluxDB, Prometheus with
# collectd's write_prometheus, which needs libmicrohttpd12 and
# libprotobuf-c1) and the Debian package test need on top.
PIDIO_CHECK_DEPS="graphite-carbon python3-whisper influxdb
  prometheus libmicrohttpd12 libprotobuf-c1
  debhelper dpkg-dev fakeroot build-essential
  clang libclang-rt-dev valgrind"
