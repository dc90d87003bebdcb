"""Scenarios for the fixes: each a fault a `runbooks fix --apply` can mend, set up the way
users have it (a shell variable, a settings file in a temporary HOME), so the tests can show
the real client failing before, working after, and failing again after `runbooks undo`.
"""

from __future__ import annotations

import json

from .api import FakeAPI
from .faults import BlackHole, Refused
from .scenario import LAB_API_KEY, Running, Scenario, _api, _fault, _trust_lab_ca

__all__ = ["FIX_SCENARIOS"]


def _settings_home(run: Running, env: dict | None = None, **top) -> None:
    """A temporary HOME whose user settings hold ``env`` (and other top-level keys)."""
    assert run.workdir is not None
    home = run.workdir / "home"
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    data = {**top, **({"env": env} if env else {})}
    (home / ".claude" / "settings.json").write_text(json.dumps(data, indent=2) + "\n")
    run.env["HOME"] = str(home)


def _proxy_required(run: Running, pki) -> None:
    """Direct, the API is a black hole; the proxy (not configured anywhere) reaches it."""
    from .proxy import LabProxy

    api = _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    _fault(run, BlackHole(), "https")
    proxy = LabProxy(run.workdir, route_to=f"127.0.0.1:{api.port}")
    run.parts.append(proxy)
    run.info["proxy"] = proxy.url
    run.notes.append(f"This network reaches the API only through {proxy.url}, which no "
                     f"variable names: `runbooks fix --apply --proxy {proxy.url}` sets it.")


def _slow_timeout(run: Running, pki) -> None:
    api = _api(run, pki, behaviour="slow_first_byte")
    api.delay = 0.5
    run.env["API_TIMEOUT_MS"] = "300"  # the popular guide's "300", meant as seconds


def _quoted_key(run: Running, pki) -> None:
    api: FakeAPI = _api(run, pki, behaviour="strict")
    del api
    _settings_home(run, {"ANTHROPIC_API_KEY": f'"{LAB_API_KEY}"'})
    run.client_unset.add("ANTHROPIC_API_KEY")  # the settings file's key is the only one


def _proxy_shadowed(run: Running, pki) -> None:
    """Settings HTTPS_PROXY is the working proxy; the shell's https_proxy, read first, is a
    dead one left from another network."""
    from .proxy import LabProxy

    api = _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    _fault(run, BlackHole(), "https")
    proxy = LabProxy(run.workdir, route_to=f"127.0.0.1:{api.port}")
    run.parts.append(proxy)
    dead = Refused()
    run.parts.append(dead)
    _settings_home(run, {"HTTPS_PROXY": proxy.url})
    run.env["https_proxy"] = dead.url("http")


FIX_SCENARIOS = [
    Scenario("proxy-required", "only a proxy reaches the API, and no variable names it "
             "(direct: a black hole); `runbooks fix --proxy URL` sets it", "tcp.timeout",
             _proxy_required,
             "Request timed out. If the API is slow to answer, or a proxy or gateway holds "
             "responses, set API_TIMEOUT_MS above 5000."),
    Scenario("timeout-300", "API_TIMEOUT_MS=300 (meant as seconds: 0.3 s) against a gateway "
             "that answers in 0.5 s", None, _slow_timeout,
             "Request timed out. If the API is slow to answer, or a proxy or gateway holds "
             "responses, set API_TIMEOUT_MS above 300.",
             doctor=("config.timeout_too_low",)),
    Scenario("key-quoted", "the user settings' env block holds the key with its quotes; the "
             "API accepts only the bare key", None, _quoted_key,
             "Invalid API key · Fix external API key",
             doctor=("auth.malformed", "auth.invalid")),
    Scenario("proxy-shadowed", "settings HTTPS_PROXY is the working proxy, but the shell's "
             "https_proxy (a dead one) is read first", "proxy.shadowed", _proxy_shadowed,
             "API Error: Connection refused — a firewall or proxy may be blocking it "
             "(ECONNREFUSED)", also=("proxy.unreachable",)),
]
