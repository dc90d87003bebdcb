"""The authentication runbook: which credential Claude Code sends, from where, what is wrong
with it, and (for free) whether the API accepts it.

credentials → values → apiKeyHelper → conflicts → the API's verdict (``GET /v1/models``).

Every credential is found where the client finds it (the shell, the ``env`` blocks of the
settings files in precedence, ``apiKeyHelper``, ``CLAUDE_CODE_OAUTH_TOKEN``, the cloud-provider
switches: :mod:`runbooks.client.credentials`, checked header by header against the pinned client).
Values are never shown: at most ``sk-ant-…abcd``.
"""

from __future__ import annotations

import platform
from typing import Any

from ..client import credentials as _cred
from ..files import shown_path
from ..probes import live as _live
from ..result import Check, Status
from .base import COMMON, NETWORK_PATH, Context, Runbook
from .params import merge

__all__ = ["AuthRun"]

_LIVE_FIX = {
    "auth.invalid": "The API does not accept this credential: create a new key in the Console "
                    "(or run /login again), or remove a stale ANTHROPIC_API_KEY so the login "
                    "you meant is used.",
}


class AuthRun(Runbook):
    id = "auth"
    title = "Authentication: which credential goes out, and is it accepted?"
    PARAMETERS = merge(COMMON, NETWORK_PATH)
    STEPS = ("check_credentials", "check_values", "check_helper", "check_conflicts")
    LIVE_STEPS = ("check_accepted",)

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        self._report: _cred.CredentialReport | None = None

    @property
    def found(self) -> _cred.CredentialReport:
        """The credentials, found once per run (the helper runs once)."""
        if self._report is None:
            ctx = self.ctx
            self._report = ctx.once("auth.credentials", lambda: _cred.find_credentials(
                ctx.settings, ctx.project_dir))
        return self._report

    def _findings(self, kind: str) -> list[_cred.Finding]:
        return [f for f in self.found.findings if f.kind == kind]

    # -- steps ---------------------------------------------------------------------------------
    def check_credentials(self) -> Check:
        """Which headers the client will send, and where each value comes from."""
        def run() -> Check:
            rep = self.found
            details = rep.to_dict()
            if rep.provider:
                return Check("credentials", "Credentials", Status.PASS,
                             f"requests go to {rep.provider} with its own authentication; no "
                             "Anthropic credential is sent", details=details)
            missing = self._findings("missing")
            if missing:
                f = missing[0]
                said = f" (Claude Code: \"{f.client_says}\")" if f.client_says else ""
                if platform.system() == "Darwin":  # a /login lives in the keychain there
                    return Check("credentials", "Credentials", Status.WARN,
                                 f.message + said + "; on macOS a /login is kept in the "
                                 "keychain, which is not read here: if `claude` works "
                                 "interactively, you are logged in", cause="auth.missing",
                                 details=details)
                return Check("credentials", "Credentials", Status.FAIL, f.message + said,
                             cause="auth.missing", details=details)
            login = _cred._login_stored(self.env)
            if not rep.headers and login:
                return Check("credentials", "Credentials", Status.PASS,
                             f"a /login (subscription) is stored in {shown_path(login)}: the "
                             "client sends its OAuth token (not read here: it stays in its "
                             "file)", details={**details, "login": shown_path(login)})
            parts = [f"{name} ← {h['from']} ({h['where']}) {h['value']}"
                     for name, h in rep.headers.items()]
            return Check("credentials", "Credentials", Status.PASS,
                         "sends " + "; ".join(parts) if parts else "nothing to send",
                         details=details)
        return self.guard("credentials", "Credentials", run)

    def check_values(self) -> Check:
        """Defects the client meets in the values: quotes sent as part of the key, a doubled
        ``Bearer``, characters it refuses to send (edge whitespace is harmless: trimmed)."""
        def run() -> Check:
            bad = self._findings("malformed")
            if not bad:
                if not self.found.headers:
                    return Check("values", "Values", Status.SKIP, "no credential to look at")
                return Check("values", "Values", Status.PASS,
                             "no visible defect (whitespace at the ends is trimmed by the "
                             "client)")
            f = bad[0]
            said = f" Claude Code says: \"{f.client_says}\"" if f.client_says else ""
            refused = (" It refuses to send the request." if f.refused and "refuse" not in
                       f.message else "")
            return Check("values", "Values", Status.FAIL, f"{f.message}.{refused}{said}",
                         cause="auth.malformed", fix=_meant("auth.malformed", f),
                         details={"findings": [x.to_dict() for x in bad]})
        return self.guard("values", "Values", run)

    def check_helper(self) -> Check:
        """``apiKeyHelper``: run with a time limit, its output never shown."""
        def run() -> Check:
            helper = self.found.helper
            if helper is None:
                return Check("helper", "apiKeyHelper", Status.SKIP, "no apiKeyHelper set")
            failed = self._findings("helper_failed")
            if failed:
                f = failed[0]
                return Check("helper", "apiKeyHelper", Status.FAIL, f.message,
                             cause="auth.helper_failed", details=helper.to_dict())
            return Check("helper", "apiKeyHelper", Status.PASS,
                         f"from {helper.where}: {helper.status} in {helper.elapsed_ms:.0f} ms "
                         "(not shown)", details=helper.to_dict())
        return self.guard("helper", "apiKeyHelper", run)

    def check_conflicts(self) -> Check:
        """Several credentials at once: the client sends them together; the API picks."""
        def run() -> Check:
            clashes = self._findings("conflict")
            if not clashes and not self.found.headers:
                return Check("conflicts", "Conflicts", Status.SKIP,
                             "no credential in the environment: nothing to compete")
            if not clashes:
                return Check("conflicts", "Conflicts", Status.PASS,
                             "one credential: nothing competes with it")
            f = clashes[0]
            return Check("conflicts", "Conflicts", Status.WARN, f.message,
                         cause="auth.conflict", fix=_meant("auth.conflict", f),
                         details={"findings": [x.to_dict() for x in clashes]})
        return self.guard("conflicts", "Conflicts", run)

    def check_accepted(self) -> Check:
        """A free request with the client's headers: ``GET /v1/models`` runs no model."""
        title = "Accepted"
        blocked = self.live_blocked("accepted", title)
        if blocked:
            return blocked
        rep = self.found
        if rep.provider:
            return self.skip("accepted", title, f"requests go to {rep.provider}: its own "
                             "authentication is not checked here")
        if not rep.headers and _cred._login_stored(self.env) and not rep.refused:
            return self.skip("accepted", title, "not checked: the /login's token stays in its "
                             "file (`claude` then /status shows the login in use)")
        if rep.refused or not rep.headers:
            return self.skip("accepted", title, "skipped: Claude Code would send no request "
                             "(see above)")
        if helper_empty(rep):
            return self.skip("accepted", title, "skipped: the apiKeyHelper failed, so Claude "
                             "Code sends empty credentials (see apiKeyHelper)")

        def run() -> Check:
            answer = models_answer(self.ctx, rep)
            details = answer.to_dict()
            if answer.ok:
                return Check("accepted", title, Status.PASS,
                             f"the API accepts the credential ({answer.summary})",
                             details=details, duration_s=answer.duration_ms / 1000)
            if answer.cause and answer.cause.startswith(("ratelimit.", "overloaded")):
                # the key got through; the rate-limits runbook reports the rest
                return Check("accepted", title, Status.PASS,
                             f"the API knows the credential, but: {answer.summary}",
                             details=details, duration_s=answer.duration_ms / 1000)
            return Check("accepted", title, Status.FAIL, answer.summary, cause=answer.cause,
                         fix=_LIVE_FIX.get(answer.cause or ""), details=details,
                         duration_s=answer.duration_ms / 1000)
        return self.guard("accepted", title, run)


def _meant(cause: str, f: _cred.Finding) -> str:
    """A fix line: what the user likely meant, then the cause's own instruction."""
    from ..causes import CAUSES

    meant = f"You most likely meant {f.likely_meant}. " if f.likely_meant else ""
    return meant + CAUSES[cause].fix


def helper_empty(rep: _cred.CredentialReport) -> bool:
    """The helper failed and supplies every header: the client sends only empty credentials
    (beside a variable, that variable's header still carries a credential)."""
    return "helper_failed" in rep.kinds and bool(rep.headers) and all(
        h.get("from") == "apiKeyHelper" for h in rep.headers.values())


def models_answer(ctx: Context, rep: _cred.CredentialReport) -> _live.Answer:
    """The one free authenticated request of a run, shared with the rate-limits runbook."""
    return ctx.once("live.models", lambda: _live.models(ctx, _cred.headers_for_request(rep)))
