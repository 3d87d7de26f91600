#!/usr/bin/env bash
# Installs the two packages as a user would on a fresh Debian 12 and takes them off
# again: a minimal bookworm (mmdebstrap --variant=apt) in a directory of this run
# under BUILD_DIR, apt resolving the dependencies from the mirror this machine's apt
# uses, then
#   firedrill --version; firedrill-agent features;
#   the controller started on its default /etc/firedrill/controller.yaml as the
#   firedrill user (in a network namespace of its own: it listens on 0.0.0.0), an
#   operator in the firedrill group using its API socket, someone else refused, stop;
#   purge of both, and nothing left but what Debian policy keeps (the firedrill
#   user and group).
# Nothing is cached across runs. proc and dev are mounted into the root and unmounted
# on every path out.
#
#   deploy/debian/test-install.sh BUILD_DIR
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:?usage: test-install.sh BUILD_DIR}")
[ "$(id -u)" = 0 ] || { echo "test-install: needs root (chroot, mounts)" >&2; exit 1; }
for tool in mmdebstrap chroot unshare findmnt; do
  command -v "$tool" >/dev/null || { echo "test-install: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$build/test-install-$$
root=$work/root
mounts=()
serve_pid=
cleanup() {
  local rc=$?
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  local i
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true; done
  if findmnt -rn -o TARGET | grep -q "^$root"; then
    echo "test-install: something is still mounted under $root; left in place" >&2
    rc=1
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
step() { echo "== $(date -u +%T) $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }

step "packages"
"$repo/scripts/package.sh" --build "$build" --lintian
mkdir -p "$work"

# The Debian mirror this machine's apt uses (deb822 or one-line sources).
mirror=$(sed -n 's/^URIs: *\(.*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*\/debian\)\/\? bookworm .*/\2/p' \
                             /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

step "bookworm from $mirror"
t0=$(date +%s)
mmdebstrap --quiet --variant=apt --skip=cleanup/apt/lists bookworm "$root" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
  { tail -20 "$work/mmdebstrap.log" >&2; fail "mmdebstrap"; }
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
mount --bind /dev "$root/dev"; mounts+=("$root/dev")
cp /etc/resolv.conf "$root/etc/resolv.conf"

# What the fresh system holds, to compare with what the purge leaves.
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./run -o -path ./var/lib/dpkg \
     -o -path ./var/lib/apt -o -path ./var/cache -o -path ./var/log \) -prune -o -print | sort)
}
snapshot >"$work/before"

step "apt install both packages"
cp "$build"/deb/firedrill-agent_*.deb "$build"/deb/firedrill_*.deb "$root/tmp/"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/*.deb' \
  >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; fail "apt-get install"; }
echo "installed in $(( $(date +%s) - t0 )) s from an empty directory"

step "run them"
version=$(in_root firedrill --version 2>&1) || fail "firedrill --version: $version"
echo "$version" | grep -q "0\.[0-9]" || fail "firedrill --version says: $version"
features=$(in_root firedrill-agent features 2>&1) || fail "firedrill-agent features: $features"
echo "$features" | grep -q "^kernel " || fail "firedrill-agent features says: $features"
in_root firedrill-agent --config /etc/firedrill/agent.yaml --print-config >/dev/null || fail "agent.yaml does not load"
[ -f "$root/etc/firedrill/tls/ca.pem" ] || fail "postinst made no CA"
[ "$(in_root stat -c %U:%a /etc/firedrill/tls/controller.key)" = firedrill:600 ] || fail "controller.key is not firedrill's, 0600"
[ "$(in_root stat -c %U:%a /var/lib/firedrill)" = firedrill:700 ] || fail "/var/lib/firedrill is not firedrill's, 0700"
grep -q '^/etc/firedrill/controller.yaml$' "$root/var/lib/dpkg/info/firedrill.conffiles" || fail "controller.yaml is no conffile"
grep -q '^/etc/firedrill/agent.yaml$' "$root/var/lib/dpkg/info/firedrill-agent.conffiles" || fail "agent.yaml is no conffile"

# What systemd's RuntimeDirectory= would make, then the controller on its default
# configuration, as its user, in a network namespace of its own.
in_root sh -c 'install -d -o firedrill -g firedrill -m 0750 /run/firedrill && useradd -M -G firedrill op && useradd -M outsider'
unshare --net chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin runuser -u firedrill -- \
  firedrill serve --config /etc/firedrill/controller.yaml >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [ -S "$root/run/firedrill/controller.sock" ] && break; sleep 0.2; done
[ -S "$root/run/firedrill/controller.sock" ] || { cat "$work/serve.log" >&2; fail "the controller did not start"; }
[ "$(in_root stat -c %G:%a /run/firedrill/controller.sock)" = firedrill:660 ] || fail "API socket is not firedrill:0660"
in_root runuser -u op -- firedrill agents >"$work/op.log" 2>&1 || { cat "$work/op.log" >&2; fail "an operator cannot use the API"; }
if in_root runuser -u outsider -- firedrill agents >"$work/outsider.log" 2>&1; then fail "a non-operator used the API"; fi
# runuser passes the TERM on and reports the session killed; the controller's own
# last line says whether it stopped cleanly.
kill -TERM "$serve_pid"; wait "$serve_pid" || true
grep -q "\[controller\] bye" "$work/serve.log" || fail "the controller did not stop cleanly: $(cat "$work/serve.log")"
serve_pid=
grep -q "ready" "$work/serve.log" || fail "no ready line: $(cat "$work/serve.log")"
in_root sh -c 'userdel op && userdel outsider && rm -rf /run/firedrill'

step "purge"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q firedrill firedrill-agent' >>"$work/apt.log" 2>&1 ||
  { tail -30 "$work/apt.log" >&2; fail "apt-get purge"; }
snapshot >"$work/after"
# Added paths that no installed package owns (the dependencies apt pulled in stay
# installed, as they would for a user) are what the purge left behind; the backups
# and id ranges of the user database come with the kept user; /etc/localtime and
# /etc/timezone are made by the postinst of tzdata, a dependency that stays.
# (bookworm is merged-/usr: dpkg's /lib/x is on disk as /usr/lib/x.)
cat "$root"/var/lib/dpkg/info/*.list | sed 's#^#.#; p; s#^\./\(bin\|sbin\|lib\|lib64\)/#./usr/\1/#' | sort -u >"$work/owned"
mapfile -t left < <(comm -13 "$work/before" "$work/after" | comm -23 - "$work/owned" |
                    grep -Ev '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|^\./etc/(localtime|timezone)$' | sed 's|^\.||')
# Debian policy keeps the system user and group (files it owned may remain elsewhere).
grep -q '^firedrill:' "$root/etc/passwd" || fail "the firedrill user was removed (policy keeps it)"
if [ ${#left[@]} -gt 0 ]; then
  printf '  %s\n' "${left[@]}" >&2
  fail "the purge left ${#left[@]} path(s)"
fi
step "ok: installed, ran, purged; nothing left but the firedrill user and group ($(( $(date +%s) - t0 )) s)"
