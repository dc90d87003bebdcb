"""The rate-limits runbook: what the API says about load and limits, and, with ``live``, how a
real streamed answer arrives.

the API's answer to an authenticated request → (live) one minimal streamed message.

Without ``live`` nothing costs anything: the answer is the one the authentication runbook's
free ``GET /v1/models`` got (shared, so a doctor run sends it once). A 429 with
``retry-after`` is a rate limit (``ratelimit.exceeded``, with the ``anthropic-ratelimit-*``
figures); a 429 without it is a spend or usage cap; 529 is load on Anthropic's side; other
5xx (an edge's HTML 504 too) are server errors; an ``error`` event inside a 200 stream is its
own kind. With ``live``, one streamed message (≤ 20 output tokens on the cheapest model, a
fraction of a cent) shows the stream itself: a stream that starts then stops
(``http.stream_stall``), or one held back and delivered in one burst by a proxy or gateway
(``http.stream_buffered``, which makes long answers trip the client's idle watchdog).
"""

from __future__ import annotations

from typing import Any

from ..client import credentials as _cred
from ..probes import live as _live
from ..probes import status as _status
from ..result import Check, Status
from .auth import helper_empty, models_answer
from .base import COMMON, NETWORK_PATH, Context, Runbook
from .params import flag, merge, text

__all__ = ["BURST_MS", "RateLimitsRun"]

#: A stream whose events all arrive within this many ms, after a wait longer than
#: ``_HELD_MS`` for the first one, was held back and delivered at once.
BURST_MS = 50.0
_HELD_MS = 1000.0


def _model(value: str) -> str:
    if not value.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise ValueError("expected a model name such as claude-haiku-4-5")
    return value


def _status_url(value: str) -> str:
    from ..client.target import check_url

    check_url(value, credentials=False)
    return value


STATUS: tuple = (
    text("status_url", "", "the status page to read (empty: RUNBOOKS_STATUS_URL, else "
         "https://status.claude.com)", _status_url, "URL"),
)

LIVE: tuple = (
    flag("live", False, "also send one minimal streamed message (≤ 20 output tokens; costs "
         "a fraction of a cent) to see rate-limit headers and how the stream arrives"),
    text("live_model", _live.LIVE_MODEL, "the model for the live message (the cheapest)",
         _model, "MODEL"),
)


class RateLimitsRun(Runbook):
    id = "rate-limits"
    title = "Rate limits & server errors: what the API says about load and limits"
    PARAMETERS = merge(COMMON, NETWORK_PATH, STATUS, LIVE)
    STEPS = ("check_status",)
    LIVE_STEPS = ("check_answer", "check_stream")

    def __init__(self, context: Context, status_url: str = "", live: bool = False,
                 live_model: str = _live.LIVE_MODEL, **options: Any) -> None:
        super().__init__(context, **options)
        self.status_url = _status.status_url(status_url, context.env)
        self.live, self.live_model = live, live_model
        self.status_page: _status.StatusPage | None = None

    def _credentials(self) -> _cred.CredentialReport:
        ctx = self.ctx
        return ctx.once("auth.credentials", lambda: _cred.find_credentials(
            ctx.settings, ctx.project_dir))

    def check_status(self) -> Check:
        """The public status page: unresolved incidents, or API components in trouble."""
        title = "Status page"

        def run() -> Check:
            verify = self.ctx.trust.context if self.status_url.startswith("https:") else None
            page = _status.fetch_status(self.status_url, self.env, self.budget, verify)
            self.status_page = page
            details = page.to_dict()
            if not page.ok:  # informational: often blocked where the API is allowed
                return Check("status", title, Status.SKIP,
                             f"{self.status_url} not reachable from here ({page.error}): "
                             "nothing is known about incidents", cause="status.unreachable",
                             details=details)
            incidents, troubled = page.open_incidents, page.troubled
            if incidents:
                i = incidents[0]
                link = f" — {i.link}" if i.link else ""
                return Check("status", title, Status.WARN,
                             f"incident in progress: {i.name!r} ({i.status}, impact "
                             f"{i.impact}){link}", cause="status.incident", details=details)
            if troubled:
                shown = ", ".join(f"{c.name} {c.status.replace('_', ' ')}" for c in troubled)
                return Check("status", title, Status.WARN, shown, cause="status.incident",
                             details=details)
            return Check("status", title, Status.PASS,
                         f"{page.description or 'no incident'} ({self.status_url})",
                         details=details)
        return self.guard("status", title, run)

    def check_answer(self) -> Check:
        """The API's answer to the free authenticated request: limits, load, server errors."""
        title = "API answer"
        blocked = self.live_blocked("ratelimit.answer", title)
        if blocked:
            return blocked
        rep = self._credentials()
        if rep.provider or rep.refused or not rep.headers or helper_empty(rep):
            return self.skip("ratelimit.answer", title, "skipped: no Anthropic credential to "
                             "ask with (see the authentication checks)")

        def run() -> Check:
            answer = models_answer(self.ctx, rep)
            details = answer.to_dict()
            took = answer.duration_ms / 1000
            if answer.ok:
                return Check("ratelimit.answer", title, Status.PASS,
                             answer.summary.replace("GET /v1/models: ", "no limit hit: "),
                             details=details, duration_s=took)
            if answer.cause and answer.cause.startswith(("auth.", "tcp.", "tls.", "dns.",
                                                         "proxy.")):
                return Check("ratelimit.answer", title, Status.SKIP,
                             f"no answer about limits: {answer.summary} (see above)",
                             details=details)
            return Check("ratelimit.answer", title, Status.FAIL, answer.summary,
                         cause=answer.cause, details=details, duration_s=took)
        return self.guard("ratelimit.answer", title, run)

    def check_stream(self) -> Check:
        """With ``live``: one minimal streamed message, and how its events arrive."""
        title = "Live stream"
        if not self.live:
            return self.skip("live.stream", title, "not asked for: live=true (doctor --live) "
                             "sends one minimal streamed message, a fraction of a cent")
        blocked = self.live_blocked("live.stream", title)
        if blocked:
            return blocked
        rep = self._credentials()
        if rep.provider or rep.refused or not rep.headers or helper_empty(rep):
            return self.skip("live.stream", title, "skipped: no Anthropic credential to send")

        def run() -> Check:
            s = _live.message(self.ctx, _cred.headers_for_request(rep), self.live_model,
                              idle_s=self.budget.read * 3)
            details = s.to_dict()
            took = s.answer.duration_ms / 1000
            if s.events and not s.answer.ok:
                return Check("live.stream", title, Status.FAIL, s.answer.summary,
                             cause=s.answer.cause, details=details, duration_s=took)
            if not s.events:
                return Check("live.stream", title, Status.FAIL, s.answer.summary,
                             cause=s.answer.cause, details=details, duration_s=took)
            if s.stalled_after_ms is not None:
                return Check("live.stream", title, Status.FAIL,
                             f"the stream started ({len(s.events)} events in "
                             f"{s.stalled_after_ms:.0f} ms), then nothing came for "
                             f"{self.budget.read * 3:g} s (3 × the read budget)",
                             cause="http.stream_stall", details=details, duration_s=took)
            first = s.first_event_ms or 0.0
            if len(s.events) >= 3 and first >= _HELD_MS and s.spread_ms <= BURST_MS:
                return Check("live.stream", title, Status.WARN,
                             f"nothing for {first:.0f} ms after the headers, then all "
                             f"{len(s.events)} events within {s.spread_ms:.0f} ms: something "
                             "on the path holds the stream and delivers it at once",
                             cause="http.stream_buffered", details=details, duration_s=took)
            limits = _live._limits_line(s.answer.headers)
            return Check("live.stream", title, Status.PASS,
                         f"first event after {first:.0f} ms, {len(s.events)} events over "
                         f"{s.spread_ms:.0f} ms" + (f"; {limits}" if limits else ""),
                         details=details, duration_s=took)
        return self.guard("live.stream", title, run)
