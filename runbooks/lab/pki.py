"""Certificates for the lab, from trustme: a lab CA the runbooks are told to
trust, and an "inspection" CA they are not (what a TLS-inspecting proxy does)."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import trustme

__all__ = ["INSPECTION_CA_NAME", "LAB_HOSTS", "LabPKI"]

#: Names every lab server certificate is valid for.
LAB_HOSTS = ("localhost", "127.0.0.1", "::1", "api.lab.test")
INSPECTION_CA_NAME = "Lab TLS Inspection CA"


@dataclass
class LabPKI:
    workdir: Path

    @cached_property
    def ca(self) -> trustme.CA:
        return trustme.CA(organization_name="Claude Code Runbooks Lab")

    @cached_property
    def inspection_ca(self) -> trustme.CA:
        return trustme.CA(organization_name=INSPECTION_CA_NAME)

    @cached_property
    def ca_file(self) -> Path:
        """The lab CA as PEM: what NODE_EXTRA_CA_CERTS should point at."""
        path = self.workdir / "lab-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return path

    @cached_property
    def inspection_ca_file(self) -> Path:
        path = self.workdir / "inspection-ca.pem"
        self.inspection_ca.cert_pem.write_to_path(str(path))
        return path

    def server_files(self, name: str) -> tuple[Path, Path]:
        """A good certificate for the lab hosts as PEM files (certificate, key), for servers
        that take files (the lab proxy)."""
        leaf = self.ca.issue_cert(*LAB_HOSTS)
        cert, key = self.workdir / f"{name}.pem", self.workdir / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key

    def server_context(self, kind: str = "good") -> ssl.SSLContext:
        """A server-side context whose certificate has the fault ``kind``:
        good, untrusted, expired, not_yet_valid, wrong_host."""
        now = dt.datetime.now(dt.UTC)
        ca, hosts, kwargs = self.ca, LAB_HOSTS, {}
        if kind == "untrusted":
            ca = self.inspection_ca
        elif kind == "expired":
            kwargs = {"not_before": now - dt.timedelta(days=400),
                      "not_after": now - dt.timedelta(days=35)}
        elif kind == "not_yet_valid":
            kwargs = {"not_before": now + dt.timedelta(days=30),
                      "not_after": now + dt.timedelta(days=400)}
        elif kind == "wrong_host":
            hosts = ("wrong.lab.test",)
        elif kind not in ("good", "mtls"):
            raise ValueError(f"unknown certificate kind {kind!r}")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*hosts, **kwargs).configure_cert(ctx)
        if kind == "mtls":  # a gateway that wants a client certificate signed by the lab CA
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(ctx)
        return ctx

    def client_files(self) -> tuple[Path, Path]:
        """A client certificate and key signed by the lab CA, as PEM files (for mTLS)."""
        leaf = self.ca.issue_cert("runbooks-lab-client@lab.test")
        cert, key = self.workdir / "client.pem", self.workdir / "client.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key
