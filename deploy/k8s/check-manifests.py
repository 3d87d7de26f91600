#!/usr/bin/env python3
"""Offline checks of deploy/k8s (no cluster and no kubectl schema here): every
document parses and names apiVersion, kind and metadata; selectors match their pod
templates and the Service; every volumeMount has its volume; the agent runs with host
network and PID, the cgroup tree mounted, capabilities dropped but exactly those of
its systemd unit's CapabilityBoundingSet; the controller runs as non-root without
capabilities; and the configuration files in the ConfigMaps load through the real
binaries' --config loader (--print-config).

    deploy/k8s/check-manifests.py BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def load():
    docs = []
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".yaml"):
            with open(os.path.join(HERE, name)) as f:
                for doc in yaml.safe_load_all(f):
                    if doc is not None:
                        docs.append((name, doc))
    return docs


def pod_checks(where, kind, doc):
    spec = doc["spec"]
    template = spec["template"]
    labels = template["metadata"].get("labels", {})
    for k, v in spec["selector"]["matchLabels"].items():
        check(labels.get(k) == v, f"{where}: selector {k}={v} does not match the pod template")
    pod = template["spec"]
    volumes = {v["name"] for v in pod.get("volumes", [])}
    volumes |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    for c in pod["containers"]:
        check("image" in c, f"{where}: container {c['name']} has no image")
        for m in c.get("volumeMounts", []):
            check(m["name"] in volumes, f"{where}: mount {m['name']} has no volume")
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: the root file system is writable")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities are not dropped")
        check("privileged" not in sc or sc["privileged"] is False, f"{where}: privileged")
    return pod


def unit_capabilities():
    with open(os.path.join(HERE, "..", "systemd", "firedrill-agent.service")) as f:
        m = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M)
    return sorted(c.removeprefix("CAP_") for c in m.group(1).split())


def loads(argv, text, what):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run(argv + ["--config", f.name, "--print-config"], capture_output=True, text=True)
        check(r.returncode == 0, f"{what} does not load: {r.stdout}{r.stderr}")


def main():
    build = sys.argv[1]
    docs = load()
    by_kind = {}
    for name, doc in docs:
        for key in ("apiVersion", "kind", "metadata"):
            check(key in doc, f"{name}: a document without {key}")
        kind, meta = doc.get("kind"), doc.get("metadata", {})
        check("name" in meta, f"{name}: {kind} without a name")
        if kind != "Namespace":
            check(meta.get("namespace") == "firedrill", f"{name}: {kind} {meta.get('name')} not in namespace firedrill")
        by_kind.setdefault(kind, {})[meta.get("name")] = doc

    ds = by_kind["DaemonSet"]["firedrill-agent"]
    pod = pod_checks("DaemonSet firedrill-agent", "DaemonSet", ds)
    check(pod.get("hostNetwork") is True, "agent: no host network")
    check(pod.get("hostPID") is True, "agent: no host PID namespace")
    c = pod["containers"][0]
    caps = sorted(c["securityContext"]["capabilities"]["add"])
    check(caps == unit_capabilities(), f"agent: capabilities {caps} are not the unit's {unit_capabilities()}")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    check("/sys/fs/cgroup" in mounts, "agent: the cgroup tree is not mounted")
    check("/var/lib/firedrill-agent" in mounts, "agent: the state directory is not mounted")
    check(c["args"][:2] == ["--config", "/etc/firedrill/agent.yaml"] and "/etc/firedrill/agent.yaml" in mounts,
          "agent: --config is not the mounted agent.yaml")

    sts = by_kind["StatefulSet"]["firedrill-controller"]
    pod = pod_checks("StatefulSet firedrill-controller", "StatefulSet", sts)
    check(pod["securityContext"].get("runAsNonRoot") is True, "controller: may run as root")
    check(not pod["containers"][0]["securityContext"]["capabilities"].get("add"), "controller: adds capabilities")
    svc = by_kind["Service"]["firedrill-controller"]
    check(sts["spec"]["serviceName"] == "firedrill-controller", "controller: serviceName is not the Service")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for k, v in svc["spec"]["selector"].items():
        check(labels.get(k) == v, f"Service selector {k}={v} matches no controller pod")
    ports = {p["containerPort"] for p in pod["containers"][0]["ports"]}
    for p in svc["spec"]["ports"]:
        check(p["targetPort"] in ports, f"Service port {p['targetPort']} is not a controller port")

    loads([os.path.join(build, "agent", "firedrill-agent")],
          by_kind["ConfigMap"]["firedrill-agent"]["data"]["agent.yaml"], "ConfigMap firedrill-agent agent.yaml")
    loads([os.path.join(build, "controller", "firedrill"), "serve"],
          by_kind["ConfigMap"]["firedrill-controller"]["data"]["controller.yaml"],
          "ConfigMap firedrill-controller controller.yaml")

    for e in errors:
        print("check-manifests:", e, file=sys.stderr)
    if not errors:
        print(f"check-manifests: {len(docs)} documents ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
