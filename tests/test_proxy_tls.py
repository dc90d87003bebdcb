"""The proxy & TLS runbook: who re-signs the chain (issuer → product), the CA export and its
proof, NODE_EXTRA_CA_CERTS certificate by certificate, proxy authentication, and one line per
host Claude Code needs; against the lab's real servers and its real forward proxy."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
import trustme
from conftest import clean_subprocess_env, run_cli

from runbooks.books.proxy_tls import ProxyTlsRun, local_auth_proxy
from runbooks.client.target import load_trust, resolve_target
from runbooks.errors import UsageError
from runbooks.lab.tls_scenarios import expired_copy
from runbooks.probes.cabundle import read_bundle
from runbooks.probes.hosts import Host, allowlist_lines, hosts_to_check, parse_hosts
from runbooks.probes.inspection import CertFacts, ca_to_export, name_product, pem_blocks
from runbooks.probes.tls import handshake
from runbooks.probes.tunnel import challenge_schemes

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 2.0, "read_timeout": 2.0}
CANARY = "CANARYzz9Qsecret"


def _run(lab_run, **extra) -> ProxyTlsRun:
    params = {**FAST, **{k: v for k, v in lab_run.params.items()}, **extra}
    return ProxyTlsRun.from_parameters(env=clean_subprocess_env(**lab_run.env), **params)


def _checks(run: ProxyTlsRun) -> dict:
    return {c.id: c for c in run.run_all().checks}


# -- issuer → product ------------------------------------------------------------------------------
@pytest.mark.parametrize("issuer, product", [
    # Zscaler's root, as Client Connector installs it
    ("CN=Zscaler Root CA,OU=Zscaler Inc.,O=Zscaler Inc.,L=San Jose,ST=California,C=US",
     "Zscaler"),
    # Netskope's tenant CA names its vendor in O
    ("CN=ca.example.goskope.com,OU=ssl,O=Netskope Inc,C=US", "Netskope"),
    # PAN-OS forward-trust certificates carry the vendor name
    ("CN=Palo Alto Networks Forward Trust CA,O=Example Corp", "Palo Alto Networks"),
    # FortiGate's default deep-inspection CA
    ("CN=FortiGate CA,O=Fortinet,C=US", "Fortinet FortiGate"),
    # … and its other spelling
    ("CN=Fortinet_CA_SSL,O=Fortinet Ltd.", "Fortinet FortiGate"),
    ("CN=Cisco Umbrella Root CA,O=Cisco", "Cisco Umbrella"),
    # Forcepoint, also under its old name
    ("CN=Websense Web Security Root,O=Websense", "Forcepoint"),
    ("CN=Blue Coat SG-S200 Series,O=Blue Coat Systems", "Blue Coat / Symantec ProxySG"),
    ("CN=Check Point Outbound Inspection CA,O=Check Point Software Technologies",
     "Check Point"),
    ("CN=Sophos SSL CA_C123456,O=Sophos", "Sophos"),
    ("CN=Skyhigh Security Web Gateway Root", "McAfee / Skyhigh Security"),
    ("CN=iboss Root CA,O=iboss Inc", "iboss"),
    ("CN=Gateway CA - Cloudflare Managed G1 abc,O=Cloudflare\\, Inc.",
     "Cloudflare Gateway (WARP)"),
    ("CN=Global Secure Access TLS CA,O=Microsoft Corporation",
     "Microsoft Defender / Entra Internet Access"),
    ("CN=Kaspersky Anti-Virus Personal Root Certificate", "Kaspersky"),
    ("CN=ESET SSL Filter CA,O=ESET\\, spol. s r. o.", "ESET"),
    ("CN=mitmproxy,O=mitmproxy", "mitmproxy"),
    ("CN=DO_NOT_TRUST_FiddlerRoot,O=DO_NOT_TRUST", "Fiddler"),
    ("CN=PortSwigger CA,O=PortSwigger", "Burp Suite"),
    # public CAs are no product: Google's, Let's Encrypt's, Cloudflare's own public one
    ("CN=GTS Root R4,O=Google Trust Services LLC,C=US", None),
    ("CN=ISRG Root X1,O=Internet Security Research Group,C=US", None),
    ("CN=Cloudflare Inc ECC CA-3,O=Cloudflare\\, Inc.,C=US", None),
    # "eset" inside a word is not ESET
    ("CN=Preset Corp Root", None),
    # the lab's own inspection CA names no product
    ("O=Lab TLS Inspection CA", None),
])
def test_the_issuer_names_the_product(issuer, product):
    found = name_product(issuer)
    assert (found.name if found else None) == product


@pytest.mark.parametrize("values, schemes", [
    # one header per scheme, as AD proxies send them
    (["Negotiate", "NTLM"], ["Negotiate", "NTLM"]),
    # both in one header, comma-separated
    (["Negotiate, NTLM"], ["Negotiate", "NTLM"]),
    # a comma inside a quoted realm starts no new challenge
    (['Basic realm="Corp, Inc."'], ["Basic"]),
    # parameters after a comma are not schemes
    (['Digest realm="x", qop="auth", nonce="abc"', 'Basic realm="y"'], ["Digest", "Basic"]),
    # each scheme once
    (["NTLM", "NTLM"], ["NTLM"]),
    (["Kerberos"], ["Kerberos"]),
    ([""], []),
])
def test_every_scheme_a_407_offers(values, schemes):
    assert challenge_schemes(values) == schemes


def test_local_auth_proxy_is_configured_for_the_proxy_in_use():
    lines = "\n".join(local_auth_proxy("proxy.corp", 8080, ["Negotiate", "NTLM"], "alice"))
    for want in ("Username  alice", "Proxy     proxy.corp:8080", "Listen    3128",
                 "cntlm -H -u alice -d YOUR_DOMAIN", "px --proxy=proxy.corp:8080 --port=3128",
                 "server = proxy.corp:8080", "HTTPS_PROXY=http://127.0.0.1:3128"):
        assert want in lines, want
    # Kerberos only: cntlm cannot do it, px can
    kerberos = "\n".join(local_auth_proxy("::1", 3129, ["Negotiate"]))
    assert "cntlm" not in kerberos and "px --proxy=[::1]:3129" in kerberos


# -- certificates for the tables ----------------------------------------------------------------
def _ca_pem(ca: trustme.CA) -> bytes:
    return ca.cert_pem.bytes()


def _future_copy(ca: trustme.CA) -> bytes:
    """``ca`` re-issued valid only from next month (a wrong clock's view of a new CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    cur = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(cur.subject).issuer_name(cur.subject)
         .public_key(cur.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + dt.timedelta(days=30))
         .not_valid_after(now + dt.timedelta(days=400)))
    for ext in cur.extensions:
        b = b.add_extension(ext.value, ext.critical)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def certs() -> dict[str, bytes]:
    ca = trustme.CA(organization_name="Bundle Test CA")
    leaf = ca.issue_cert("gateway.corp.test")
    der = CertFacts(pem_blocks(_ca_pem(ca))[0]).der
    return {"ca": _ca_pem(ca), "expired": expired_copy(ca), "future": _future_copy(ca),
            "leaf": leaf.cert_chain_pems[0].bytes(), "der": der,
            "key": leaf.private_key_pem.bytes()}


@pytest.mark.parametrize("content, expect", [
    # a good CA: nothing to say
    (lambda c: c["ca"], []),
    # DER disguised as .pem: the conversion command is the fix
    (lambda c: c["der"], ["DER (binary)", "openssl x509 -inform der"]),
    # PowerShell's `>` writes UTF-16
    (lambda c: b"\xff\xfe" + c["ca"].decode().encode("utf-16-le"), ["UTF-16"]),
    # a PKCS#7 bundle
    (lambda c: b"-----BEGIN PKCS7-----\nMIIB\n-----END PKCS7-----\n", ["PKCS#7"]),
    # binary that is no certificate (a .pfx)
    (lambda c: b"\x30\x82\x01\x00" + b"\x00" * 40, ["PKCS#12"]),
    # text, no certificate
    (lambda c: b"just some text\n", ["no PEM certificate"]),
    (lambda c: b"", ["is empty"]),
    # a damaged block
    (lambda c: b"-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n",
     ["certificate 1 does not decode"]),
    # expired, and not valid yet
    (lambda c: c["expired"], ["certificate 1 (Bundle Test CA) expired on"]),
    (lambda c: c["future"], ["is not valid before"]),
    # a server's own certificate, copied from a browser
    (lambda c: c["leaf"], ["is not a CA", "gateway.corp.test"]),
    # a good CA, then an expired one: only the second is named
    (lambda c: c["ca"] + c["expired"], ["certificate 2 (Bundle Test CA) expired on"]),
    # a private key pasted in
    (lambda c: c["ca"] + c["key"], ["PRIVATE KEY block"]),
])
def test_a_bundle_is_checked_certificate_by_certificate(tmp_path, certs, content, expect):
    path = tmp_path / "bundle.pem"
    path.write_bytes(content(certs))
    problems = " | ".join(read_bundle(str(path)).problems)
    for phrase in expect:
        assert phrase in problems, problems
    if not expect:
        assert problems == ""


@pytest.mark.parametrize("make, phrase", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_a_bundle_that_is_no_file(tmp_path, make, phrase):
    path = tmp_path / "ca.pem"
    make(path)
    bundle = read_bundle(str(path))
    assert phrase in bundle.error and bundle.certs == []


def test_each_certificate_is_reported_with_fingerprint_and_validity(tmp_path, certs):
    path = tmp_path / "bundle.pem"
    path.write_bytes(certs["ca"] + certs["expired"])
    rows = read_bundle(str(path)).to_dict()["certificates"]
    assert [r["index"] for r in rows] == [1, 2]
    for r in rows:
        assert r["subject"].endswith("O=Bundle Test CA") and len(r["sha256"]) == 95
        assert r["not_before"] and r["not_after"] and r["ca"] is True
    assert rows[0]["problem"] is None and "expired" in rows[1]["problem"]


def test_the_ca_to_export_is_the_chain_top_or_its_root_from_the_store():
    root = trustme.CA(organization_name="Export Root")
    inter = root.create_child_ca()
    leaf = inter.issue_cert("a.test")
    chain = [CertFacts(pem_blocks(p.bytes())[0]) for p in leaf.cert_chain_pems]
    root_facts = CertFacts(pem_blocks(_ca_pem(root))[0])
    other = CertFacts(pem_blocks(_ca_pem(trustme.CA(organization_name="Export Root")))[0])
    # the chain stops below its root: not without a store that has it
    assert ca_to_export(chain)[0] is None
    # the same name, another key: not its issuer
    assert ca_to_export(chain, [other])[0] is None
    found, origin = ca_to_export(chain, [other, root_facts])
    assert found == root_facts and "system store" in origin
    # the root presented on top of the chain: that one
    assert ca_to_export([*chain, root_facts])[0] == root_facts


# -- the host list -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, hosts", [
    # a name alone is https on 443; the known names keep their role
    ("claude.ai", [("claude.ai", 443, "https", "claude.ai")]),
    ("claude.ai:8443, downloads.claude.ai", [("claude.ai", 8443, "https", "claude.ai"),
                                             ("downloads.claude.ai", 443, "https",
                                              "downloads.claude.ai")]),
    # spaces separate too; IPv6 in brackets; a plain http:// host is TCP only
    ("[::1]:8443 http://127.0.0.1:9", [("::1", 8443, "https", "other"),
                                       ("127.0.0.1", 9, "http", "other")]),
    # none: no other host
    ("none", []),
])
def test_hosts_parameter(text, hosts):
    assert [(h.name, h.port, h.scheme, h.role) for h in parse_hosts(text)] == hosts


@pytest.mark.parametrize("text", ["claude.ai:notaport", "https://claude.ai/path", "a..b",
                                  "ftp://claude.ai", f"bob:{CANARY}@proxy:8080"])
def test_a_bad_host_is_a_usage_error_naming_it_and_no_secret(text):
    with pytest.raises(UsageError) as err:
        ProxyTlsRun.from_parameters(hosts=text, env={})
    assert "hosts" in str(err.value) and CANARY not in str(err.value)


def test_the_default_hosts_are_the_api_the_three_others_and_the_status_page():
    target = resolve_target(None, {})
    hosts = hosts_to_check(target, "", {}, "https://status.claude.com")
    assert [(h.name, h.role) for h in hosts] == [
        ("api.anthropic.com", "api"), ("claude.ai", "claude.ai"),
        ("platform.claude.com", "platform.claude.com"),
        ("downloads.claude.ai", "downloads.claude.ai"), ("status.claude.com", "status")]
    # RUNBOOKS_HOSTS replaces the three; the parameter beats it; each host once
    env = {"RUNBOOKS_HOSTS": "none"}
    assert [h.role for h in hosts_to_check(target, "", env, "http://127.0.0.1:9")] == [
        "api", "status"]
    both = hosts_to_check(target, "api.anthropic.com,claude.ai", env, "http://127.0.0.1:9")
    assert [h.name for h in both] == ["api.anthropic.com", "claude.ai", "127.0.0.1"]


# -- the lab -------------------------------------------------------------------------------------
def test_an_inspecting_proxy_is_named_and_its_ca_exported_and_proven(lab, tmp_path):
    run_lab = lab("proxy-zscaler")
    assert "lab imitation" in run_lab.scenario.summary
    run = _run(run_lab)
    run.export_dir = tmp_path
    checks = _checks(run)
    issuer = checks["tls.issuer"]
    assert issuer.status == "fail" and issuer.cause == "tls.untrusted_issuer"
    assert "Zscaler Root CA" in issuer.summary and "TLS inspection by Zscaler" in issuer.summary
    assert issuer.details["product"]["name"] == "Zscaler"
    assert "NODE_TLS_REJECT_UNAUTHORIZED=0" not in (issuer.fix or "").replace(
        "(NODE_TLS_REJECT_UNAUTHORIZED=0)", "")  # named only as what never to do
    export = checks["tls.export"]
    assert export.status == "pass" and "with it the chain verifies" in export.summary
    pem = Path(export.details["path"])
    assert pem == tmp_path / "zscaler-root-ca.pem" and pem.exists()
    facts = CertFacts(pem_blocks(pem.read_bytes())[0])
    assert facts.sha256 == export.details["sha256"] and facts.name == "Zscaler Root CA"
    # the proof, done again here: the client's trust plus that file, through the same proxy
    ctx = load_trust({**run_lab.env, "NODE_EXTRA_CA_CERTS": str(pem)}).context
    api = run.api
    again = handshake(api.address, api.host.port, api.host.name, ctx, 2.0, 2.0,
                      opener=api.reopen(run.budget))
    assert again.ok, again.fault
    # without it, the same handshake fails: the file is the difference
    plain = handshake(api.address, api.host.port, api.host.name, load_trust(run_lab.env).context,
                      2.0, 2.0, opener=api.reopen(run.budget))
    assert not plain.ok and plain.fault.cause == "tls.untrusted_issuer"
    # every host goes through the same proxy, and the same CA
    for role in ("claude.ai", "platform.claude.com", "downloads.claude.ai"):
        assert checks[f"host.{role}"].cause == "tls.untrusted_issuer"
        assert "through HTTPS_PROXY 127.0.0.1:" in checks[f"host.{role}"].summary


def test_the_doctor_writes_nothing_and_names_the_command(lab, tmp_path):
    run = lab("proxy-zscaler")
    proc = run_cli("doctor", "--connect-timeout", "1", env=clean_subprocess_env(**run.env),
                   cwd=tmp_path)
    assert proc.returncode == 1
    assert "    next: confirm its fingerprint with IT (whoever runs the proxy), then run " \
           "`runbooks fix --trust-ca " in proc.stdout, proc.stdout
    assert not list(tmp_path.rglob("*.pem"))


def test_a_bundle_without_the_issuer(lab, tmp_path):
    run = _run(lab("bundle-lacks-issuer"))
    run.export_dir = tmp_path
    checks = _checks(run)
    bundle = checks["tls.bundle"]
    assert bundle.status == "fail" and bundle.cause == "tls.untrusted_issuer"
    assert "your bundle does not contain the issuer 'Lab TLS Inspection CA'" in bundle.summary
    assert bundle.details["certificates"][0]["subject"].endswith("O=Claude Code Runbooks Lab")
    assert checks["tls.export"].status == "pass"


def test_an_expired_ca_in_the_bundle(lab, tmp_path):
    run = _run(lab("bundle-expired-ca"))
    run.export_dir = tmp_path
    checks = _checks(run)
    bundle = checks["tls.bundle"]
    assert bundle.status == "fail" and bundle.cause == "config.ca_file_invalid"
    assert "the CA this chain needs) expired on" in bundle.summary
    assert checks["tls.export"].status == "pass"  # the proxy's current CA fixes it
    assert checks["host.api"].cause == "tls.expired"


def test_the_root_from_the_system_store_when_the_chain_stops_below_it(root_in_os_store,
                                                                      tmp_path):
    """An appliance that presents leaf + intermediate; IT put the root in the OS store, but
    this client reads only its bundled roots: the root is found there, exported, proven."""
    env, _ = root_in_os_store
    run = ProxyTlsRun.from_parameters(env=env, **FAST)
    run.export_dir = tmp_path
    checks = _checks(run)
    assert checks["tls.issuer"].details["product"]["name"] == "Netskope"
    export = checks["tls.export"]
    assert export.status == "pass" and "the system store" in export.summary
    assert "CN=Netskope Lab Root" in export.details["subject"]


def test_a_proxy_that_wants_windows_authentication(lab):
    run_lab = lab("proxy-ntlm")
    checks = _checks(_run(run_lab))
    auth = checks["proxy.auth"]
    assert auth.status == "fail" and auth.cause == "proxy.auth_required"
    assert auth.details["schemes"] == ["Negotiate", "NTLM"]
    port = run_lab.env["HTTPS_PROXY"].rsplit(":", 1)[1]
    lines = "\n".join(auth.details["lines"])
    assert f"Proxy     127.0.0.1:{port}" in lines and "Listen    3128" in lines
    assert f"px --proxy=127.0.0.1:{port} --port=3128" in lines
    assert "HTTPS_PROXY=http://127.0.0.1:3128" in auth.fix
    assert "Proxy auth" in checks["host.api"].fix


def test_a_proxy_that_wants_basic_credentials(lab):
    checks = _checks(_run(lab("proxy-auth")))
    auth = checks["proxy.auth"]
    assert auth.cause == "proxy.auth_required" and auth.details["schemes"] == ["Basic"]
    assert "wants Basic credentials, and the URL has none" in auth.summary
    ok = _checks(_run(lab("proxy-auth-ok")))["proxy.auth"]
    assert ok.status == "pass" and "Basic credentials in the URL are accepted" in ok.summary


def test_a_proxy_password_is_never_shown(lab):
    run = lab("proxy-ntlm")
    proxy = run.env["HTTPS_PROXY"].replace("://", f"://bob:{CANARY}@")
    env = clean_subprocess_env(**{**run.env, "HTTPS_PROXY": proxy})
    for extra in ([], ["--json", "-"]):
        proc = run_cli("doctor", "--connect-timeout", "1", *extra, env=env)
        assert proc.returncode == 1
        assert CANARY not in proc.stdout + proc.stderr
        assert "Username  bob" in proc.stdout or extra  # the user name helps; never the rest


def test_every_host_one_line_each(lab):
    run_lab = lab("allowlist")
    t0 = time.perf_counter()
    run = _run(run_lab)
    checks = _checks(run)
    took = time.perf_counter() - t0
    hosts = {k: c for k, c in checks.items() if k.startswith("host.")}
    assert list(hosts) == ["host.api", "host.claude.ai", "host.platform.claude.com",
                           "host.downloads.claude.ai", "host.status"]
    assert [c.status.value for c in hosts.values()] == ["pass", "pass", "warn", "warn", "pass"]
    assert hosts["host.platform.claude.com"].cause == "tcp.refused"
    assert hosts["host.downloads.claude.ai"].cause == "tcp.timeout"
    assert "Allow downloads.claude.ai" in hosts["host.downloads.claude.ai"].fix
    for c in hosts.values():
        assert {"host", "port", "path", "verdict", "cause"} <= set(c.details)
    # all at once: the black hole costs one connect budget, not one per host
    assert took < FAST["connect_timeout"] + 1.5, took
    table = allowlist_lines(run.walks)
    assert len(table) == 6 and table[0].split() == ["host:port", "path", "verdict", "to", "do"]
    assert table[3].startswith("platform.claude.com:") and table[3].endswith(
        "✗ blocked: tcp.refused  allow in the firewall and the proxy's allow-list")
    assert table[2].endswith("✓ reachable") and "directly" in table[2]


def test_the_allowlist_table_on_the_site_is_current():
    """The table docs/proxy-tls.md shows is what the runbook prints today."""
    from runbooks.site.examples import EXAMPLES_DIR, allowlist_table, sanitize

    stored = (EXAMPLES_DIR / "proxy-tls-allowlist.txt").read_text()
    assert sanitize(allowlist_table()) == sanitize(stored)


@pytest.mark.parametrize("scenario", ["proxy-zscaler", "bundle-expired-ca", "proxy-ntlm"])
def test_the_runbook_outputs_on_the_site_are_current(scenario):
    from runbooks.site.examples import EXAMPLES_DIR, runbook_output, sanitize

    stored = (EXAMPLES_DIR / f"proxy-tls-{scenario}.txt").read_text()
    assert sanitize(runbook_output("proxy-tls", scenario)) == sanitize(stored)


def test_the_doctor_prints_one_line_per_host(lab):
    run = lab("allowlist")
    extra = [f"--{k}={v}" for k, v in run.params.items() if k != "base_url"]
    proc = run_cli("doctor", "--connect-timeout", "1", *extra,
                   env=clean_subprocess_env(**run.env, NO_COLOR="1"))
    lines = [line for line in proc.stdout.splitlines() if "host " in line[:18]]
    assert [line.split()[1] for line in lines] == ["API", "Sign-in", "Console", "Updates",
                                                   "Status"], proc.stdout
    assert proc.returncode == 1


def test_each_host_takes_the_proxy_claude_code_would_pick_for_it(lab):
    """NO_PROXY sends claude.ai direct while the API goes through the proxy."""
    run_lab = lab("proxy")
    from runbooks.lab.api import FakeAPI

    served = FakeAPI("127.0.0.1")  # plain http: TCP only
    try:
        env = clean_subprocess_env(**run_lab.env, NO_PROXY="claude.ai")
        run = ProxyTlsRun.from_parameters(env=env, hosts=f"http://claude.ai:{served.port}",
                                          resolve="claude.ai:127.0.0.1", **FAST)
        checks = _checks(run)
    finally:
        served.close()
    assert "through HTTPS_PROXY" in checks["host.api"].summary
    assert "directly (NO_PROXY entry 'claude.ai')" in checks["host.claude.ai"].summary
    assert checks["host.claude.ai"].status == "pass"


@pytest.mark.notebook
def test_runbooks_run_proxy_tls_exports_into_its_run_folder(lab, tmp_path):
    run = lab("proxy-zscaler")
    proc = run_cli("run", "proxy-tls", "-p", "connect_timeout=2", "--output-dir",
                   str(tmp_path / "out"), env=clean_subprocess_env(**run.env), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report_line = next(line for line in proc.stdout.splitlines() if line.startswith("report:"))
    folder = Path(report_line.split(None, 1)[1]).parent
    report = json.loads((folder / "proxy-tls.json").read_text())
    assert report["causes"] == ["tls.untrusted_issuer"]
    export = next(c for c in report["checks"] if c["id"] == "tls.export")
    assert export["details"]["path"] == str(folder / "zscaler-root-ca.pem")
    assert (folder / "zscaler-root-ca.pem").exists()


# -- the real client ---------------------------------------------------------------------------
@pytest.mark.client
@pytest.mark.parametrize("scenario", ["proxy-zscaler", "bundle-lacks-issuer",
                                      "bundle-expired-ca"])
def test_the_real_client_works_with_the_exported_ca(lab, tmp_path, scenario):
    import subprocess

    from runbooks.lab.api import LAB_REPLY

    claude = _claude_path()
    run_lab = lab(scenario)
    run = _run(run_lab)
    run.export_dir = tmp_path
    run.run_all()
    assert run.exported is not None
    home = tmp_path / "claude-home"
    home.mkdir()
    env = clean_subprocess_env(**run_lab.client_env, HOME=str(home))
    before = subprocess.run([claude, "-p", "hello"], env=env, capture_output=True, text=True,
                            timeout=90, stdin=subprocess.DEVNULL, check=False)
    assert before.returncode != 0 and run_lab.scenario.client_message in before.stdout
    env["NODE_EXTRA_CA_CERTS"] = str(run.exported)
    after = subprocess.run([claude, "-p", "hello"], env=env, capture_output=True, text=True,
                           timeout=90, stdin=subprocess.DEVNULL, check=False)
    assert after.returncode == 0 and after.stdout.strip() == LAB_REPLY, after.stdout + after.stderr


def _claude_path() -> str:
    import os

    from conftest import ROOT

    path = os.environ.get("RUNBOOKS_CLAUDE") or str(
        ROOT / ".venv" / "claude-code" / "node_modules" / ".bin" / "claude")
    if not Path(path).exists():
        pytest.fail(f"the real client is not installed at {path}: run `make client`")
    return path


def test_host_objects_read_like_the_docs():
    h = Host("downloads.claude.ai", role="downloads.claude.ai")
    assert h.title == "Updates host" and "updates" in h.purpose and h.authority == \
        "downloads.claude.ai:443"


def test_an_old_root_with_a_zero_serial_parses_without_a_warning():
    """Old roots in system stores (Debian's Go Daddy Class 2) name their issuer's serial as 0
    in the Authority Key Identifier: cryptography warns when it parses that extension, which
    reached the user's terminal from `runbooks fix`. Read quietly (the suite turns every
    warning into an error)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from runbooks.probes.inspection import CertFacts

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Root")])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=9000))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier(b"\x01" * 20, [x509.DirectoryName(name)],
                                                       0), critical=False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    with pytest.warns(Warning, match="serial number"):  # the certificate is the real thing
        x509.load_der_x509_certificate(der).extensions  # noqa: B018
    facts = CertFacts(der)
    assert facts.is_ca and facts.subject == "CN=Old Root" and facts.name


def test_a_system_bundle_with_stale_roots_is_not_a_finding(lab, tmp_path, certs):
    """NODE_EXTRA_CA_CERTS pointed at the whole system bundle (common advice, and what some
    machines export): the expired roots a distribution has not removed yet are copies of
    roots the client trusts anyway, so they change nothing. Listed, never a finding; a big
    bundle is listed by its defects only. An expired CA of the user's own is still one."""
    others = b"".join(_ca_pem(trustme.CA(organization_name=f"Root {i}")) for i in range(10))
    store = tmp_path / "system.pem"
    store.write_bytes(certs["expired"] + others)
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_bytes(others + certs["expired"])
    run = lab("healthy")
    env = clean_subprocess_env(**{**run.env, "SSL_CERT_FILE": str(store),
                                  "NODE_EXTRA_CA_CERTS": str(bundle)})
    checks = _checks(ProxyTlsRun.from_parameters(env=env, **{**FAST, **run.params}))
    check = checks["tls.bundle"]
    assert check.status == "pass" and check.cause is None, check.summary
    assert "11 certificates, 10 valid CAs; 1 expired" in check.summary
    assert "harmless" in check.summary
    assert len(check.details["lines"]) == 2 and "a copy of a root already trusted" in \
        check.details["lines"][0] and "export" not in check.details["lines"][0]
    assert all(c["copy_of_a_trusted_root"] for c in check.details["certificates"])
    # the same expired CA, not in any store: the user's own, and a finding
    store.write_bytes(others)
    checks = _checks(ProxyTlsRun.from_parameters(env=env, **{**FAST, **run.params}))
    assert checks["tls.bundle"].cause == "config.ca_file_invalid"
