"""From a diagnosis to a plan: which fix each finding calls for, as exact file edits.

Most fixes are one variable in the ``env`` block of a Claude Code settings file, because
there the client reads it for sure, whatever shell it is started from (facts §2: a settings
``env`` block overrides the shell's variable of the same spelling). Which file: the one the
user picks (``--target user|project|local``, user by default: ``$CLAUDE_CONFIG_DIR/
settings.json`` when that is set), unless the variable is already set in a settings file
that wins over it: then that file. Every edit is checked by simulation before it is
proposed: the settings files are read again with the edit in place, and the client's own
rules (precedence, proxy choice, NO_PROXY, number parsing) must then give the value the fix
is for. A fix that cannot be made that way is shown as a manual step, never applied:
anything that needs root, the system trust store, or a network setting.

Trusting a CA is a security decision: the fix is shown with the CA's subject and SHA-256
fingerprint and applied only when the user passes that same fingerprint (``--trust-ca``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..causes import CAUSES, doc_url
from ..client import settings as _settings
from ..client.client_env import api_timeout, js_trim
from ..client.environment import NO_PROXY_VARS, PROXY_VARS
from ..client.proxy import choose_proxy
from ..errors import UsageError
from ..files import FileProblem, shown_path
from ..masking import mask_proxy, register_secret
from ..probes.context import Context
from ..result import Report, Status
from .jsonedit import EditError, set_env
from .plan import FileEdit, Fix, Plan, current_content

__all__ = ["SCOPES", "FixOptions", "allowed_targets", "check_home", "make_plan",
           "settings_path"]

SCOPES = ("user", "project", "local")
_ORDER = {"user": 0, "project": 1, "local": 2, "flag": 3, "managed": 4}
#: Causes with no fix that can be applied safely here: what to do, by hand.
_MANUAL_ONLY = {"dns.nxdomain", "dns.timeout", "tcp.unreachable", "ipv6.broken", "tcp.reset",
                "tls.not_yet_valid", "tls.expired", "tls.hostname_mismatch",
                "tls.handshake_failed", "proxy.unreachable", "proxy.rejected",
                "proxy.auth_required", "proxy.bad_url", "http.not_api",
                "http.first_byte_timeout", "http.stream_stall", "http.stream_buffered",
                "http.server_error", "auth.missing", "auth.invalid", "auth.forbidden",
                "auth.billing", "auth.helper_failed", "auth.conflict", "ratelimit.exceeded",
                "ratelimit.spend_cap", "overloaded", "status.incident", "network.intermittent",
                "config.ca_file_invalid", "config.settings_invalid", "tcp.timeout",
                "tcp.refused", "auth.expired"}


@dataclass
class FixOptions:
    target: str = "user"  # which settings file a new variable goes to
    trust_ca: str = ""  # the SHA-256 fingerprint the user confirmed
    proxy: str = ""  # a proxy this network needs (http://host:port), given by the user
    only: tuple[str, ...] = ()  # fix ids to keep (empty: all)
    ca_file: str = ""  # a CA the user has (from IT), to trust instead of one found
    shell: str = ""  # also export the variables set in this shell's start-up file


def settings_path(ctx: Context, scope: str) -> Path:
    """The settings file of ``scope`` for this context (user: the config folder's)."""
    if scope == "user":
        user = _settings.user_dir(ctx.env)
        if user is None:
            raise UsageError("no home folder (HOME/USERPROFILE) to find the user settings in")
        return user / "settings.json"
    if scope == "project":
        return ctx.project_dir / ".claude" / "settings.json"
    if scope == "local":
        return ctx.project_dir / ".claude" / "settings.local.json"
    raise UsageError(f"unknown --target {scope!r}; one of: {', '.join(SCOPES)}")


def allowed_targets(ctx: Context) -> list[Path]:
    """Where a fix may write: the settings files, the config folder, shell start-up files."""
    out = [settings_path(ctx, s) for s in SCOPES]
    user = _settings.user_dir(ctx.env)
    if user is not None:
        out.append(user)
    home = ctx.env.get("HOME") or ctx.env.get("USERPROFILE")
    if home:
        out += [Path(home) / n for n in (".bashrc", ".bash_profile", ".zshrc", ".profile",
                                         ".config/fish/config.fish")]
    return out


def check_home(ctx: Context, shell: str = "") -> None:
    """Before an apply writes anything: the folders it writes in exist (a HOME that does not,
    such as Debian's ``/nonexistent``, is never created) and are not on a read-only file
    system. Raises UsageError saying which."""
    home = ctx.env.get("HOME") or ctx.env.get("USERPROFILE")
    config = _settings.user_dir(ctx.env)
    if config is None:
        raise UsageError("no home folder (HOME/USERPROFILE): nowhere to keep backups")
    need = [config if config.is_dir() else config.parent]
    if shell and home:
        need.append(Path(home))
    for folder in need:
        if not folder.is_dir():
            what = f"HOME is {str(folder)!r}, which" if home and folder == Path(home) else \
                f"{shown_path(folder)}"
            raise UsageError(f"{what} does not exist: nothing is written there (it is not "
                             "created)")
        st_rdonly = getattr(os, "ST_RDONLY", 0)
        try:
            read_only = bool(st_rdonly and os.statvfs(folder).f_flag & st_rdonly)
        except (OSError, AttributeError):
            read_only = False
        if read_only:
            raise UsageError(f"cannot write in {shown_path(folder)} (Read-only file system): "
                             "nothing was changed")


def _content(path: Path) -> bytes | None:
    """A file a fix edits, as the plan is made from it (EditError: it cannot be)."""
    try:
        return current_content(path)
    except FileProblem as exc:
        then = "a link is never replaced by a file" if path.is_symlink() else \
            "it is never overwritten"
        raise EditError(f"{shown_path(path)} {exc.reason}: {then}") from None


class _Writer:
    """Settings edits, chained per file (a second fix builds on the first's result), each
    checked by simulation against the client's rules before it is kept."""

    def __init__(self, ctx: Context, options: FixOptions) -> None:
        self.ctx = ctx
        self.options = options
        self.pending: dict[Path, str | None] = {}
        self.original: dict[Path, bytes | None] = {}
        self.scope_of: dict[Path, str] = {}
        self.vars: dict[str, str] = {}

    def _text(self, path: Path) -> str | None:
        if path not in self.pending:
            f = next((f for f in self.ctx.settings.files if f.path == path), None)
            if f is not None and f.error:
                raise EditError(f"{f.shown} is {f.error}: it is never overwritten")
            data = _content(path)
            try:
                self.pending[path] = data.decode("utf-8") if data is not None else None
            except UnicodeDecodeError:
                raise EditError(f"{shown_path(path)} is not UTF-8 text: it is never "
                                "overwritten") from None
            self.original[path] = data
        return self.pending[path]

    def file_for(self, name: str) -> tuple[Path, str]:
        """Where ``name`` must be set to win: the target file, or the settings file that
        already sets it with a higher precedence."""
        target = settings_path(self.ctx, self.options.target)
        origin = self.ctx.settings.origin.get(name)
        if origin is not None and _ORDER.get(origin.scope, 0) > _ORDER[self.options.target]:
            if origin.scope in ("managed", "flag") or origin.inline:
                raise EditError(f"{name} is set in {origin.shown} ({origin.scope} settings), "
                                "which wins over any file this fix may write: change it there")
            return origin.path, origin.scope
        return target, self.options.target

    def set(self, name: str, value: str) -> tuple[Path, str]:
        path, scope = self.file_for(name)
        text = self._text(path)
        self.pending[path] = set_env(text, name, value)
        self.scope_of[path] = scope
        self.vars[name] = value
        return path, scope

    def simulate(self) -> dict[str, str]:
        """The client's environment if the pending edits were written."""
        eff = self.ctx.settings
        files = {f.path: f for f in eff.files}
        for path, text in self.pending.items():
            scope = self.scope_of.get(path, self.options.target)
            files[path] = _settings.parse(scope, path, text or "{}")
        ordered = sorted(files.values(), key=lambda f: _ORDER.get(f.scope, 0))
        env = dict(self.ctx.shell)
        for f in ordered:
            if not f.error:
                env.update(f.env)
        return env

    def edits(self, hidden: tuple[str, ...] = ()) -> list[FileEdit]:
        out = []
        for path, text in self.pending.items():
            after = (text or "").encode("utf-8")
            out.append(FileEdit(path, self.original[path], after, hidden=hidden))
        return out


def _one_fix(ctx: Context, options: FixOptions, fid: str, cause: str, summary: str,
             build: Callable[[_Writer], None], check: Callable[[dict[str, str]], str | None],
             hidden: tuple[str, ...] = (), covers: tuple[str, ...] = ()) -> Fix:
    """Build a fix's edits with a fresh writer, then prove them by simulation: ``check``
    returns None when the simulated client environment is what the fix is for, else why."""
    w = _Writer(ctx, options)
    try:
        build(w)
    except EditError as exc:
        return Fix(fid, cause, summary, manual=str(exc))
    problem = check(w.simulate())
    if problem:
        return Fix(fid, cause, summary, manual=f"not applied: {problem}")
    return Fix(fid, cause, summary, edits=w.edits(hidden), covers=covers, env=dict(w.vars))


# -- the remedies ------------------------------------------------------------------------------
def _timeout_fix(ctx: Context, report: Report, options: FixOptions) -> Fix | None:
    hits = [c for c in report.checks if c.cause in ("config.timeout_too_low",
                                                    "config.timeout_invalid",
                                                    "config.timeout_disabled")
            and c.id.startswith("timeout.")]
    if not hits:
        return None
    measured = next((c for c in report.checks if c.id == "timeout.measured"), None)
    value = int((measured.details or {}).get("recommended_ms", 600_000)) if measured and \
        measured.details.get("recommended_ms") else 600_000
    now = api_timeout(ctx.env)
    summary = (f"API_TIMEOUT_MS is {now.raw!r}, which the client reads as "
               f"{'no timeout' if now.value is None else f'{now.value} ms'}: set it to {value} "
               f"({value // 60000} minutes; milliseconds)")

    def check(env: dict[str, str]) -> str | None:
        got = api_timeout(env).value
        return None if got == value else f"the client would still read {got}"
    causes = {c.cause for c in hits}
    return _one_fix(ctx, options, "api-timeout", hits[0].cause, summary,
                    lambda w: w.set("API_TIMEOUT_MS", str(value)), check,
                    covers=tuple(causes - {hits[0].cause}) + ("http.first_byte_timeout",))


def _quoted_credential_fixes(ctx: Context, report: Report, options: FixOptions) -> list[Fix]:
    if "auth.malformed" not in report.causes:
        return []
    out = []
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        raw = ctx.env.get(name)
        if not raw:
            continue
        value = js_trim(raw)
        fixed = value
        if len(fixed) >= 2 and fixed[0] == fixed[-1] and fixed[0] in "\"'":
            fixed = fixed[1:-1].strip()
        if name == "ANTHROPIC_AUTH_TOKEN" and fixed.lower().startswith("bearer "):
            fixed = fixed[7:].strip()  # the client adds its own "Bearer "
        if fixed == value:
            continue
        register_secret(fixed)
        register_secret(raw)
        what = "quotes" if fixed != value.removeprefix("Bearer ").strip() else "a Bearer prefix"
        origin = ctx.settings.origin.get(name)
        summary = f"{name} carries {what} that the client sends as part of it: remove them"
        if origin is None or origin.scope in ("managed", "flag") or origin.inline:
            where = "where it is exported (your shell start-up file, or your secret manager)" \
                if origin is None else f"in {origin.shown}"
            out.append(Fix("credential-quotes", "auth.malformed", summary,
                           manual=f"set {name} again without them {where}: a credential is "
                                  "never written into a file by this tool"))
            continue

        def build(w: _Writer, name: str = name, fixed: str = fixed, origin=origin) -> None:
            text = w._text(origin.path)
            w.pending[origin.path] = set_env(text, name, fixed)
            w.scope_of[origin.path] = origin.scope

        def check(env: dict[str, str], name: str = name, fixed: str = fixed) -> str | None:
            return None if js_trim(env.get(name, "")) == fixed else "the value would not change"
        out.append(_one_fix(ctx, options, "credential-quotes", "auth.malformed", summary, build,
                            check, hidden=(fixed,), covers=("auth.invalid",)))
    return out


def _shadowed_fixes(ctx: Context, report: Report, options: FixOptions) -> list[Fix]:
    if "proxy.shadowed" not in report.causes:
        return []
    out = []
    for sh in ctx.settings.shadowed_proxies():
        value = sh.file.env[sh.variable]
        summary = (f"the shell's {sh.winner} comes before {sh.variable} in "
                   f"{sh.file.shown}: set {sh.winner} there too, to the same value")

        def build(w: _Writer, sh=sh, value: str = value) -> None:
            text = w._text(sh.file.path)
            w.pending[sh.file.path] = set_env(text, sh.winner, value)
            w.scope_of[sh.file.path] = sh.file.scope

        def check(env: dict[str, str], sh=sh, value: str = value) -> str | None:
            return None if env.get(sh.winner) == value else f"{sh.winner} would still win"
        if sh.file.scope in ("managed", "flag") or sh.file.inline:
            out.append(Fix("proxy-spelling", "proxy.shadowed", summary,
                           manual=f"unset {sh.winner} in your shell, or set it in "
                                  f"{sh.file.shown}"))
        else:
            out.append(_one_fix(ctx, options, "proxy-spelling", "proxy.shadowed", summary, build,
                                check, covers=("proxy.unreachable", "proxy.auth_required",
                                               "proxy.rejected", "tcp.timeout")))
    return out


def _bypass_fix(ctx: Context, report: Report, options: FixOptions) -> Fix | None:
    check_ = next((c for c in report.checks if c.cause == "proxy.bypassed"), None)
    if check_ is None:
        return None
    d = check_.details
    entry, var = d.get("bypassed_by"), d.get("bypass_variable")
    through = d.get("through_proxy") or {}
    if not entry or var not in NO_PROXY_VARS:
        return Fix("no-proxy", "proxy.bypassed", "NO_PROXY sends the API around the proxy",
                   manual=CAUSES["proxy.bypassed"].fix)
    if not through.get("ok"):
        return Fix("no-proxy", "proxy.bypassed", f"NO_PROXY entry {entry!r} sends the API "
                   "direct", manual="the proxy does not reach the API either: fix the path "
                   "first (see the proxy checks)")
    current = ctx.env.get(var, "")
    kept = [e for e in current.replace(",", " ").split() if e != entry]
    value = ",".join(kept)
    t = ctx.target
    summary = (f"{var} entry {entry!r} sends {t.host} around the proxy this network needs "
               f"(through it, the API answers): {var}={value or '(empty)'}")

    def check(env: dict[str, str]) -> str | None:
        p = choose_proxy(env, t.host, t.port, t.scheme)
        return None if p is not None and p.in_effect else "the API would still go direct"
    return _one_fix(ctx, options, "no-proxy", "proxy.bypassed", summary,
                    lambda w: w.set(var, value), check,
                    covers=("tcp.timeout", "tcp.refused", "tcp.unreachable", "dns.nxdomain",
                            "dns.timeout", "http.first_byte_timeout"))


def _proxy_fix(ctx: Context, report: Report, options: FixOptions) -> Fix | None:
    """A proxy this network needs, given by the user (``--proxy``): proven to reach the API
    with a CONNECT before it is proposed."""
    if not options.proxy:
        return None
    direct_fails = any(c.status == Status.FAIL and c.runbook == "network" and c.cause and
                       c.cause.split(".")[0] in ("tcp", "dns", "http") for c in report.checks)
    t = ctx.target
    current = choose_proxy(ctx.env, t.host, t.port, t.scheme)
    if current is not None and current.in_effect:
        return Fix("proxy", "tcp.timeout", f"a proxy is already in effect ({current.var})",
                   manual="nothing to set: fix that proxy instead (see the proxy checks)")
    if not direct_fails:
        return None
    shown = mask_proxy(options.proxy)
    reached = _proxy_reaches(ctx, options.proxy)
    cause = next(c.cause for c in report.checks if c.status == Status.FAIL and c.cause)
    summary = f"the direct path fails ({cause}); through {shown} the API answers: " \
              f"HTTPS_PROXY={shown}"
    if reached is not None:
        return Fix("proxy", cause, f"HTTPS_PROXY={shown}", manual=f"not applied: {reached}")
    # a lowercase shell https_proxy would come first: set the spelling the client reads first
    var = next((v for v in PROXY_VARS[:2] if ctx.env.get(v)), "HTTPS_PROXY")

    def check(env: dict[str, str]) -> str | None:
        p = choose_proxy(env, t.host, t.port, t.scheme)
        return None if p is not None and p.in_effect else "the client would still go direct"
    return _one_fix(ctx, options, "proxy", cause, summary,
                    lambda w: w.set(var, options.proxy), check,
                    covers=("tcp.timeout", "tcp.refused", "tcp.unreachable", "dns.nxdomain",
                            "dns.timeout", "http.first_byte_timeout", "http.not_api"))


def _proxy_reaches(ctx: Context, url: str) -> str | None:
    """None when ``url`` is a proxy that opens a tunnel to the API, else why not."""
    from ..client import proxy as _proxy
    from ..probes.dns import lookup_both
    from ..probes.tunnel import connect_through

    t = ctx.target
    choice = _proxy.choose_proxy({"HTTPS_PROXY": url}, t.host, t.port, t.scheme)
    if choice is None or choice.error:
        return f"{mask_proxy(url)} is not a proxy URL Claude Code can use"
    host = choice.host
    if not _is_ip(host):
        found = lookup_both(host, ctx.resolver, ctx.budget.dns)
        addrs = found["A"].addresses + found["AAAA"].addresses
        if not addrs:
            return f"the proxy host {host} does not resolve"
        host = addrs[0]
    if t.scheme != "https":
        return None  # a plain-http target goes through as an absolute-form request
    tun = connect_through(choice, host, t.host, t.port, ctx.budget.connect,
                                 ctx.budget.read)
    if tun.sock is not None:
        tun.sock.close()
    return None if tun.ok else f"through {mask_proxy(url)}: {tun.fault.message}"


def _is_ip(host: str) -> bool:
    from ..addr import is_ip_literal

    return is_ip_literal(host)


def _manual_fixes(report: Report, covered: set[str]) -> list[Fix]:
    out = []
    for code in report.causes:
        if code in covered or code not in _MANUAL_ONLY:
            continue
        c = CAUSES[code]
        out.append(Fix(code.replace(".", "-"), code, c.title,
                       manual=f"{c.fix} ({doc_url(code)})"))
    return out


def make_plan(ctx: Context, report: Report, options: FixOptions,
              extra: list[Fix] | None = None) -> Plan:
    """The fixes for ``report``'s findings (``extra``: fixes other modules built, such as
    trusting a CA)."""
    if options.target not in SCOPES:
        raise UsageError(f"unknown --target {options.target!r}; one of: {', '.join(SCOPES)}")
    fixes: list[Fix] = []
    for make in (_timeout_fix, _bypass_fix, _proxy_fix):
        f = make(ctx, report, options)
        if f is not None:
            fixes.append(f)
    fixes += _quoted_credential_fixes(ctx, report, options)
    fixes += _shadowed_fixes(ctx, report, options)
    fixes += extra or []
    covered = {f.cause for f in fixes} | {c for f in fixes if f.applicable for c in f.covers}
    fixes += _manual_fixes(report, covered)
    if options.only:
        known = {f.id for f in fixes} | set(FIX_IDS)
        for name in options.only:
            if name not in known:
                raise UsageError(f"unknown fix {name!r}; fixes: {', '.join(FIX_IDS)}")
        fixes = [f for f in fixes if f.id in options.only]
    if options.shell:
        shell_fix = _shell_fix(ctx, options.shell, fixes)
        if shell_fix is not None:
            fixes.append(shell_fix)
    return Plan(fixes)


def _shell_fix(ctx: Context, shell: str, fixes: list[Fix]) -> Fix | None:
    """The variables the applicable fixes set, also exported from ``shell``'s start-up file
    (one marked block, merged with the block a previous run wrote)."""
    import platform

    from . import shellblock

    if shell not in shellblock.SHELLS:
        raise UsageError(f"unknown --shell {shell!r}; one of: {', '.join(shellblock.SHELLS)}")
    env: dict[str, str] = {}
    skipped = []
    causes = []
    for f in fixes:
        if not f.applicable:
            continue
        causes.append(f.cause)
        for name, value in f.env.items():
            if name in shellblock.ALLOWED and not shellblock.holds_secret(value):
                env[name] = value
            else:
                skipped.append(name)
    if not env:
        return None
    home = ctx.env.get("HOME") or ctx.env.get("USERPROFILE")
    if not home:
        raise UsageError("no home folder (HOME/USERPROFILE) to find the shell start-up file in")
    path = shellblock.rc_file(shell, Path(home), platform.system())
    summary = (f"also export {', '.join(env)} from {path} (a marked block; for tools that "
               "read only the environment)")
    try:
        before = _content(path)
        text = before.decode("utf-8") if before is not None else None
    except EditError as exc:
        return Fix("shell-profile", causes[0], summary, manual=str(exc))
    except UnicodeDecodeError:
        return Fix("shell-profile", causes[0], summary,
                   manual=f"{shown_path(path)} is not UTF-8 text: it is never overwritten")
    try:
        after = shellblock.with_block(text, shell, env)
    except ValueError as exc:
        return Fix("shell-profile", causes[0], summary, manual=f"not applied: {exc}")
    if after.encode("utf-8") == before:
        return None
    if skipped:
        summary += f"; not {', '.join(sorted(set(skipped)))} (can hold a secret)"
    return Fix("shell-profile", causes[0], summary,
               edits=[FileEdit(path, before, after.encode("utf-8"))])


#: The fixes that can be applied, by id (``runbooks fix --only ID``).
FIX_IDS = ("api-timeout", "no-proxy", "proxy", "credential-quotes", "proxy-spelling",
           "trust-ca")
