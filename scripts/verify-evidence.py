#!/usr/bin/env python3
"""Checks a firedrill evidence report without firedrill: an auditor's second opinion.

    scripts/verify-evidence.py REPORT.json|REPORT.html --key CONTROLLER.pub | --keys KEYS.pem

Uses only Python's standard library and the `openssl` command (for Ed25519). It
recomputes every event hash over the canonical JSON that firedrill documents
(controller/evidence/canonical.h: sorted keys, no whitespace, UTF-8, minimal escapes),
checks that each event links to the one before it, that the last hash is the signed
head, that the seal's Ed25519 signature verifies, that each part seal of a run signed
in parts by several controllers (after a takeover) signs a head of this chain, that
every finding record matches its hash and signature, and that the report seal
(controller/evidence/chain.h) covers the findings shown (ids, revisions, heads), the
generation time and the generator. Every signature must be by a pinned key (--key, or
--keys with several: `firedrill keys export --all`), part seals included. It does not
re-derive the report's summary; `firedrill report verify` does.
Exit status: 0 verified, 1 a problem was found, 2 the file or key could not be read,
3 no problem but no key pinned (the signatures are valid for keys the report carries,
which anyone can make).
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


def pinned_keys(text):
    """Fingerprints of every PEM public key in a file."""
    out = []
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    at = 0
    while True:
        a = text.find(begin, at)
        if a < 0:
            break
        b = text.find(end, a)
        if b < 0:
            raise ValueError(f"key {len(out) + 1} has no END line (truncated file)")
        out.append(fingerprint(text[a:b + len(end)]))
        at = b + len(end)
    if not out:
        raise ValueError("holds no PEM public key")
    return out


def check_part_seals(ev, pinned):
    """A run continued at another controller after a takeover carries a seal for each
    earlier part (the last head its controller signed): each must be a head of this
    chain, signed by the key it names and, pinned, by a pinned key. Returns the problems
    and the signers part by part."""
    parts = ev.get("part_seals")
    if parts is None:
        return [], []
    if not isinstance(parts, list):
        return ["part_seals is not a list"], []
    run = ev.get("run", "")
    hash_at = {e.get("seq"): e.get("hash") for e in ev.get("events") or [] if isinstance(e, dict)}
    problems, signers, previous = [], [], 0
    for i, part in enumerate(parts, 1):
        what = f"part seal {i}"
        if not isinstance(part, dict) or not isinstance(part.get("statement"), dict):
            problems.append(f"{what} has no statement")
            continue
        st = part["statement"]
        upto = st.get("events")
        if st.get("type") != "firedrill-evidence-seal" or st.get("run") != run:
            problems.append(f"{what} is not a firedrill seal of run {run!r}")
        if not isinstance(upto, int) or upto <= previous:
            problems.append(f"{what} (events 1..{upto}) is out of order")
        else:
            previous = upto
        if upto not in hash_at or hash_at[upto] != st.get("head"):
            problems.append(f"{what} signs head {str(st.get('head'))[:16]} at event {upto}, which is not this chain's")
        try:
            fpr = fingerprint(part.get("public_key", ""))
        except ValueError as e:
            problems.append(f"{what}'s public key: {e}")
            continue
        if fpr != st.get("key") or not ed25519_verify(part.get("public_key", ""), canonical(st),
                                                      base64.b64decode(part.get("signature", ""))):
            problems.append(f"{what}'s signature does not verify with key {fpr}")
            continue
        if not signers or signers[-1] != fpr:
            signers.append(fpr)
        if pinned and fpr not in pinned:
            problems.append(f"{what} is signed by another key: {fpr}, the pinned key(s): {', '.join(pinned)}")
    return problems, signers


def findings_manifest(findings):
    by_id = {}
    for f in findings:
        if not isinstance(f, dict) or not isinstance(f.get("record"), dict):
            continue
        fid = f["record"].get("id", "")
        revs = by_id.get(fid, {}).get("revs", 0)
        by_id[fid] = {"id": fid, "revs": revs + 1, "head": f.get("hash", "")}
    return [by_id[k] for k in sorted(by_id)]


def check_report_seal(doc, ev, pinned):
    problems = []
    seal = doc.get("seal")
    if not isinstance(seal, dict) or not isinstance(seal.get("statement"), dict):
        return ["the report has no report seal: its findings, generation time and generator are not signed"]
    st = seal["statement"]
    pem = seal.get("public_key", "")
    try:
        fpr = fingerprint(pem)
    except ValueError as e:
        return [f"the report seal's public key: {e}"]
    if fpr != st.get("key") or not ed25519_verify(pem, canonical(st), base64.b64decode(seal.get("signature", ""))):
        return [f"the report seal's signature does not verify with key {fpr}"]
    if pinned and fpr not in pinned:
        problems.append(f"the report seal is signed by another key: {fpr}")
    est = (ev.get("seal") or {}).get("statement") or {}
    for field, have in (("run", ev.get("run")), ("events", est.get("events")), ("head", est.get("head"))):
        if st.get(field) != have:
            problems.append(f"the report seal covers {field} {st.get(field)!r}, the evidence has {have!r}")
    for field, words in (("generated_at", "generation time"), ("generator", "generator")):
        if st.get(field) != doc.get(field):
            problems.append(f"{words} changed: the file says {doc.get(field)!r}, the seal says {st.get(field)!r}")
    sealed = {f.get("id"): f for f in st.get("findings") or [] if isinstance(f, dict)}
    shown = {f["id"]: f for f in findings_manifest(ev.get("findings") or [])}
    for fid, f in sorted(sealed.items()):
        if fid not in shown:
            problems.append(f"finding {fid} was removed from the report")
        elif shown[fid] != f:
            problems.append(f"finding {fid} differs from the one the report was sealed with: sealed "
                            f"{f.get('revs')} revision(s), the file shows {shown[fid]['revs']}")
    for fid in sorted(set(shown) - set(sealed)):
        problems.append(f"finding {fid} was added to the report after it was sealed")
    return problems


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


def verify(doc, pinned):
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
    if pinned and fpr not in pinned:
        problems.append(f"signed by another key: {fpr}, the pinned key(s): {', '.join(pinned)}")
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
        elif pinned and rec.get("key") not in pinned:
            problems.append(f"{name} is signed by another key: {rec.get('key')}")
    part_problems, _ = check_part_seals(ev, pinned)
    return problems + part_problems + check_report_seal(doc, ev, pinned)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--key", help="PEM public key the report must be signed by (firedrill keys export)")
    ap.add_argument("--keys", help="file of PEM public keys, one of which must have signed the report")
    args = ap.parse_args()
    pinned = []
    for path in (args.key, args.keys):
        if not path:
            continue
        try:
            with open(path) as f:
                pinned += pinned_keys(f.read())
        except (OSError, ValueError) as e:
            print(f"verify-evidence: {path}: {e}", file=sys.stderr)
            return 2
    try:
        doc = load(args.report)
    except (OSError, ValueError) as e:
        print(f"verify-evidence: {args.report}: {e}", file=sys.stderr)
        return 2
    try:
        problems = verify(doc, pinned)
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        problems = [f"the report is malformed: {e}"]
    events = (doc.get("evidence") or {}).get("events") or []
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        print(f"NOT VERIFIED: {len(problems)} problem(s)")
        return 1
    head = events[-1]["hash"]
    signer = doc['evidence']['seal']['statement']['key']
    # Who signed, part by part: "A, then B".
    _, signers = check_part_seals(doc["evidence"], pinned)
    if signers and signers[-1] != signer:
        signers.append(signer)
    if len(signers) > 1:
        signer = ", then ".join(signers)
    if not pinned:
        print(f"SIGNATURE VALID, SIGNER NOT PINNED: {len(events)} events, head {head}, signed by {signer}, a key the "
              "report carries; pass --key or --keys with the controller's public key to verify who signed it")
        return 3
    print(f"VERIFIED: {len(events)} events, head {head}, signed by {signer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
