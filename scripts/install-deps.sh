#!/usr/bin/env bash
# Installs every Debian package firedrill's build, tests, benchmarks and lab need.
# Idempotent and non-interactive: does nothing when all are present.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config ccache clang llvm
  libbpf-dev bpftool linux-libc-dev libelf-dev zlib1g-dev
  libboost-program-options-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libyaml-cpp-dev libsqlite3-dev libssl-dev
  libcurl4-openssl-dev libhowardhinnant-date-dev tzdata libsystemd-dev
  nlohmann-json3-dev libre2-dev libcpp-httplib-dev libpq-dev libldns-dev
  # tests, benchmarks and the lab
  iproute2 iputils-ping iperf3 iptables nftables procps psmisc socat netcat-openbsd
  python3 python3-yaml curl haproxy redis-server redis-sentinel redis-tools util-linux
  # the PostgreSQL store's tests and bench start their own server (tests/support/postgres)
  postgresql-15
  # the lab's own Prometheus server (deploy/lab), never the host's service
  prometheus
  # DNS faults: a real resolver in the tests' namespaces and the lab; drill
  dnsmasq-base ldnsutils
  # the controller's wall clock jumped under libfaketime (tests/integration/ctl/wall_clock_test)
  libfaketime
  # power loss with lose_unsynced on XFS data directories (tests/integration/power_data_test)
  xfsprogs
  # scripts/demo.sh reads `firedrill run/show --json`; tests/data/state-0.1.0/make.sh dumps SQL
  jq sqlite3
  # Debian packages (scripts/package.sh) and their install test on a fresh bookworm
  debhelper dpkg-dev lintian mmdebstrap
  # evidence reports: render and check the HTML page headless; verify-evidence.py
  chromium openssl
  # the dashboard's browser tests (tests/web): a real headless Chromium driven by Selenium
  chromium-driver python3-selenium
  # the libFuzzer targets (scripts/fuzz.sh, CI's short run): libFuzzer and ASan/UBSan
  # runtimes, only recommended by clang
  libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packages' own services (Redis, HAProxy, Prometheus) must not start on the host:
# the lab and the tests run their own inside namespaces. Without systemd, invoke-rc.d
# asks policy-rc.d; one that says 101 ("not allowed") is put in place for the install
# when the machine has none, and removed after.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# install-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# The tests start PostgreSQL clusters of their own (initdb in a temporary directory);
# the package's default cluster and service are not wanted.
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/firedrill.conf
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The lab (deploy/lab) runs its own Redis, Sentinel and HAProxy inside its namespaces;
# the system-wide services these packages enable on install are not wanted.
for svc in redis-server redis-sentinel haproxy prometheus; do
  if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
