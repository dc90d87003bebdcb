"""The public status page: is the trouble on Anthropic's side right now?

Anthropic's status page is an Atlassian Statuspage (https://status.claude.com). Its
``/api/v2/summary.json`` lists the components (``operational``, ``degraded_performance``,
``partial_outage``, ``major_outage``, ``under_maintenance``) and the unresolved incidents
(``investigating``, ``identified``, ``monitoring``), each with the components it affects.

Only what affects the API counts here: components whose names mention the API or Claude Code.
An unreachable status page is ``status.unreachable``: informational, never a failure (it is
often blocked where the API is allowed). The page is fetched along the path the client would
take to that host (its proxy, as Claude Code would pick it), within the run's budgets, and all
of it, a page that trickles in too, within one request's deadline (:meth:`Budget.request_s`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..addr import is_ip_literal
from ..budget import Budget, Deadline
from ..client.proxy import choose_proxy
from ..client.target import load_trust
from .classify import classify_http
from .http import client

__all__ = ["STATUS_URL", "Component", "Incident", "StatusPage", "fetch_status",
           "status_url"]

#: Anthropic's status page; ``RUNBOOKS_STATUS_URL`` or ``--status-url`` point elsewhere.
STATUS_URL = "https://status.claude.com"
_RELEVANT = ("api", "claude code")
_OPEN = ("investigating", "identified", "monitoring", "in_progress", "scheduled")
_TROUBLE = ("degraded_performance", "partial_outage", "major_outage")
_MAX = 1024 * 1024


def status_url(given: str = "", env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (given or env.get("RUNBOOKS_STATUS_URL", "") or STATUS_URL).rstrip("/")


def _relevant(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in _RELEVANT)


@dataclass
class Component:
    name: str
    status: str

    @property
    def troubled(self) -> bool:
        return self.status in _TROUBLE


@dataclass
class Incident:
    name: str
    status: str
    impact: str
    components: list[str]
    link: str | None

    @property
    def relevant(self) -> bool:
        """Affects the API, or does not say which components it affects."""
        return not self.components or any(_relevant(c) for c in self.components)


@dataclass
class StatusPage:
    url: str
    ok: bool
    error: str | None = None
    indicator: str | None = None  # none | minor | major | critical
    description: str | None = None
    components: list[Component] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    @property
    def troubled(self) -> list[Component]:
        return [c for c in self.components if _relevant(c.name) and c.troubled]

    @property
    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents if i.status in _OPEN and i.relevant]

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "error": self.error,
                "indicator": self.indicator, "description": self.description,
                "components": [c.__dict__ for c in self.components if _relevant(c.name)],
                "incidents": [i.__dict__ for i in self.open_incidents]}


def _parse(url: str, data: Any) -> StatusPage:
    if not isinstance(data, dict):
        return StatusPage(url, False, "the status page answered something that is not "
                          "Statuspage JSON")
    status = data.get("status") or {}
    comps = [Component(str(c.get("name", "?")), str(c.get("status", "?")))
             for c in data.get("components") or [] if isinstance(c, dict)]
    incidents = []
    for i in data.get("incidents") or []:
        if not isinstance(i, dict):
            continue
        affected = [str(c.get("name", "?")) for c in i.get("components") or []
                    if isinstance(c, dict)]
        incidents.append(Incident(str(i.get("name", "?")), str(i.get("status", "?")),
                                  str(i.get("impact", "?")), affected, i.get("shortlink")))
    return StatusPage(url, True, None, status.get("indicator"), status.get("description"),
                      comps, incidents)


def fetch_status(url: str, env: Mapping[str, str], budget: Budget,
                 verify: Any = None) -> StatusPage:
    """``GET {url}/api/v2/summary.json`` along the client's path to that host."""
    full = f"{url}/api/v2/summary.json"
    parts = urlsplit(full)
    scheme = parts.scheme or "https"
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return StatusPage(url, False, "the status page URL has a bad port")
    proxy = choose_proxy(env, parts.hostname or "", port, scheme)
    via = proxy.url if proxy is not None and proxy.in_effect else None
    if scheme == "https" and verify is None:
        verify = load_trust(env).context
    verify = verify if scheme == "https" else True
    first_hop = (urlsplit(via).hostname if via else parts.hostname) or ""
    deadline = Deadline(budget.request_s(tls=scheme == "https", proxy=via,
                                         dns=not is_ip_literal(first_hop)))
    try:
        with client(deadline, budget, verify, via) as http, \
                http.stream("GET", full, headers={"accept": "application/json"}) as resp:
            deadline.phase, deadline.received = "body", 0
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > _MAX:
                    return StatusPage(url, False, "the status page's answer is too large")
    except httpx.HTTPError as exc:
        return StatusPage(url, False, classify_http(exc, budget.read).message)
    if resp.status_code != 200:
        return StatusPage(url, False, f"the status page answered {resp.status_code}")
    try:
        return _parse(url, json.loads(body))
    except ValueError:
        return StatusPage(url, False, "the status page answered something that is not JSON")
    except RecursionError:
        return StatusPage(url, False, "the status page answered JSON nested too deeply to read")
