"""A fake status page with the real Atlassian Statuspage shape (``/api/v2/summary.json`` and
``/api/v2/status.json``), on loopback: operational, degraded, a major outage, or an incident in
progress; or one whose answer trickles in, one byte at a time (``trickle_s``). Every lab
scenario starts one (operational unless the scenario says otherwise) and points
``RUNBOOKS_STATUS_URL`` at it, so no run ever asks the real one.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..addr import hostport
from .api import Trickle

__all__ = ["STATES", "FakeStatusPage", "summary"]

STATES = ("operational", "degraded", "major", "incident")
_PAGE = {"id": "labpage0001", "name": "Claude (lab)", "url": "https://status.claude.com",
         "time_zone": "Etc/UTC"}
_COMPONENTS = ["claude.ai", "Anthropic Console (platform.claude.com)",
               "Claude API (api.anthropic.com)", "Claude Code"]
_INDICATOR = {"operational": ("none", "All Systems Operational"),
              "degraded": ("minor", "Minor Service Outage"),
              "major": ("major", "Partial System Outage"),
              "incident": ("major", "Partial System Outage")}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _component(i: int, name: str, status: str) -> dict:
    return {"id": f"labcomp{i:04d}", "name": name, "status": status, "created_at": _now(),
            "updated_at": _now(), "position": i + 1, "description": None, "showcase": False,
            "start_date": None, "group_id": None, "page_id": _PAGE["id"], "group": False,
            "only_show_if_degraded": False}


def summary(state: str, incident: dict | None = None) -> dict:
    """The ``summary.json`` document for ``state``; ``incident``: fields laid over its
    incident's (``name``, ``shortlink``…), as a page may send anything."""
    api_status = {"operational": "operational", "degraded": "degraded_performance",
                  "major": "major_outage", "incident": "partial_outage"}[state]
    comps = [_component(i, n, api_status if "API" in n or "Claude Code" in n else "operational")
             for i, n in enumerate(_COMPONENTS)]
    incidents = []
    if state in ("major", "incident"):
        affected = [c for c in comps if c["status"] != "operational"]
        incidents.append({
            "id": "labincident01", "name": "Elevated errors on the Claude API",
            "status": "investigating" if state == "major" else "identified",
            "created_at": _now(), "updated_at": _now(), "monitoring_at": None,
            "resolved_at": None, "impact": "major" if state == "major" else "minor",
            "shortlink": "https://stspg.io/lab0001", "started_at": _now(),
            "page_id": _PAGE["id"],
            "incident_updates": [{"id": "labupdate01", "status": "investigating",
                                  "body": "We are investigating elevated error rates.",
                                  "created_at": _now(), "display_at": _now(),
                                  "affected_components": None}],
            "components": affected, **(incident or {})})
    indicator, description = _INDICATOR[state]
    return {"page": {**_PAGE, "updated_at": _now()}, "components": comps,
            "incidents": incidents, "scheduled_maintenances": [],
            "status": {"indicator": indicator, "description": description}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if self.server.trickle_s:  # the whole answer, status line first, a byte at a time
            self.wfile = Trickle(self.wfile, self.server.trickle_s, self.server.stopping)

    def do_GET(self) -> None:
        doc = summary(self.server.state, self.server.incident)
        path = self.path.split("?")[0]
        if path == "/api/v2/summary.json":
            body = self.server.body or json.dumps(doc).encode()
        elif path == "/api/v2/status.json":
            body = json.dumps({"page": doc["page"], "status": doc["status"]}).encode()
        else:
            body = b'{"error": "not found"}'
        self.send_response(200 if path.startswith("/api/v2/") else 404)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: str, incident: dict | None = None,
                 trickle_s: float = 0.0) -> None:
        self.state = state
        self.incident = incident
        self.body: bytes | None = None  # summary.json as these bytes instead (FakeStatusPage.body)
        self.trickle_s = trickle_s
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:  # no reverse DNS lookup (HTTPServer would getfqdn())
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up mid-answer (a trickle given up) are normal here


class FakeStatusPage:
    """The fake status page in a background thread, until :meth:`close`. ``incident``: fields
    laid over the incident of the ``major`` and ``incident`` states. ``trickle_s``: send
    every byte of each answer (its status line first) that many seconds after the last."""

    def __init__(self, state: str = "operational", incident: dict | None = None,
                 trickle_s: float = 0.0) -> None:
        if state not in STATES:
            raise ValueError(f"unknown status page state {state!r}; one of {', '.join(STATES)}")
        self.server = _Server(state, incident, trickle_s)
        self.port = self.server.server_address[1]
        self.url = f"http://{hostport('127.0.0.1', self.port)}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def body(self) -> bytes | None:
        """``summary.json`` as these bytes rather than the state's document (None)."""
        return self.server.body

    @body.setter
    def body(self, data: bytes | None) -> None:
        self.server.body = data

    def close(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
