"""Which credentials Claude Code sends, header by header, and what is wrong with them.

The client does not pick one credential (observed with v2.1.332, checked against the real
client by ``tests/test_client_api.py``). To the Anthropic API it sends:

- ``x-api-key``: ``ANTHROPIC_API_KEY``; without it, the ``apiKeyHelper``'s output;
- ``Authorization: Bearer``: ``ANTHROPIC_AUTH_TOKEN``; without it, the helper's output;
  without either, ``CLAUDE_CODE_OAUTH_TOKEN``, unless ``ANTHROPIC_API_KEY`` is set.

So ``ANTHROPIC_API_KEY`` with ``ANTHROPIC_AUTH_TOKEN`` sends both, and a helper alone sends
its key in both. The helper runs (``/bin/sh -c``, in the project directory) whenever it is
set, even when both variables make it useless; if it fails, the request still goes, with an
empty ``x-api-key`` and a bare ``Bearer`` where the helper's key would have been. Beside
``ANTHROPIC_API_KEY`` a failed helper thus leaves the key as the one credential sent (with a
bare ``Authorization: Bearer`` next to it): nothing competes with it, no conflict.

Values are trimmed at both ends. Then a line break, a NUL or any character above U+00FF
(an ellipsis, a zero-width space, a typographic quote…) makes the client refuse to send
anything, with its own words (reproduced here exactly); anything else travels as it is:
quotes, inner spaces, a ``Bearer`` prefix (which the client doubles).

With ``CLAUDE_CODE_USE_BEDROCK``/``_VERTEX``/``_FOUNDRY`` the requests go to the cloud
provider with its own authentication and none of these credentials is sent (the helper still
runs, and a malformed key is not even looked at). (With the
provider's ``CLAUDE_CODE_SKIP_*_AUTH``, for a gateway that signs for you, the client
forwards ``ANTHROPIC_AUTH_TOKEN`` or the helper's key as ``Bearer``, and on Vertex, or on
Bedrock next to a Bearer, ``ANTHROPIC_API_KEY`` as ``x-api-key``.)

Secrets are never printed, logged or stored: reports carry masked values only; the
helper's output (and its error output) is kept in memory, registered with
:func:`runbooks.masking.register_secret`, and never shown. :func:`headers_for_request`
hands the real values to a live check, which must not print them either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..masking import mask_key, register_secret
from .client_env import js_trim

__all__ = [
    "FINDING_KINDS",
    "HELPER_FAILING",
    "NOT_LOGGED_IN",
    "PROVIDERS",
    "CredentialReport",
    "Finding",
    "HelperOutcome",
    "find_credentials",
    "headers_for_request",
    "refusal",
]

KEY, TOKEN, OAUTH, HELPER = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                             "CLAUDE_CODE_OAUTH_TOKEN", "apiKeyHelper")
FINDING_KINDS = ("conflict", "malformed", "missing", "helper_failed")
#: The switches that send requests to a cloud provider instead, and its name.
PROVIDERS = {"CLAUDE_CODE_USE_BEDROCK": "Amazon Bedrock", "CLAUDE_CODE_USE_VERTEX":
             "Google Vertex AI", "CLAUDE_CODE_USE_FOUNDRY": "Microsoft Foundry"}
_SKIP = {"CLAUDE_CODE_USE_BEDROCK": "CLAUDE_CODE_SKIP_BEDROCK_AUTH",
         "CLAUDE_CODE_USE_VERTEX": "CLAUDE_CODE_SKIP_VERTEX_AUTH",
         "CLAUDE_CODE_USE_FOUNDRY": "CLAUDE_CODE_SKIP_FOUNDRY_AUTH"}
#: What the client prints when it has nothing to send.
NOT_LOGGED_IN = "Not logged in · Please run /login"
#: What the client prints when a failing helper leaves it without a usable key.
HELPER_FAILING = ("Your apiKeyHelper script is failing · This usually means you need to "
                  "re-authenticate with your provider")
_HELPER_MAX = 16384  # the longest helper output the client accepts
_HELPER_READ_CAP = 64 * 1024  # what we read of it at most
_CLIENT_HELPER_TIMEOUT_S = 600  # the client waits this long for the helper


@dataclass(frozen=True)
class Finding:
    """One problem with the credentials, as the client will meet it. ``refused``: the client
    sends nothing at all; ``client_says``: its own words, where it prints them."""

    kind: str  # one of FINDING_KINDS
    message: str
    likely_meant: str | None = None
    refused: bool = False
    client_says: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "likely_meant": self.likely_meant,
                "refused": self.refused, "client_says": self.client_says}


@dataclass(frozen=True)
class HelperOutcome:
    """What running the apiKeyHelper gave: never its output, only how it ended."""

    where: str  # the settings file that sets it (shown path)
    ok: bool
    status: str  # "printed a key", "exited 3", "timed out", "did not return a value", …
    elapsed_ms: float
    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "ok": self.ok, "status": self.status,
                "elapsed_ms": self.elapsed_ms}


@dataclass
class CredentialReport:
    """The headers the client will send (``x-api-key`` / ``authorization`` → ``{"from",
    "where", "value"}``, value masked), what is wrong, and how the helper ran. The real
    values stay private (:func:`headers_for_request`)."""

    headers: dict[str, dict[str, str]]
    findings: list[Finding]
    helper: HelperOutcome | None = None
    provider: str | None = None  # the cloud provider requests go to instead, if any
    refused: bool = False  # the client sends no request at all (a refusal, or nothing to send)
    _wire: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {"headers": {k: dict(v) for k, v in self.headers.items()},
                "findings": [f.to_dict() for f in self.findings],
                "helper": self.helper.to_dict() if self.helper else None,
                "provider": self.provider, "refused": self.refused}


@dataclass(frozen=True)
class _Credential:
    name: str  # ANTHROPIC_API_KEY, …, apiKeyHelper
    where: str  # shell, or the settings file's shown path
    value: str  # trimmed, as the client sends it ("" for a failed helper)

    def __repr__(self) -> str:  # never the value
        return f"_Credential({self.name!r}, {self.where!r}, {mask_key(self.value)!r})"


# -- what the client refuses --------------------------------------------------------------------
def _code_points(text: str) -> int:
    return len(text)  # Python strings are code points, as the client counts


def _named(cp: int) -> str | None:
    def u(c: int) -> str:
        return f"U+{c:04X}"
    names = {0xFEFF: "a byte-order mark (U+FEFF)", 0x2026: "an ellipsis character (U+2026)",
             0xFFFD: "a replacement character (U+FFFD)"}
    if cp in names:
        return names[cp]
    groups = [((0x200B, 0x200C, 0x200D, 0x2060), "a zero-width character"),
              ((0xA0, 0x202F), "a no-break space"),
              ((0x2018, 0x2019, 0x201C, 0x201D), "a typographic quote"),
              ((0x2013, 0x2014), "a typographic dash"),
              ((0x2028, 0x2029), "a line or paragraph separator")]
    for cps, what in groups:
        if cp in cps:
            return f"{what} ({u(cp)})"
    return "an unpaired UTF-16 surrogate" if 0xD800 <= cp <= 0xDFFF else None


def _size(text: str) -> str:
    """``12 characters`` or ``20 characters on 2 lines``, counted as the client counts."""
    n, lines, i = _code_points(text), 1, 0
    while i < len(text):
        if text[i] == "\n":
            lines += 1
        elif text[i] == "\r":
            lines += 1
            if text[i + 1:i + 2] == "\n":
                i += 1
        i += 1
    size = "1 character" if n == 1 else f"{n} characters"
    return f"{size} on {lines} lines" if lines > 1 else size


def _first_line_break(text: str) -> int:
    hits = [i for i in (text.find("\n"), text.find("\r")) if i != -1]
    return min(hits) if hits else -1


def _header_defect(value: str) -> str | None:
    """Why the client refuses ``value`` as a header value (its words), or None."""
    i = _first_line_break(value)
    if i != -1:
        return f"it contains a line break at character {i + 1} ({_size(value)})"
    for i, ch in enumerate(value):
        cp = ord(ch)
        if cp == 0:
            return f"it contains a NUL byte at character {i + 1} ({_size(value)})"
        if cp > 255:
            what = _named(cp) or "a non-ASCII character"
            return f"it contains {what} at character {i + 1} ({_size(value)})"
    return None


def _helper_defect(value: str) -> str | None:
    """Why the client rejects the helper's (trimmed) output as a key (its words), or None."""
    i = _first_line_break(value)
    if i != -1:
        return f"it contains a line break at character {i + 1} ({_size(value)})"
    for i, ch in enumerate(value):
        cp = ord(ch)
        if cp == 0:
            return f"it contains a NUL byte at character {i + 1} ({_size(value)})"
        if cp in (9, 32):
            return f"it contains whitespace at character {i + 1} ({_size(value)})"
        if cp < 32 or cp == 127:
            return f"it contains a control character at character {i + 1} ({_size(value)})"
        if cp > 126:
            what = _named(cp) or "a non-ASCII character"
            return f"it contains {what} at character {i + 1} ({_size(value)})"
    if len(value) > _HELPER_MAX:
        return f"it is {len(value)} characters long (limit {_HELPER_MAX})"
    return None


def refusal(name: str, value: str) -> str | None:
    """The message the client prints, refusing to send ``value`` from variable ``name``
    (``ANTHROPIC_API_KEY`` → ``x-api-key``, the tokens → ``Authorization``), or None when it
    sends it. ``value`` is the variable's raw value; the message never contains it."""
    why = _header_defect(js_trim(value))
    if why is None:
        return None
    if name == KEY:
        return ("Invalid API key · Fix external API key · Invalid X-Api-Key header value "
                f"from {name}: {why}.")
    return ("Invalid auth token · Fix external auth token · Invalid Authorization header "
            f"value from {name}: {why}.")


# -- what travels but will not work ---------------------------------------------------------------
def _visible_defect(cred: _Credential) -> tuple[str, str] | None:
    """(what is wrong, what was likely meant) for a value the client sends as it is."""
    v, label = cred.value, f"{cred.name} ({cred.where})"
    if cred.name == HELPER:
        label = f"the apiKeyHelper's key ({cred.where})"
    if len(v) >= 2 and v[0] in "\"'" or v[-1:] in ("\"", "'"):
        return ((f"{label} is wrapped in quotes: the client sends them as part of the value, "
                "and the API rejects it"), "the same value without the quotes")
    if cred.name in (TOKEN, OAUTH) and v[:7].lower() == "bearer ":
        return ((f"{label} starts with `Bearer `: the client adds its own, so it sends "
                "`Authorization: Bearer Bearer …`"), "the token alone, without `Bearer `")
    for i, ch in enumerate(v):
        if ch in " \t":
            return ((f"{label} contains whitespace at character {i + 1}: the client sends it "
                    "as it is, and the API rejects it"), "the value without the space")
        if ord(ch) < 32 or ord(ch) == 127:
            return ((f"{label} contains a control character at character {i + 1}: the client "
                    "sends it as it is, and the API rejects it"),
                    "the value re-copied without the stray character")
        if ord(ch) > 126:
            return ((f"{label} contains a non-ASCII character (U+{ord(ch):04X}) at character "
                    f"{i + 1}: the client sends it as it is, and the API rejects it"),
                    "the value re-copied as plain ASCII")
    return None


# -- the helper -----------------------------------------------------------------------------------
def _helper_setting(effective: Any) -> tuple[str, str] | None:
    """(command, where) of the apiKeyHelper in force: the highest-precedence file's."""
    for f in reversed(getattr(effective, "files", [])):
        command = (getattr(f, "data", None) or {}).get(HELPER)
        if isinstance(command, str) and command.strip():
            return command, f.shown
    return None


def _kill(proc: subprocess.Popen) -> None:
    try:
        if os.name != "nt":
            os.killpg(proc.pid, signal.SIGKILL)  # the helper's whole process group
        else:
            proc.kill()
    except OSError:
        pass


def _run_helper(command: str, cwd: Path, env: Mapping[str, str],
                timeout_s: float) -> tuple[str | None, str, float]:
    """Run the helper the way the client does (through the shell, in the project directory,
    with the client's environment). Returns (trimmed output or None, status, elapsed ms);
    the output is never logged."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(command, shell=True, cwd=str(cwd), env=dict(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=os.name != "nt")
    except OSError as exc:
        return None, f"could not be started: {exc.strerror or type(exc).__name__}", 0.0
    chunks: list[bytes] = []
    size = [0]

    def read() -> None:  # bounded: a helper that prints without end is cut, then drained
        assert proc.stdout is not None
        for block in iter(lambda: proc.stdout.read(65536), b""):
            if size[0] <= _HELPER_READ_CAP:
                chunks.append(block)
            size[0] += len(block)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        proc.wait()
    reader.join(timeout=1.0)
    if reader.is_alive():  # a child still holds stdout open
        _kill(proc)
        reader.join(timeout=1.0)
    if proc.stdout is not None:
        proc.stdout.close()
    elapsed = round((time.perf_counter() - t0) * 1000, 1)
    if timed_out:
        return None, "timed out", elapsed
    if proc.returncode != 0:
        return None, f"exited {proc.returncode}", elapsed
    output = js_trim(b"".join(chunks).decode("utf-8", "replace"))
    register_secret(output)
    if not output:
        return None, "did not return a value", elapsed
    if size[0] > _HELPER_READ_CAP:
        return None, (f"returned output that cannot be used as an API key: it is over "
                      f"{_HELPER_READ_CAP} bytes long (limit {_HELPER_MAX} characters). The "
                      "script must print only the key to stdout."), elapsed
    why = _helper_defect(output)
    if why:
        return None, (f"returned output that cannot be used as an API key: {why}. The script "
                      "must print only the key to stdout."), elapsed
    return output, "printed a key", elapsed


# -- the whole picture ----------------------------------------------------------------------------
def _truthy(value: str | None) -> bool:
    return js_trim(value or "").lower() in ("1", "true", "yes", "on")


def _where(effective: Any, name: str) -> str:
    f = getattr(effective, "origin", {}).get(name)
    return f.shown if f is not None else "shell"


def _credential(effective: Any, name: str) -> _Credential | None:
    raw = effective.env.get(name)
    if raw is None or not js_trim(raw):
        return None  # unset and empty are the same to the client
    register_secret(raw)
    return _Credential(name, _where(effective, name), js_trim(raw))


def _login_stored(env: Mapping[str, str]) -> str | None:
    """Where a /login is stored, if this machine has one in a file (macOS keeps it in the
    keychain, which is not looked at). Only the file's existence is checked."""
    folder = env.get("CLAUDE_CONFIG_DIR") or (
        str(Path(env["HOME"]) / ".claude") if env.get("HOME") else None)
    if folder and (Path(folder) / ".credentials.json").is_file():
        return str(Path(folder) / ".credentials.json")
    return None


def _gateway(env: Mapping[str, str]) -> str | None:
    """The host of ANTHROPIC_BASE_URL when it is not the Anthropic API."""
    base = env.get("ANTHROPIC_BASE_URL", "").strip()
    if not base:
        return None
    try:
        host = urlsplit(base if "://" in base else "https://" + base).hostname or ""
    except ValueError:
        return None
    return None if host in ("api.anthropic.com", "") else host


def _shown(c: _Credential) -> str:
    return f"{c.name} ({c.where})"


def _unset(c: _Credential) -> str:
    """How to take ``c`` away, in words."""
    return "remove apiKeyHelper" if c.name == HELPER else f"unset {c.name}"


def find_credentials(effective: Any, project_dir: Path | str,
                     helper_timeout_s: float = 5.0) -> CredentialReport:
    """Every credential the client would use, and exactly which headers it sends.

    ``effective`` is :class:`runbooks.client.settings.Effective` (``.env``, ``.files`` with
    ``.data``, ``.origin``). The ``apiKeyHelper`` in force is run through the shell in
    ``project_dir`` with at most ``helper_timeout_s`` seconds (the client itself waits up
    to 10 minutes); its output is never shown."""
    env = effective.env
    key, token, oauth = (_credential(effective, n) for n in (KEY, TOKEN, OAUTH))
    findings: list[Finding] = []
    switch = next((s for s in PROVIDERS if _truthy(env.get(s))), None)
    skip_auth = switch is not None and _truthy(env.get(_SKIP[switch]))

    # the helper: the client runs it whenever it is set, even where its key is not sent
    helper: _Credential | None = None
    outcome: HelperOutcome | None = None
    setting = _helper_setting(effective)
    if setting:
        command, where = setting
        value, status, elapsed = _run_helper(command, Path(project_dir), env, helper_timeout_s)
        outcome = HelperOutcome(where, value is not None, status, elapsed)
        helper = _Credential(HELPER, where, value or "")

    sent: dict[str, _Credential] = {}
    if switch is None:
        if key or helper:
            sent["x-api-key"] = key or helper
        bearer = token or helper or (oauth if not key else None)
        if bearer:
            sent["authorization"] = bearer
    elif skip_auth:  # a gateway in front of the provider: what the client still forwards
        bearer = token or helper
        if bearer:
            sent["authorization"] = bearer
        if key and (switch == "CLAUDE_CODE_USE_VERTEX" or
                    switch == "CLAUDE_CODE_USE_BEDROCK" and bearer):
            sent["x-api-key"] = key

    # refusals: the client checks x-api-key first, then Authorization, and sends nothing
    refused = False
    for header in ("x-api-key", "authorization"):
        c = sent.get(header)
        if c is None or c.name == HELPER:
            continue  # the helper's output was checked when it ran
        says = refusal(c.name, c.value)
        if says:
            refused = True
            findings.append(Finding("malformed", f"{_shown(c)} cannot be sent as a header "
                                    "value: the client refuses to send the request",
                                    "the value re-copied as plain ASCII, on one line",
                                    refused=True, client_says=says))
            break
    if not refused:
        seen: set[str] = set()
        for c in sent.values():
            defect = _visible_defect(c) if c.value and c.name not in seen else None
            seen.add(c.name)
            if defect:
                findings.append(Finding("malformed", defect[0], defect[1]))

    if outcome is not None and not outcome.ok:
        says = f"apiKeyHelper failed: {outcome.status}"
        carried = [h for h, c in sent.items() if c.name == HELPER]
        if carried:
            what = " and ".join("an empty x-api-key" if h == "x-api-key" else "a bare "
                                "`Authorization: Bearer`" for h in carried)
            consequence = f"the client still sends the request, with {what}"
            other = next((c for c in sent.values() if c.name != HELPER), None)
            if other is not None:  # the other header's variable: the one credential sent
                consequence += f" beside {_shown(other)}, the one credential that travels"
            elif len(carried) == 2:  # nothing else to fall back on
                consequence += f", and the API's 401 reads `{HELPER_FAILING}`"
        else:
            consequence = "its key would not have been sent anyway"
        timing = (f" within {helper_timeout_s:g} s (the client waits up to 10 minutes for "
                  "it, before requests that need a fresh key)" if outcome.status == "timed out"
                  else "")
        findings.append(Finding(
            "helper_failed", f"apiKeyHelper ({outcome.where}) {outcome.status}{timing}; "
            f"{consequence}. Its output is not shown here: run the command by hand.",
            "a helper that exits 0 and prints only the key",
            client_says=(says if outcome.status != "timed out" else None)))

    if not refused:  # nothing travels after a refusal: nothing to conflict
        findings += _conflicts(env, key, token, oauth, helper, sent, switch, skip_auth)

    if not sent and switch is None and not refused and not _login_stored(env):
        refused = True
        findings.append(Finding(
            "missing", "No credential: neither ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, "
            "CLAUDE_CODE_OAUTH_TOKEN nor an apiKeyHelper is set, and no /login is stored "
            "in a file here" + (" (macOS keeps it in the keychain, not looked at)"
                                if sys.platform == "darwin" else "") + ": the client "
            "sends nothing", "run `claude` and /login, or set ANTHROPIC_API_KEY",
            refused=True, client_says=NOT_LOGGED_IN))

    if refused:
        sent = {}  # nothing goes on the wire
    headers = {h: {"from": c.name, "where": c.where, "value": _masked(h, c.value)}
               for h, c in sent.items()}
    wire = {h: c.value if h == "x-api-key" else f"Bearer {c.value}".strip()
            for h, c in sent.items()}
    return CredentialReport(headers, findings, outcome,
                            PROVIDERS[switch] if switch else None, refused, wire)


def _masked(header: str, value: str) -> str:
    shown = mask_key(value) if value else "(empty)"
    return shown if header == "x-api-key" else f"Bearer {shown}"


def _conflicts(env: Mapping[str, str], key: _Credential | None, token: _Credential | None,
               oauth: _Credential | None, helper: _Credential | None,
               sent: dict[str, _Credential], switch: str | None,
               skip_auth: bool) -> list[Finding]:
    out: list[Finding] = []
    gateway = _gateway(env)
    set_ = [c for c in (key, token, oauth, helper) if c is not None]
    if switch is not None and not skip_auth:
        if set_:
            names = ", ".join(_shown(c) for c in set_)
            drop = ", ".join(_unset(c) for c in set_)
            out.append(Finding(
                "conflict", f"{switch} sends requests to {PROVIDERS[switch]} with its own "
                f"authentication: {names} {'is' if len(set_) == 1 else 'are'} not sent",
                f"either {PROVIDERS[switch]} ({drop}) or the Anthropic API (unset {switch})"))
        return out
    # a failed helper's header goes out empty (no key, a bare `Bearer`): not a credential
    x, b = (c if c is not None and c.value else None
            for c in (sent.get("x-api-key"), sent.get("authorization")))
    if x and b and x.name != b.name:
        if gateway:
            meant = (f"{b.name} alone, if the gateway at {gateway} wants a Bearer token "
                     f"({_unset(x)})")
        else:
            meant = f"{x.name} alone: the Anthropic API reads x-api-key ({_unset(b)})"
        out.append(Finding(
            "conflict", f"Two credentials travel together: x-api-key from {_shown(x)} and "
            f"`Authorization: Bearer` from {_shown(b)}. The client does not choose; the API "
            "or gateway honours one of them, and an error may name the other", meant))
    if helper is not None and helper not in sent.values():
        takers = " and ".join(dict.fromkeys(_shown(c) for c in sent.values()))
        out.append(Finding(
            "conflict", f"apiKeyHelper ({helper.where}) runs, but its key is not sent: "
            f"{takers} take the headers it would fill", "either the helper (unset the "
            "variables) or the variables (remove apiKeyHelper)"))
    if oauth is not None and oauth not in sent.values() and switch is None:
        winner = key or token or helper
        assert winner is not None
        out.append(Finding(
            "conflict", f"CLAUDE_CODE_OAUTH_TOKEN ({oauth.where}) is not sent because "
            f"{_shown(winner)} is set: a subscription token loses to it", "the OAuth token "
            f"({_unset(winner)})"))
    stored = _login_stored(env)
    if stored and switch is None and set_:
        first = set_[0]
        out.append(Finding(
            "conflict", f"A /login is stored ({stored}), but {_shown(first)} is set: the "
            "variable wins, and the subscription login is not used (a common cause of 401s "
            "and surprising 429s; /status shows which is in use)",
            f"the subscription login ({_unset(first)})"))
    return out


def headers_for_request(report: CredentialReport) -> dict[str, str]:
    """The real header values the client would send, for a live check: ``x-api-key`` and
    ``authorization`` (``Bearer …``). Empty when the client sends nothing. Never print them."""
    return dict(report._wire)
