#!/usr/bin/env python3
"""Checks a firedrill evidence report without firedrill: an auditor's second opinion.

    scripts/verify-evidence.py REPORT.json|REPORT.html [--key CONTROLLER.pub]

Uses only Python's standard library and the `openssl` command (for Ed25519). It
recomputes every event hash over the canonical JSON that firedrill documents
(controller/evidence/canonical.h: sorted keys, no whitespace, UTF-8, minimal escapes),
checks that each event links to the one before it, that the last hash is the signed
head, that the seal's Ed25519 signature verifies with the key it carries (and that this
key is --key, when given), and that every finding record matches its hash and
signature. It does not re-derive the report's summary; `firedrill report verify` does.
Exit status: 0 verified, 1 a problem was found, 2 the file could not be read.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ZERO = "0" * 64
# DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def fingerprint(pem):
    body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
    der = base64.b64decode(body)
    if not der.startswith(ED25519_SPKI_PREFIX) or len(der) != len(ED25519_SPKI_PREFIX) + 32:
        raise ValueError("not an Ed25519 public key")
    return "sha256:" + hashlib.sha256(der[len(ED25519_SPKI_PREFIX):]).hexdigest()


def ed25519_verify(pem, message, signature):
    with tempfile.TemporaryDirectory(prefix="fdv-verify-") as d:
        paths = {}
        for name, data in (("key.pem", pem.encode()), ("msg", message), ("sig", signature)):
            paths[name] = os.path.join(d, name)
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["key.pem"], "-rawin",
                            "-in", paths["msg"], "-sigfile", paths["sig"]], capture_output=True, timeout=30)
        return r.returncode == 0


def load(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    if text.lstrip().startswith("<"):
        start_tag = '<script type="application/json" id="firedrill-evidence">'
        a = text.find(start_tag)
        b = text.find("</script>", a + len(start_tag)) if a >= 0 else -1
        if a < 0 or b < 0:
            raise ValueError("the page holds no complete embedded evidence (truncated or not a report)")
        text = text[a + len(start_tag):b]
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e}); a file that stops early is truncated")


def verify(doc, expected_fpr):
    problems = []
    ev = doc.get("evidence") or {}
    run = ev.get("run", "")
    events = ev.get("events") or []
    if not events:
        return ["the report carries no events"]
    prev = ZERO
    for i, e in enumerate(events):
        seq = e.get("seq")
        if seq != i + 1:
            problems.append(f"event at position {i + 1} has seq {seq}: events were removed or reordered")
        body = {k: v for k, v in e.items() if k != "hash"}
        if hashlib.sha256(canonical(body)).hexdigest() != e.get("hash"):
            problems.append(f"event {seq} ({e.get('kind')}) was changed: its content does not match its hash")
        if e.get("prev") != prev:
            problems.append(f"event {seq} does not link to the event before it")
        if e.get("run") != run:
            problems.append(f"event {seq} belongs to run {e.get('run')!r}, not {run!r}")
        prev = e.get("hash")
    seal = ev.get("seal") or {}
    st = seal.get("statement") or {}
    if st.get("events") != events[-1].get("seq") or st.get("head") != events[-1].get("hash"):
        problems.append(f"the signed head covers {st.get('events')} events ending in {str(st.get('head'))[:16]}, "
                        f"the file has {len(events)} ending in {str(events[-1].get('hash'))[:16]}")
    pem = seal.get("public_key", "")
    try:
        fpr = fingerprint(pem)
    except ValueError as e:
        return problems + [f"the seal's public key: {e}"]
    if fpr != st.get("key"):
        problems.append(f"the seal names key {st.get('key')} but carries {fpr}")
    if not ed25519_verify(pem, canonical(st), base64.b64decode(seal.get("signature", ""))):
        problems.append(f"the seal's signature does not verify with key {fpr}")
    if expected_fpr and fpr != expected_fpr:
        problems.append(f"signed by another key: {fpr}, expected {expected_fpr}")
    for f in ev.get("findings") or []:
        rec = f.get("record") or {}
        name = f"finding {rec.get('id')} rev {rec.get('rev')}"
        data = canonical(rec)
        if hashlib.sha256(data).hexdigest() != f.get("hash"):
            problems.append(f"{name} was changed: its content does not match its hash")
            continue
        fpem = f.get("public_key", "")
        if fingerprint(fpem) != rec.get("key") or not ed25519_verify(fpem, data, base64.b64decode(f.get("signature", ""))):
            problems.append(f"{name}: its signature does not verify")
        elif expected_fpr and rec.get("key") != expected_fpr:
            problems.append(f"{name} is signed by another key: {rec.get('key')}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--key", help="PEM public key the report must be signed by (firedrill keys export)")
    args = ap.parse_args()
    try:
        doc = load(args.report)
        expected = None
        if args.key:
            with open(args.key) as f:
                expected = fingerprint(f.read())
    except (OSError, ValueError) as e:
        print(f"verify-evidence: {args.report}: {e}", file=sys.stderr)
        return 2
    problems = verify(doc, expected)
    events = (doc.get("evidence") or {}).get("events") or []
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        print(f"NOT VERIFIED: {len(problems)} problem(s)")
        return 1
    head = events[-1]["hash"]
    print(f"VERIFIED: {len(events)} events, head {head}, signed by {doc['evidence']['seal']['statement']['key']}"
          + ("" if expected else " (signer not pinned: pass --key)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
