#!/usr/bin/env bash
# Follows deploy/README.md on two fresh Debian 12 hosts, from the packages to an
# enrolled agent connected to its controller, then purges both:
#
#   - one minimal bookworm (mmdebstrap --variant=apt) under BUILD_DIR, copied into two
#     roots, "controller" and "agent" (one bootstrap serves both);
#   - each host in a network namespace of its own, the two joined by a veth pair that
#     the test makes inside them (eth0 on both sides; 10.9.0.1/24 and 10.9.0.21/24,
#     the README's example addresses; no route out, nothing on the machine's own
#     interfaces), and a UTS namespace with its own host name;
#   - the README's blocks marked `<!-- install-test: HOST [online] [token] [agents] -->`
#     are run as written, in order, by bash in the named root (stdout and stderr in
#     the test's log). `online` blocks (apt install: dependencies come from the
#     Debian mirror this machine's apt uses) run in the machine's network, the others
#     in the host's namespace; the last line a `token` block prints is the join token,
#     given to the agent's blocks as $TOKEN; an `agents` block is the controller's
#     listing, rerun (at most 60 times, 0.5 s apart) until it shows the agent
#     `p1-h1` live with its tags;
#   - both stopped, both packages purged, and nothing left on either host but what
#     Debian policy keeps (the firedrill user and group).
#
# What a chroot cannot do: systemd is not PID 1, so units cannot run. In the blocks,
# `systemctl start|restart|stop|status UNIT` is a shell function of this test that
# does what the installed unit says, read from its file: its RuntimeDirectory= and
# StateDirectory= made for its User=/Group= with their modes, its ExecStart= run as
# that user with the unit's CapabilityBoundingSet= and NoNewPrivileges=, detached, its
# log in /var/log/UNIT.log of that root; started once its "ready" line is logged (as
# Type=notify waits for READY=1). The rest of the unit's sandbox (ProtectSystem=,
# PrivateTmp=, the syscall filter...) is not applied; deploy/systemd/check-units.sh
# verifies the units themselves. apt is told to assume yes (a user answers its
# question); the .deb files wait in /tmp, the directory the blocks start in.
#
# Mounts, each in a mount namespace of the block that makes it (unshare --mount with
# slave propagation), so that none reaches the machine's and all go with the last
# process in them: proc and a bind of /dev in both roots; in the agent's, while it
# runs, a fresh read-only sysfs (the kernel's BTF, of its own network namespace) and
# a read-only cgroup2 (the agent finds the cgroup tree at start; faults, which write
# it, are not made here, so `features` says no to cgroup_kill and cgroup_freeze).
# No /sys/fs/bpf: the agent pins nothing.
# Cleanup on every path out: the daemons (by the pid each start wrote, checked to be
# in our root, then any process left in our roots), the two namespaces (and the veth
# with them), the work directory; not after a SIGKILL of this script.
#
#   deploy/debian/test-install.sh BUILD_DIR
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:?usage: test-install.sh BUILD_DIR}")
readme=$repo/deploy/README.md
[ "$(id -u)" = 0 ] || { echo "test-install: needs root (chroot, mounts, namespaces)" >&2; exit 1; }
for tool in mmdebstrap chroot unshare findmnt ip; do
  command -v "$tool" >/dev/null || { echo "test-install: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$build/test-install-$$
hosts=(controller agent)
declare -A netns=([controller]=fdi-ctl-$$ [agent]=fdi-agt-$$)
declare -A address=([controller]=10.9.0.1/24 [agent]=10.9.0.21/24)
made_ns=()
step() { echo "== $(date -u +%T) $*"; }
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }

# The daemons a block started: each start wrote its pid in /run/install-test.UNIT.pid
# of its root; only a process whose root is that root is signalled.
stop_daemons() {
  local host pidfile pid _
  for host in "${hosts[@]}"; do
    for pidfile in "$work/$host"/run/install-test.*.pid; do
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$work/$host" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$pidfile"
    done
  done
  # Whatever they left running in our roots (a worker whose watcher was killed).
  local proc
  for proc in /proc/[0-9]*; do
    case $(readlink "$proc/root" 2>/dev/null) in "$work"/*) kill -KILL "${proc#/proc/}" 2>/dev/null || true ;; esac
  done
}
cleanup() {
  local rc=$? ns
  stop_daemons
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if findmnt -rn -o TARGET | grep -q "^$work"; then
    echo "test-install: something is still mounted under $work; left in place" >&2
    rc=1
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT

# The README's marked blocks: block_host[i], block_flags[i], block_text[i].
block_host=(); block_flags=(); block_text=()
marker='^<!-- install-test: ([a-z]+)(( [a-z]+)*) -->$'
in_block=0; want_fence=0; line_no=0
while IFS= read -r line; do
  line_no=$((line_no + 1))
  if [ $in_block = 1 ]; then
    if [ "$line" = '```' ]; then in_block=0; else block_text[-1]+="$line"$'\n'; fi
  elif [ $want_fence = 1 ]; then
    [ "$line" = '```sh' ] || fail "$readme:$line_no: an install-test marker must be followed by a \`\`\`sh block"
    want_fence=0; in_block=1
  elif [[ $line =~ $marker ]]; then
    [ -n "${netns[${BASH_REMATCH[1]}]:-}" ] || fail "$readme:$line_no: no host '${BASH_REMATCH[1]}' (controller or agent)"
    block_host+=("${BASH_REMATCH[1]}"); block_flags+=("${BASH_REMATCH[2]# }"); block_text+=(""); want_fence=1
  fi
done <"$readme"
if [ $in_block != 0 ] || [ $want_fence != 0 ]; then fail "$readme: the last install-test block is not closed"; fi
[ ${#block_host[@]} -ge 6 ] || fail "$readme: ${#block_host[@]} install-test blocks (expected the install, token, enroll and start steps)"

step "packages"
"$repo/scripts/package.sh" --build "$build" --lintian
mkdir -p "$work"
mapfile -t debs < <(grep -o '\./firedrill[a-z-]*_[^ ]*\.deb' <<<"${block_text[*]}")
for deb in "${debs[@]}"; do
  [ -f "$build/deb/${deb#./}" ] || fail "deploy/README.md installs $deb, which scripts/package.sh did not make ($(ls "$build/deb"))"
done

# The Debian mirror this machine's apt uses (deb822 or one-line sources).
mirror=$(sed -n 's/^URIs: *\(.*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*\/debian\)\/\? bookworm .*/\2/p' \
                             /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

step "bookworm from $mirror"
t0=$(date +%s)
mmdebstrap --quiet --variant=apt --skip=cleanup/apt/lists bookworm "$work/controller" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
  { tail -20 "$work/mmdebstrap.log" >&2; fail "mmdebstrap"; }
cp /etc/resolv.conf "$work/controller/etc/resolv.conf"
echo 'APT::Get::Assume-Yes "true";' >"$work/controller/etc/apt/apt.conf.d/90assume-yes"

# What a fresh system holds, to compare with what the purge leaves.
snapshot() {
  (cd "$1" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./run -o -path ./var/lib/dpkg \
     -o -path ./var/lib/apt -o -path ./var/cache -o -path ./var/log \) -prune -o -print | sort)
}
snapshot "$work/controller" >"$work/before"
cp -a "$work/controller" "$work/agent"
cp "$build"/deb/firedrill_*.deb "$work/controller/tmp/"
cp "$build"/deb/firedrill-agent_*.deb "$work/agent/tmp/"
echo "two roots in $(( $(date +%s) - t0 )) s"

step "networks: ${netns[controller]} ${address[controller]} <-veth-> ${netns[agent]} ${address[agent]}"
for host in "${hosts[@]}"; do ip netns add "${netns[$host]}"; made_ns+=("${netns[$host]}"); done
ip -n "${netns[controller]}" link add eth0 type veth peer name eth0 netns "${netns[agent]}"
for host in "${hosts[@]}"; do
  ip -n "${netns[$host]}" addr add "${address[$host]}" dev eth0
  ip -n "${netns[$host]}" link set eth0 up
  ip -n "${netns[$host]}" link set lo up
done

# systemctl, as the installed unit would have systemd do it (see the header).
read -r -d '' systemctl_fn <<'FN' || true
systemctl() {
  local verb=$1 unit=${2%.service} file user group dir mode caps bound c pid _
  file=/lib/systemd/system/$unit.service
  [ -f "$file" ] || { echo "systemctl: no unit $unit ($file)" >&2; return 5; }
  key() { sed -n "s/^$1=//p" "$file" | tail -1; }
  pid=$(cat "/run/install-test.$unit.pid" 2>/dev/null || true)
  case $verb in
    stop|restart|start)
      if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        ! kill -0 "$pid" 2>/dev/null || { echo "systemctl: $unit did not stop" >&2; return 1; }
        rm -f "/run/install-test.$unit.pid"
      fi
      [ "$verb" != stop ] || return 0
      user=$(key User); user=${user:-root}; group=$(key Group); group=${group:-$user}
      mode=$(key RuntimeDirectoryMode)
      for dir in $(key RuntimeDirectory); do install -d -o "$user" -g "$group" -m "${mode:-0755}" "/run/$dir"; done
      mode=$(key StateDirectoryMode)
      for dir in $(key StateDirectory); do install -d -o "$user" -g "$group" -m "${mode:-0755}" "/var/lib/$dir"; done
      bound=-all
      for c in $(key CapabilityBoundingSet); do c=${c#CAP_}; bound+=",+${c,,}"; done
      local nnp=(); [ "$(key NoNewPrivileges)" != yes ] || nnp=(--no-new-privs)
      # shellcheck disable=SC2046 # ExecStart= is split into words, as systemd does
      ( [ -z "$(key UMask)" ] || umask "$(key UMask)"; exec setsid setpriv --reuid="$user" --regid="$group" --init-groups \
          --bounding-set="$bound" "${nnp[@]}" $(key ExecStart) </dev/null >"/var/log/$unit.log" 2>&1 ) &
      pid=$!
      echo "$pid" >"/run/install-test.$unit.pid"
      for _ in $(seq 150); do
        grep -qsw ready "/var/log/$unit.log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      echo "systemctl: $unit did not become ready:" >&2; cat "/var/log/$unit.log" >&2; return 1 ;;
    status)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$unit.service: active (running), main pid $pid"; tail -3 "/var/log/$unit.log"
      else
        echo "$unit.service: inactive"; return 3
      fi ;;
    *) echo "systemctl: '$verb' is not done here" >&2; return 1 ;;
  esac
}
FN

# Runs a script (stdin) on a host: in its root, with its mounts, in its network
# namespace unless online. Extra mounts for the agent when its daemon may run.
run_on() {
  local host=$1 online=$2 root=$work/$1 script
  script=$(mktemp -p "$root/tmp" step.XXXXXX)
  { printf '%s\n' "$systemctl_fn" 'set -e -o pipefail; cd /tmp; set -v'; cat; } >"$script"
  local mounts="mount -t proc proc '$root/proc' && mount --bind /dev '$root/dev' && hostname $host"
  if [ "$host" = agent ] && [ "$online" = 0 ]; then
    mounts+=" && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs '$root/sys'"
    mounts+=" && mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 '$root/sys/fs/cgroup'"
  fi
  local pre=(); [ "$online" = 1 ] || pre=(ip netns exec "${netns[$host]}")
  "${pre[@]}" unshare --mount --propagation slave --uts -- sh -c "$mounts && exec chroot '$root' \
      /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
      TOKEN='${TOKEN:-}' bash '/tmp/${script##*/}'"
  local rc=$?
  rm -f "$script"
  return $rc
}

TOKEN=
for i in "${!block_host[@]}"; do
  host=${block_host[$i]}; flags=" ${block_flags[$i]} "
  online=0; [[ $flags != *" online "* ]] || online=1
  step "README block $((i + 1)) on the $host host${block_flags[$i]:+ (${block_flags[$i]})}"
  if [[ $flags == *" agents "* ]]; then
    for attempt in $(seq 60); do
      out=$(run_on "$host" 0 <<<"${block_text[$i]}" 2>&1) || fail "the controller's agent listing failed: $out"
      grep -Eq '^p1-h1 +yes +dc=pangyo,rack=p1 ' <<<"$out" && break
      [ "$attempt" -lt 60 ] || { echo "$out"; cat "$work/agent/var/log/firedrill-agent.log" >&2; fail "the agent p1-h1 is not live on the controller"; }
      sleep 0.5
    done
    echo "$out"
  elif [[ $flags == *" token "* ]]; then
    out=$(run_on "$host" "$online" <<<"${block_text[$i]}") || fail "README block $((i + 1)) failed"
    echo "$out"
    TOKEN=$(tail -1 <<<"$out")
    [[ $TOKEN == fdjoin1.* ]] || fail "the token block printed no token: $out"
  else
    run_on "$host" "$online" <<<"${block_text[$i]}" >"$work/block-$i.log" 2>&1 ||
      { cat "$work/block-$i.log" >&2; fail "README block $((i + 1)) on the $host host failed"; }
    if [ "$online" = 1 ]; then tail -3 "$work/block-$i.log"; else cat "$work/block-$i.log"; fi
  fi
done
echo "installed, enrolled and connected in $(( $(date +%s) - t0 )) s from an empty directory"

step "what the packages made"
ctl=$work/controller agt=$work/agent
run_on controller 0 <<'EOF' || fail "the controller host's files"
firedrill --version | grep -q '0\.[0-9]'
[ "$(stat -c %U:%a /etc/firedrill/tls/controller.key)" = firedrill:600 ]
[ "$(stat -c %U:%a /var/lib/firedrill)" = firedrill:700 ]
[ "$(stat -c %G:%a /run/firedrill/controller.sock)" = firedrill:660 ]
grep -qx /etc/firedrill/controller.yaml /var/lib/dpkg/info/firedrill.conffiles
useradd -M -G firedrill op && runuser -u op -- firedrill agents >/dev/null
useradd -M outsider && ! runuser -u outsider -- firedrill agents >/dev/null 2>&1
userdel op && userdel outsider
EOF
run_on agent 0 <<'EOF' || fail "the agent host's files"
[ "$(stat -c %a /var/lib/firedrill-agent)" = 700 ]
for f in agent.pem agent.key ca.pem; do [ "$(stat -c %U:%a /var/lib/firedrill-agent/$f)" = root:600 ]; done
grep -qx /etc/firedrill/agent.yaml /var/lib/dpkg/info/firedrill-agent.conffiles
EOF

step "stop both, purge both"
run_on agent 0 <<<'systemctl stop firedrill-agent' || fail "the agent did not stop"
run_on controller 0 <<<'systemctl stop firedrill' || fail "the controller did not stop"
grep -q "\[controller\] bye" "$ctl/var/log/firedrill.log" || fail "the controller did not stop cleanly: $(cat "$ctl/var/log/firedrill.log")"
for host in "${hosts[@]}"; do
  pkg=firedrill; [ "$host" = controller ] || pkg=firedrill-agent
  run_on "$host" 0 <<<"apt-get purge -q $pkg" >"$work/purge-$host.log" 2>&1 ||
    { tail -30 "$work/purge-$host.log" >&2; fail "apt-get purge on the $host host"; }
  snapshot "$work/$host" >"$work/after-$host"
  # Added paths that no installed package owns (the dependencies apt pulled in stay
  # installed, as they would for a user) are what the purge left behind; the backups
  # and id ranges of the user database come with the kept user; /etc/localtime and
  # /etc/timezone are made by the postinst of tzdata, a dependency that stays, and
  # /etc/ssl/certs, /etc/ca-certificates.conf and /usr/local/share/ca-certificates
  # by that of ca-certificates (a dependency recommends it, and apt installs what is
  # recommended), which stays too.
  # (bookworm is merged-/usr: dpkg's /lib/x is on disk as /usr/lib/x.)
  cat "$work/$host"/var/lib/dpkg/info/*.list | sed 's#^#.#; p; s#^\./\(bin\|sbin\|lib\|lib64\)/#./usr/\1/#' |
    sort -u >"$work/owned-$host"
  mapfile -t left < <(comm -13 "$work/before" "$work/after-$host" | comm -23 - "$work/owned-$host" |
                      grep -Ev '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|^\./etc/(localtime|timezone)$' |
                      grep -Ev '^\./etc/ssl/certs/[^/]+$|^\./etc/ca-certificates\.conf$|^\./usr/local/share/ca-certificates$' |
                      sed 's|^\.||')
  if [ ${#left[@]} -gt 0 ]; then
    printf '  %s\n' "${left[@]}" >&2
    fail "the purge left ${#left[@]} path(s) on the $host host"
  fi
done
# Debian policy keeps the system user and group (files it owned may remain elsewhere).
grep -q '^firedrill:' "$ctl/etc/passwd" || fail "the firedrill user was removed (policy keeps it)"
! grep -q '^firedrill:' "$agt/etc/passwd" || fail "the agent's package made a firedrill user"
step "ok: README followed on two hosts, agent enrolled and live, both purged; nothing left but the firedrill user and group ($(( $(date +%s) - t0 )) s)"
