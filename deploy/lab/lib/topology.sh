# shellcheck shell=bash disable=SC2034
# The lab fleet's topology: hosts, addresses, and which services each host runs in
# each placement. Sourced by lab.sh, boot-host.sh and bin/lab-redis; defines only
# variables and functions.
#
#   dc pangyo    10.210.0.0/16  bridge <lab>-br-pg    racks p1 (10.210.1.x), p2 (10.210.2.x)
#   dc chuncheon 10.211.0.0/16  bridge <lab>-br-cc    racks c1 (10.211.1.x), c2 (10.211.2.x)
#   ops          10.212.0.0/24  bridge <lab>-br-ops   haproxy, dns, probes, controller
#   management   10.212.255.0/24 bridge <lab>-br-mgmt every host's mgmt0 and ops; not routed
#
# The three data networks meet in one router (the fabric namespace, which also holds
# the bridges); it has no link to anything outside the lab and no namespace has a
# default route. The management network is a separate L2 segment, like a BMC network:
# agents reach the controller over it, so a blackholed data interface keeps its agent.

# name dc rack data-ip mgmt-ip
FDL_HOSTS=(
  "p1-h1 pangyo    p1 10.210.1.11 10.212.255.11"
  "p1-h2 pangyo    p1 10.210.1.12 10.212.255.12"
  "p2-h1 pangyo    p2 10.210.2.11 10.212.255.21"
  "p2-h2 pangyo    p2 10.210.2.12 10.212.255.22"
  "c1-h1 chuncheon c1 10.211.1.11 10.212.255.31"
  "c1-h2 chuncheon c1 10.211.1.12 10.212.255.32"
  "c2-h1 chuncheon c2 10.211.2.11 10.212.255.41"
  "c2-h2 chuncheon c2 10.211.2.12 10.212.255.42"
)
# `lab.sh up --controllers 2`: a controller in each data centre's ops segment, and the
# PostgreSQL they share in chuncheon's. These hosts exist only in that mode; each runs
# an agent too (tagged with its dc, rack ops-<dc>), so that a site's power loss cuts
# its controller's power as well.
FDL_CONTROLLER_HOSTS=(
  "pg-ops pangyo    pg-ops 10.210.0.10 10.212.255.2"
  "cc-ops chuncheon cc-ops 10.211.0.10 10.212.255.3"
)
FDL_PG_HOST=cc-ops
FDL_PG_PORT=5432
FDL_OPS_IP=10.212.0.10
FDL_OPS_MGMT_IP=10.212.255.1
FDL_MGMT_CIDR=10.212.255.0/24
# Router addresses on each data network (in the fabric namespace).
declare -A FDL_DC_NET=([pangyo]=10.210.0.0/16 [chuncheon]=10.211.0.0/16 [ops]=10.212.0.0/24)
declare -A FDL_DC_GW=([pangyo]=10.210.0.1 [chuncheon]=10.211.0.1 [ops]=10.212.0.1)
declare -A FDL_DC_PREFIX=([pangyo]=16 [chuncheon]=16 [ops]=24)
declare -A FDL_DC_BRIDGE=([pangyo]=br-pg [chuncheon]=br-cc [ops]=br-ops)

FDL_REDIS_PORT=6379
FDL_SENTINEL_PORT=26379
FDL_WEB_PORT=8080
FDL_HAPROXY_PORT=80
FDL_MASTER_NAME=fdl
FDL_CONTROLLER_PORT=7443
# The lab's resolver (dnsmasq in ops) answers for <host>.lab and the service names;
# web services resolve redis.lab through it.
FDL_DNS_DOMAIN=lab
FDL_DNS_PORT=53
# /metrics: every agent on its management address, the controller on ops's; HAProxy's
# built-in exporter and the lab's Prometheus on the ops data network.
FDL_AGENT_METRICS_PORT=9464
FDL_CONTROLLER_METRICS_PORT=9465
FDL_HAPROXY_METRICS_PORT=8405
FDL_PROMETHEUS_PORT=9090

FDL_PLACEMENTS="single-site two-site"

# Services of a host ("ops" included) in a placement, one per line:
#   redis-primary | redis-replica | sentinel | web | haproxy | prometheus | dns
# single-site: the 2022 design. Primary and replica both in pangyo, two of the three
#   Sentinels in pangyo: redundancy, but inside one site.
# two-site: primary in pangyo, replica in chuncheon, one Sentinel in each site and one
#   in ops, so that two of three survive the loss of either site.
# Both: the stateless web service on the second host of every rack behind HAProxy in ops,
# a Prometheus in ops that scrapes the agents, the controller and HAProxy, and the
# lab's resolver in ops.
fdl_services() {
  local placement=$1 host=$2
  case "$placement/$host" in
    single-site/p1-h1) echo redis-primary ;;
    single-site/p2-h1) echo redis-replica ;;
    single-site/p1-h2 | single-site/p2-h2 | single-site/c1-h2) echo sentinel ;;
    two-site/p1-h1) echo redis-primary ;;
    two-site/c1-h1) echo redis-replica ;;
    two-site/p2-h1 | two-site/c2-h1 | two-site/ops) echo sentinel ;;
  esac
  case "$host" in
    p1-h2 | p2-h2 | c1-h2 | c2-h2) echo web ;;
    ops) echo haproxy; echo prometheus; echo dns ;;
    pg-ops) echo controller ;;
    cc-ops) echo postgres; echo controller ;;
  esac
}

# Fields of a host line: fdl_host_field p1-h1 ip
fdl_host_field() {
  local want=$1 field=$2 name dc rack ip mgmt
  if [ "$want" = ops ]; then
    case "$field" in
      dc) echo ops ;; rack) echo ops ;; ip) echo "$FDL_OPS_IP" ;; mgmt) echo "$FDL_OPS_MGMT_IP" ;;
    esac
    return 0
  fi
  for line in "${FDL_HOSTS[@]}" "${FDL_CONTROLLER_HOSTS[@]}"; do
    read -r name dc rack ip mgmt <<<"$line"
    if [ "$name" = "$want" ]; then
      case "$field" in
        dc) echo "$dc" ;; rack) echo "$rack" ;; ip) echo "$ip" ;; mgmt) echo "$mgmt" ;;
      esac
      return 0
    fi
  done
  return 1
}

fdl_host_names() {
  local line
  for line in "${FDL_HOSTS[@]}"; do echo "${line%% *}"; done
}

# The controllers' hosts (--controllers 2), pangyo's first.
fdl_controller_host_names() {
  local line
  for line in "${FDL_CONTROLLER_HOSTS[@]}"; do echo "${line%% *}"; done
}

# Hosts (and ops) running a service in a placement.
fdl_hosts_with() {
  local placement=$1 service=$2 h
  for h in $(fdl_host_names) ops; do
    if fdl_services "$placement" "$h" | grep -qx "$service"; then echo "$h"; fi
  done
}

# "ip:port" of every Sentinel of a placement, ops first: the order a client asks them in.
fdl_sentinel_addrs() {
  local placement=$1 h
  for h in $(fdl_hosts_with "$placement" sentinel | grep -x ops; fdl_hosts_with "$placement" sentinel | grep -vx ops); do
    echo "$(fdl_host_field "$h" ip):$FDL_SENTINEL_PORT"
  done
}
