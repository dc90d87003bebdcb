"""The proxy & TLS runbook's faults: TLS inspection by a CA named like a product, CA bundles
that do not help, a proxy that wants Windows authentication, and a network that lets some of
Claude Code's hosts through and not others. Added to
:data:`~runbooks.lab.scenarios.SCENARIOS`.

Every inspecting server here presents its whole chain, root included, as many appliances do
(Node then says ``SELF_SIGNED_CERT_IN_CHAIN``): the runbook exports that root. The CA "named
like Zscaler" is a lab imitation made by this module, with ``Runbooks lab imitation`` in
its subject: it is not Zscaler's, and nothing here talks to Zscaler.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import trustme

from .faults import BlackHole, Refused
from .pki import LAB_HOSTS, LabPKI
from .scenario import Running, Scenario, _api, _trust_lab_ca

__all__ = ["CLAUDE_HOSTS", "TLS_SCENARIOS", "imitation_ca"]

#: The names Claude Code needs besides the API's (runbooks.probes.hosts.DEFAULT_HOSTS): the lab's
#: servers answer for them, reached only through --resolve pins or the lab proxy.
CLAUDE_HOSTS = ("claude.ai", "platform.claude.com", "downloads.claude.ai")
#: What v2.1.332 prints when the chain it is shown ends at a root it does not trust.
_UNTRUSTED = ("API Error: Unable to connect to API: Self-signed certificate detected "
              "(SELF_SIGNED_CERT_IN_CHAIN)")


def imitation_ca(common_name: str, organization: str) -> trustme.CA:
    """A root CA whose subject reads like a product's (``CN=Zscaler Root CA, O=Zscaler
    Inc.``), marked ``OU=Runbooks lab imitation``. trustme names its CAs itself, so the
    certificate is made here and handed to it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                         "Runbooks lab imitation"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return trustme.CA.from_pem(cert.public_bytes(serialization.Encoding.PEM),
                               key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))


def expired_copy(ca: trustme.CA) -> bytes:
    """``ca``'s certificate re-issued with the same name and key, valid only in the past: an
    old export of the proxy's CA, left in a bundle after it was renewed. PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    current = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(current.subject)
               .issuer_name(current.subject).public_key(current.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=800))
               .not_valid_after(now - dt.timedelta(days=30)))
    for ext in current.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def presenting(ca: trustme.CA, workdir: Path, name: str,
               hosts: tuple[str, ...] = LAB_HOSTS) -> ssl.SSLContext:
    """A server context whose certificate ``ca`` signed, presenting the chain up to and
    including ``ca``'s root (as an inspecting appliance often does)."""
    leaf = ca.issue_cert(*hosts)
    chain, key = workdir / f"{name}-chain.pem", workdir / f"{name}.key"
    chain.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems) + ca.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


def _inspected_api(run: Running, ca: trustme.CA, hosts: tuple[str, ...] = LAB_HOSTS):
    from .api import FakeAPI

    api = FakeAPI("127.0.0.1", tls=presenting(ca, run.workdir, "inspected", hosts))
    run.parts.append(api)
    run.base_url = api.url
    run.env["ANTHROPIC_BASE_URL"] = api.url
    return api


def _zscaler(run: Running, pki: LabPKI) -> None:
    from .proxy import LabProxy

    ca = imitation_ca("Zscaler Root CA", "Zscaler Inc.")
    api = _inspected_api(run, ca, (*LAB_HOSTS, *CLAUDE_HOSTS))
    proxy = LabProxy(run.workdir, plugin="LoopbackOnly")
    run.parts.append(proxy)
    run.env["HTTPS_PROXY"] = proxy.url
    # every host Claude Code needs, through the proxy, which sends them all to the lab server
    run.env["RUNBOOKS_HOSTS"] = ",".join(f"{h}:{api.port}" for h in CLAUDE_HOSTS)
    run.notes.append(
        f"proxy.py listens on {proxy.url} (log: {proxy.log}) and reaches every host on "
        f"127.0.0.1; the API's certificate is re-signed by a lab imitation of 'Zscaler Root "
        "CA' (not Zscaler's). `runbooks run proxy-tls` exports it: set NODE_EXTRA_CA_CERTS to "
        "that file to see the fix work.")


def _bundle_lacks_issuer(run: Running, pki: LabPKI) -> None:
    _inspected_api(run, pki.inspection_ca)
    _trust_lab_ca(run, pki)  # a good CA file, for another CA: not the one this chain needs
    run.notes.append(f"NODE_EXTRA_CA_CERTS={pki.ca_file} holds the lab CA; the API's chain "
                     f"ends at {pki.inspection_ca_file}'s CA, which it does not hold.")


def _bundle_expired(run: Running, pki: LabPKI) -> None:
    _inspected_api(run, pki.inspection_ca)
    old = run.workdir / "old-inspection-ca.pem"
    old.write_bytes(expired_copy(pki.inspection_ca))
    run.env["NODE_EXTRA_CA_CERTS"] = str(old)
    run.notes.append(f"NODE_EXTRA_CA_CERTS={old} holds the inspecting CA, but a copy whose "
                     f"validity ended 30 days ago; the current one is {pki.inspection_ca_file}.")


def _ntlm(run: Running, pki: LabPKI) -> None:
    from .proxy import LabProxy

    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    proxy = LabProxy(run.workdir, plugin="WantsNtlm")
    run.parts.append(proxy)
    run.env["HTTPS_PROXY"] = proxy.url
    run.notes.append(f"proxy.py listens on {proxy.url} (log: {proxy.log}) and answers every "
                     "CONNECT with 407, offering only Negotiate and NTLM.")


def _allowlist(run: Running, pki: LabPKI) -> None:
    from .api import FakeAPI

    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki.ca.issue_cert(*CLAUDE_HOSTS).configure_cert(ctx)
    served = FakeAPI("127.0.0.1", tls=ctx)
    refused, dropped = Refused(), BlackHole()
    run.parts += [served, refused, dropped]
    ports = dict(zip(CLAUDE_HOSTS, (served.port, refused.port, dropped.port), strict=True))
    # the hosts in the environment (every runbook takes --resolve; only proxy-tls --hosts)
    run.env["RUNBOOKS_HOSTS"] = ",".join(f"{h}:{p}" for h, p in ports.items())
    run.params["resolve"] = ",".join(f"{h}:127.0.0.1" for h in CLAUDE_HOSTS)
    run.notes.append(
        "The names Claude Code needs are pinned to 127.0.0.1 (pass the printed --resolve to "
        f"the runbooks; RUNBOOKS_HOSTS gives their ports): claude.ai:{served.port} answers TLS, "
        f"platform.claude.com:{refused.port} refuses, downloads.claude.ai:{dropped.port} "
        "drops every SYN.")


TLS_SCENARIOS = [
    Scenario("proxy-zscaler", "a TLS-inspecting proxy whose CA is named like Zscaler's (a lab "
             "imitation: 'Zscaler Root CA', OU=Runbooks lab imitation), presented with the "
             "chain; every host Claude Code needs goes through it", "tls.untrusted_issuer",
             _zscaler, _UNTRUSTED),
    Scenario("bundle-lacks-issuer", "HTTPS re-signed by the lab's inspection CA; "
             "NODE_EXTRA_CA_CERTS is a good PEM file, for another CA", "tls.untrusted_issuer",
             _bundle_lacks_issuer, _UNTRUSTED),
    Scenario("bundle-expired-ca", "HTTPS re-signed by the lab's inspection CA; "
             "NODE_EXTRA_CA_CERTS holds that CA, in a copy that has expired", "tls.expired",
             _bundle_expired, "API Error: Unable to connect to API: SSL certificate has expired",
             doctor=("tls.expired", "config.ca_file_invalid")),
    Scenario("proxy-ntlm", "the proxy answers 407 offering only Negotiate and NTLM (Windows "
             "authentication), which Claude Code cannot answer", "proxy.auth_required", _ntlm,
             "API Error: Couldn't connect through your proxy (ERR_PROXY_TUNNEL)"),
    Scenario("allowlist", "the API answers; of the other hosts Claude Code needs (pinned to "
             "loopback), claude.ai answers, platform.claude.com refuses, downloads.claude.ai "
             "drops SYNs", None, _allowlist, doctor=("tcp.refused", "tcp.timeout")),
]
