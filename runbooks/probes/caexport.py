"""The CA to export: which certificate makes the API's presented chain verify, and proof.

The API host's path is walked once per run (:func:`walks`, shared through the context with
the proxy-tls runbook); what this machine has of the CA that chain needs is one
:class:`~runbooks.probes.inspection.CaFinding` per run (:func:`finding`: the top of the chain, or
its root in the system store, proven by a second handshake along the same path with the
client's trust plus that CA, :func:`verify_with`). The proxy-tls runbook reports it; the
trust-CA fix (:mod:`runbooks.fixing.tls_fix`) asks it here, so both tell the same story.
"""

from __future__ import annotations

from ..files import MiB, read_bytes
from . import hosts as _hosts
from . import inspection as _insp
from . import status as _status
from .context import Context
from .tls import handshake

__all__ = ["api_walk", "chain", "finding", "from_file", "needed", "parsed", "system_store",
           "verify_with", "walks"]


def walks(ctx: Context, hosts: str = "") -> list[_hosts.Walk]:
    """Every host's path (the API's first, then ``hosts`` and the hosts the client needs),
    walked once per run, all at once (the first caller waits)."""
    def make() -> list[_hosts.Walk]:
        status_url = _status.status_url(ctx.values.get("status_url", ""), ctx.env)
        todo = _hosts.hosts_to_check(ctx.target, hosts, ctx.env, status_url)
        return _hosts.walk_all(todo, ctx.env, ctx.resolver, ctx.budget, ctx.trust.context)
    return ctx.once(f"proxy_tls.walks:{hosts}", make)


def api_walk(ctx: Context, hosts: str = "") -> _hosts.Walk:
    return walks(ctx, hosts)[0]


def chain(walk: _hosts.Walk) -> list[_insp.CertFacts]:
    """The certificates the host presented, when they were not trusted."""
    return [_insp.CertFacts(d) for d in walk.chain_der]


def system_store(ctx: Context) -> tuple[list[_insp.CertFacts], list[str]]:
    """The system's CA store (hundreds of certificates), read once per run (the same key
    :func:`runbooks.probes.inspection.ca_finding` reads it by)."""
    return ctx.once("inspection.system_store", lambda: _insp.system_store(ctx.env))


def verify_with(ctx: Context, walk: _hosts.Walk, ca: _insp.CertFacts):
    """A second handshake along the same path: a fresh context with the client's trust
    plus ``ca`` (never the run's shared context, which must stay as the client has it)."""
    b = ctx.budget
    return handshake(walk.address, walk.host.port, walk.host.name,
                     _insp.context_with(ctx.env, ca), b.connect, b.tls, opener=walk.reopen(b))


def finding(ctx: Context, hosts: str = "") -> _insp.CaFinding | None:
    """What this machine has of the CA the API's refused chain needs, proven along its path:
    one finding per run, shared by the network and proxy-tls runbooks and `runbooks fix`
    (None: no chain was kept)."""
    walk = api_walk(ctx, hosts)
    return _insp.ca_finding(ctx, chain(walk), lambda ca: verify_with(ctx, walk, ca))


def parsed(der: bytes) -> _insp.CertFacts | None:
    """A certificate from one of ``pem_blocks``' DER blocks, or None if it does not parse."""
    facts = _insp.CertFacts(der)
    try:
        facts.cert  # noqa: B018 - parses, or raises
    except ValueError:
        return None
    return facts


def from_file(ctx: Context, ca_file: str,
              hosts: str = "") -> tuple[_insp.CertFacts | None, bool]:
    """(the CA in ``ca_file`` that makes the API's chain verify, True), else (its first CA,
    False), else (None, False): a PEM the user has (IT's root, when no copy is on this
    machine)."""
    walk = api_walk(ctx, hosts)
    cas = [c for c in (parsed(b) for b in _insp.pem_blocks(read_bytes(ca_file, 16 * MiB)))
           if c is not None and c.is_ca]
    for ca in cas:
        if verify_with(ctx, walk, ca).ok:
            return ca, True
    return (cas[0], False) if cas else (None, False)


def needed(ctx: Context, hosts: str = "") -> str:
    """The name of the CA the API's chain needs (its top's issuer)."""
    try:
        presented = chain(api_walk(ctx, hosts))
        return presented[-1].issuer_name if presented else "the proxy's root CA"
    except ValueError:  # a certificate that does not parse
        return "the proxy's root CA"
