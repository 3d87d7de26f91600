#!/bin/sh
# with-resolver.sh RESOLV_CONF MOUNTS_UNDER COMMAND [ARG...]: runs COMMAND with
# RESOLV_CONF bound over /etc/resolv.conf. Call it inside a mount namespace of the
# service's own (`unshare -m`): the machine's /etc/resolv.conf is never touched.
#
# A new mount namespace starts with a copy of every mount, the lab's Redis data file
# systems among them. Such a copy keeps a file system alive: a simulated power loss
# shuts the data file system down and, on restore, unmounts and mounts it again so
# that its journal replays; a copy held here would keep it shut down (the agent names
# the holders and refuses to call it restored). So this namespace drops every mount
# under MOUNTS_UNDER (the lab's host directories) before COMMAND starts: the service
# needs none of them.
set -eu
resolv=$1
under=$(realpath "$2")
shift 2
mount --bind "$resolv" /etc/resolv.conf
# Deepest first; lazily, as nothing here uses them. Mount points hold no blanks in the
# lab (mountinfo would escape them as \040).
awk -v d="$under/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
  while read -r m; do umount -l "$m"; done
exec "$@"
