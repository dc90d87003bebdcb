"""TLS inspection: one finding, one story. Whatever the doctor's network TLS check, the proxy &
TLS runbook (Issuer, CA export, CA bundle, its notebook's plan) and `runbooks fix` say about an
untrusted chain depends on what was found, and they all say the same: the CA is on this
machine (in the chain the server presents, or in the system store) and `runbooks fix
--trust-ca SHA256` trusts it once IT confirms the fingerprint; or it is not, and the next step
is to ask IT for it and run `runbooks fix --ca-file ca.pem`.

And a CA bundle the size of a system store in NODE_EXTRA_CA_CERTS is summarised, never
listed: the doctor's CA bundle line, and the diff of a PEM bundle (by subject and
fingerprint, never base64) in `fix`, `fix --json`, `undo` and the notebook's plan."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.books.base import Context
from runbooks.books.proxy_tls import ProxyTlsRun
from runbooks.doctor import DOCTOR_PARAMETERS, run_doctor
from runbooks.fixing.plan import FileEdit, Fix, Plan
from runbooks.fixing.remedies import FixOptions
from runbooks.fixing.tls_fix import plan_for
from runbooks.probes.inspection import CertFacts, pem_blocks

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 2.0, "read_timeout": 2.0}
LAB_INSPECTION_CA = "Lab TLS Inspection CA"
#: a line of a PEM body: what a diff of a bundle must never show
BASE64_LINE = re.compile(r"^[+\- ]?[A-Za-z0-9+/=]{60,76}$", re.MULTILINE)
#: sentences that claim an export (or a fix that trusts a found CA)
CLAIMS_AN_EXPORT = ("--trust-ca", "exports it", "proxy-tls` exports", "written to",
                    "with it the chain verifies")
#: sentences that say nothing was found
SAYS_NOTHING_FOUND = ("--ca-file", "nothing to export", "no CA to trust", "ask IT for the root")


# -- what every place says, gathered ----------------------------------------------------------
def _values(**extra):
    return {**{k: p.default for k, p in DOCTOR_PARAMETERS.items()}, **FAST, **extra}


def _places(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], dict]:
    """Every sentence of advice about the untrusted chain, by place, as the doctor, `runbooks
    fix` and `runbooks run proxy-tls` (its notebook, with an export folder) produce them; and
    the trust-ca fix's data."""
    values = _values()
    ctx = Context.build(values, env, tmp_path)
    report = run_doctor(values, context=ctx)
    checks = {c.id: c for c in report.checks}
    plan = plan_for(ctx, report, FixOptions())
    trust = next(f for f in plan.fixes if f.id == "trust-ca")
    places = {
        "doctor: network TLS fix": checks["tls"].fix,
        "doctor: Issuer fix": checks["tls.issuer"].fix,
        "doctor: CA export": "\n".join([checks["tls.export"].summary,
                                        *checks["tls.export"].details.get("lines", [])]),
        "fix: plan": trust.blocked or trust.manual or "",
    }
    if checks["tls.bundle"].cause == "tls.untrusted_issuer":
        places["doctor: CA bundle fix"] = checks["tls.bundle"].fix
    run = ProxyTlsRun.from_parameters(env=env, project_dir=tmp_path, **FAST)
    run.export_dir = tmp_path / "run"
    run.export_dir.mkdir()
    nb = {c.id: c for c in run.run_all().checks}
    places["notebook: Issuer fix"] = nb["tls.issuer"].fix
    places["notebook: CA export"] = "\n".join([nb["tls.export"].summary,
                                               *nb["tls.export"].details.get("lines", [])])
    places["notebook: plan"] = run.plan()._repr_markdown_()
    return places, trust.data


def _assert_exportable(places: dict[str, str], data: dict, origin: str) -> None:
    fingerprint = data["fingerprint"]
    step = f"runbooks fix --trust-ca {fingerprint}"
    for where, text in places.items():
        assert text, where
        assert step in text, (where, text)
        assert "confirm" in text.lower() and "IT" in text, (where, text)
        for phrase in SAYS_NOTHING_FOUND:
            assert phrase not in text, (where, phrase, text)
    for where in ("doctor: network TLS fix", "doctor: Issuer fix", "doctor: CA export"):
        assert origin in places[where], (where, places[where])
    # the doctor writes nothing, and says so; the run names the file it wrote
    assert "written to" not in places["doctor: CA export"]
    assert "written to" in places["notebook: CA export"]


def _assert_nothing_on_this_machine(places: dict[str, str], name: str) -> None:
    for where, text in places.items():
        assert text, where
        assert f"ask IT for the root CA {name!r}" in text, (where, text)
        assert "`runbooks fix --ca-file ca.pem`" in text, (where, text)
        for phrase in CLAIMS_AN_EXPORT:
            assert phrase not in text, (where, phrase, text)


# -- one story per lab scenario ---------------------------------------------------------------
@pytest.mark.parametrize("scenario, exportable", [
    ("proxy-zscaler", True),  # the proxy presents its root: exported from the chain
    ("bundle-lacks-issuer", True),  # the same, with a good bundle for another CA
    ("tls-untrusted", False),  # the chain stops below the root, which is nowhere here
    ("proxy-inspected", False),  # the same, through a proxy
])
def test_every_place_tells_the_same_story(lab, tmp_path, scenario, exportable):
    run = lab(scenario)
    env = clean_subprocess_env(**run.env)
    places, data = _places(env, tmp_path)
    if exportable:
        _assert_exportable(places, data, "at the top of the chain the server presents")
    else:
        _assert_nothing_on_this_machine(places, LAB_INSPECTION_CA)


def test_the_root_from_the_system_store_is_the_same_story(root_in_os_store, tmp_path):
    """Leaf + intermediate presented, the root in the OS store (SSL_CERT_FILE) but not read by
    this client (CLAUDE_CODE_CERT_STORE=bundled): every place names the store and the one
    command."""
    env, store = root_in_os_store
    places, data = _places(env, tmp_path)
    assert "CN=Netskope Lab Root" in data["subject"]
    _assert_exportable(places, data, f"in the system store ({store}")


# -- a system-sized bundle -----------------------------------------------------------------------
def _root(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bundle Lab")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def system_bundle(tmp_path_factory) -> Path:
    """150 real root CAs in one PEM file, as /etc/ssl/certs/ca-certificates.crt is."""
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path_factory.mktemp("bundle") / "ca-certificates.crt"
    path.write_bytes(b"".join(_root(f"Bundle Root {i:03d}").public_bytes(Encoding.PEM)
                              for i in range(150)))
    return path


def _longest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_a_system_bundle_is_one_short_line_in_the_doctor(lab, system_bundle):
    run = lab("tls-untrusted")
    env = clean_subprocess_env(**run.env, NODE_EXTRA_CA_CERTS=str(system_bundle),
                               NO_COLOR="1")
    proc = run_cli("doctor", "--connect-timeout", "1", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(s for s in proc.stdout.splitlines() if s.startswith("[✗] CA bundle"))
    assert "150 certificates" in line and LAB_INSPECTION_CA in line, line
    assert "Bundle Root 149" not in proc.stdout  # counted, not named one by one
    assert _longest(proc.stdout) < 400, _longest(proc.stdout)
    # the same bundle as the system store: its copies are named as what they are
    env["SSL_CERT_FILE"] = str(system_bundle)
    proc = run_cli("doctor", "--connect-timeout", "1", env=env)
    line = next(s for s in proc.stdout.splitlines() if s.startswith("[✗] CA bundle"))
    assert "150 copies of roots Claude Code trusts anyway" in line, line
    assert _longest(proc.stdout) < 400, _longest(proc.stdout)


def test_fix_and_undo_show_a_bundle_by_subject_and_fingerprint(lab, system_bundle):
    run = lab("proxy-zscaler")
    home = Path(os.environ["HOME"])
    env = clean_subprocess_env(**run.env, NODE_EXTRA_CA_CERTS=str(system_bundle),
                               NO_COLOR="1")
    first = json.loads(run_cli("fix", "--json", "-", env=env).stdout)["plan"]
    trust = next(f for f in first["fixes"] if f["id"] == "trust-ca")
    fingerprint = trust["data"]["fingerprint"]
    shown = json.loads(run_cli("fix", "--trust-ca", fingerprint, "--json", "-",
                               env=env).stdout)["plan"]
    assert not BASE64_LINE.search(shown["diff"]), shown["diff"]
    bundle = next(f for f in shown["files"] if f["path"].endswith(".pem"))
    assert len(bundle["certificates"]["added"]) == 151 and not bundle["certificates"]["removed"]
    applied = run_cli("fix", "--apply", "--trust-ca", fingerprint, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    out = applied.stdout
    assert not BASE64_LINE.search(out), out
    assert len(out.splitlines()) < 40, out
    assert "0 before, 151 after; 151 added, 0 removed" in out, out
    assert f"+ {trust['data']['subject']} (SHA-256 {fingerprint[:23]}…)" in out, out
    assert f"NODE_EXTRA_CA_CERTS={system_bundle}" in out  # where the others came from
    assert "… and 148 more certificates" in out, out
    # the file itself holds every certificate, byte for byte as planned
    written = home / ".claude" / "ca" / Path(bundle["path"]).name
    import hashlib
    assert hashlib.sha256(written.read_bytes()).hexdigest() == bundle["after_sha256"]
    assert len(pem_blocks(written.read_bytes())) == 151
    undone = run_cli("undo", env=env)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not BASE64_LINE.search(undone.stdout), undone.stdout
    assert len(undone.stdout.splitlines()) < 40, undone.stdout
    assert "151 before, 0 after; 0 added, 151 removed" in undone.stdout, undone.stdout
    assert f"- {trust['data']['subject']} (SHA-256 {fingerprint[:23]}…)" in undone.stdout
    assert not written.exists()
    as_json = json.loads(run_cli("fix", "--apply", "--trust-ca", fingerprint, "--json", "-",
                                 env=env).stdout)
    undone = json.loads(run_cli("undo", "--json", env=env).stdout)
    for diff in (as_json["plan"]["diff"], undone["diff"]):
        assert not BASE64_LINE.search(diff) and len(diff.splitlines()) < 40, diff


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def test_a_pem_diff_names_what_was_added_and_removed(tmp_path):
    a, b, c = (_root(f"Diff Root {n}") for n in "ABC")
    key = (b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCANARY"
           b"\n-----END PRIVATE KEY-----\n")
    path = tmp_path / "corp.pem"
    before = b"# corp roots\n" + _pem(a) + _pem(b) + key
    after = (b"# corp roots\n" + _pem(a) + b"# the new one\n" + _pem(c) + key
             + b"# sk-ant-api03-CANARYzz9Qsecret-0000AAAAAAAAAAAAAAAAAAAA\n")
    edit = FileEdit(path, before, after)
    diff = edit.diff()
    facts = {n: CertFacts(_pem_der(x)) for n, x in zip("ABC", (a, b, c), strict=True)}
    assert f"- {facts['B'].subject} (SHA-256 {facts['B'].sha256[:23]}…)" in diff, diff
    assert f"+ {facts['C'].subject} (SHA-256 {facts['C'].sha256[:23]}…)" in diff, diff
    assert facts["A"].subject not in diff  # kept: not shown
    assert "2 before, 2 after; 1 added, 1 removed" in diff, diff
    assert "+# the new one" in diff
    # a private key's body and a key-shaped value in a comment: never shown
    assert "CANARY" not in diff and not BASE64_LINE.search(diff), diff
    assert "+# sk-ant-…" in diff, diff
    assert diff.startswith(f"--- a/{path}\n+++ b/{path}\n") or "corp.pem" in diff.splitlines()[0]
    # the same in a notebook's plan and in the JSON plan
    plan = Plan([Fix("trust-ca", "tls.untrusted_issuer", "trust it", edits=[edit])])
    assert diff.rstrip("\n") in plan._repr_markdown_()
    files = plan.to_dict()["files"][0]["certificates"]
    assert [x["sha256"] for x in files["added"]] == [facts["C"].sha256]
    assert [x["sha256"] for x in files["removed"]] == [facts["B"].sha256]
    # the same certificates in another order: nothing added or removed
    moved = FileEdit(path, _pem(a) + _pem(b), _pem(b) + _pem(a)).diff()
    assert "0 added, 0 removed" in moved and not BASE64_LINE.search(moved), moved
    # not PEM at all (a comment only): a diff of its lines, as before
    assert "+# a CA" in FileEdit(path, None, b"# a CA\n").diff()


def _pem_der(cert) -> bytes:
    return pem_blocks(_pem(cert))[0]
