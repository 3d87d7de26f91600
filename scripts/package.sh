#!/usr/bin/env bash
# Builds firedrill's two Debian packages with debhelper from a CMake build:
#   firedrill-agent  the agent, its systemd unit, /etc/firedrill/agent.yaml
#   firedrill        the controller and CLI, its unit, /etc/firedrill/controller.yaml,
#                    the firedrill system user (postinst)
# The .deb files land in BUILD/deb/. Dependencies come from dpkg-shlibdeps.
#
#   scripts/package.sh [--build DIR] [--lintian]
#     --build DIR   the CMake build directory (default: build); configured and the
#                   two binaries built if needed
#     --lintian     run lintian on the result; its errors fail the script
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
run_lintian=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(realpath -m "$2"); shift 2 ;;
    --lintian) run_lintian=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for tool in dpkg-buildpackage dh dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

# The package's version is the project's: a changelog that says otherwise is stale.
project_version=$(sed -n 's/^project(firedrill VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
changelog_version=$(sed -n '1s/^firedrill (\([^)]*\)).*/\1/p' "$root/deploy/debian/changelog")
if [ "$project_version" != "$changelog_version" ]; then
  echo "package.sh: deploy/debian/changelog is at $changelog_version, the project at $project_version" >&2
  exit 1
fi

[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target firedrill firedrill-agent

out=$build/deb
src=$out/firedrill-$project_version
rm -rf "$out"
mkdir -p "$src"
cp -r "$root/deploy/debian" "$src/debian"
cp "$root/deploy/systemd/firedrill-agent.service" "$src/debian/firedrill-agent.service"
cp "$root/deploy/systemd/firedrill.service" "$src/debian/firedrill.service"
cp "$root/deploy/README.md" "$src/README.md"
echo README.md > "$src/debian/firedrill.docs"
echo README.md > "$src/debian/firedrill-agent.docs"

# Binary packages only, unsigned; no -dbgsym packages (the build keeps its symbols).
(cd "$src" && FIREDRILL_BUILD="$build" DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" \
   dpkg-buildpackage -b -uc -us >"$out/dpkg-buildpackage.log" 2>&1) || {
  tail -40 "$out/dpkg-buildpackage.log" >&2
  echo "package.sh: dpkg-buildpackage failed (log: $out/dpkg-buildpackage.log)" >&2
  exit 1
}
rm -rf "$src"

if [ "$run_lintian" = 1 ]; then
  lintian --fail-on error "$out"/*.changes
fi
ls -1 "$out"/*.deb
