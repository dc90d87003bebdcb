"""The client's rules, proven differentially: every row runs the real, pinned ``claude -p hello``
against the lab AND ``runbooks doctor --json -`` in the same environment (same HOME, launch
directory, hosts file, settings files), and both must land where the row says.

The observable outcome of a row is a pair:

- the route: which recording proxy (A, B, C: one per variable under test) saw the request,
  ``direct`` when none did, ``error`` when the client refuses to start on its proxy setting;
- the endpoint: which fake API (api0, api1, api2 over http, tls0 over https, api6 on ::1)
  answered, or None.

For the client both come from the lab's logs. For the doctor the route is its own decision
(the ``proxy`` check of its JSON report) and the lab's logs must agree with it; where NO_PROXY
sends the target direct and the direct path fails, the doctor also tries the proxy once as a
side check, which its report says (``through_proxy``).

Rows with host names (``api.lab.test``…) run both programs under ``unshare -m`` with a private
hosts file (runbooks/lab/sandbox.py); a managed settings file is laid over /etc the same way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import claude_bin, clean_subprocess_env

from runbooks.client.settings import load
from runbooks.lab import sandbox
from runbooks.lab.api import LAB_REPLY, FakeAPI
from runbooks.lab.pki import LabPKI
from runbooks.lab.recorder import RecordingProxy
from runbooks.lab.scenarios import LAB_API_KEY

pytestmark = [pytest.mark.client, pytest.mark.timeout(60)]

DOCTOR_BUDGET = ["--dns-timeout", "1", "--connect-timeout", "1", "--tls-timeout", "1",
                 "--read-timeout", "2"]
ROW_LIMIT_S = 10.0  # client and doctor together: a hang or an OS default timeout, not load
NOMATCH = "nomatch.invalid"


# -- the lab, once per module ---------------------------------------------------------------------
@dataclass
class Rig:
    apis: dict[str, FakeAPI]
    proxies: dict[str, RecordingProxy]
    ca_file: Path
    claude: str
    values: dict[str, str] = field(default_factory=dict)  # placeholders for the rows

    def clear(self) -> None:
        for p in self.proxies.values():
            p.clear()
        for a in self.apis.values():
            a.server.log.clear()

    def seen_by(self) -> list[str]:
        """The proxies that carried a request other than for the status page (the doctor
        also reads one, RUNBOOKS_STATUS_URL, along its own path)."""
        status = os.environ.get("RUNBOOKS_STATUS_URL", "").split("://", 1)[-1].rstrip("/")

        def api(target: str) -> bool:
            return not status or target.split("://", 1)[-1].split("/", 1)[0] != status
        return [name for name, p in self.proxies.items() if any(api(s.target) for s in p.seen)]

    def answered(self) -> list[str]:
        return [name for name, a in self.apis.items() if a.requests]

    def proxy_at(self, host: str, port: int) -> str:
        for name, p in self.proxies.items():
            if p.port == port and host in ("127.0.0.1", "localhost"):
                return name
        return f"{host}:{port}"


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    claude = claude_bin()
    work = Path(tempfile.mkdtemp(prefix="runbooks-client-rules-"))
    pki = LabPKI(work)
    apis = {"api0": FakeAPI(), "api1": FakeAPI(), "api2": FakeAPI(),
            "tls0": FakeAPI(tls=pki.server_context("good"))}
    try:
        apis["api6"] = FakeAPI("::1")
    except OSError:  # no IPv6 loopback here: the IPv6 rows skip
        pass
    proxies = {name: RecordingProxy(name) for name in "ABC"}
    r = Rig(apis, proxies, pki.ca_file, claude)
    for name, p in proxies.items():
        r.values[name] = p.url
        r.values[f"{name}_port"] = str(p.port)
    for name, a in apis.items():
        r.values[name] = a.url
        r.values[f"{name}_port"] = str(a.port)
    try:
        yield r
    finally:
        for part in [*proxies.values(), *apis.values()]:
            part.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


# -- rows -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    env: dict  # the shell's environment (placeholders like {A}, {api0_port} filled in)
    expect: tuple  # (route, endpoint)
    base: str | None = "{api0}"  # ANTHROPIC_BASE_URL in the shell
    hosts: bool = False  # needs the lab's host names
    files: dict = field(default_factory=dict)  # path under the row's root → JSON or text
    cwd: str = "proj"
    flag: str | None = None  # --settings: a path under the row's root, or inline JSON
    managed: str | None = None  # a file under the row's root to serve as managed settings
    needs: tuple = ()  # "api6", "port80", "port443"
    shadow: tuple | None = None  # (settings variable, shell variable) shadowed_proxies finds


def R(env=None, expect=("A", "api0"), **kw) -> Row:
    """A row, written short: the shell's variables, the (route, endpoint) both must reach."""
    return Row(env or {}, expect, **kw)


HOST = "http://api.lab.test:{api0_port}"
LOOP = "http://127.0.0.1:{api0_port}"
V6 = "http://[::1]:{api6_port}"

PROXY_ROWS = [
    # -- which variable wins (an http:// target)
    # lowercase first: https_proxy beats HTTPS_PROXY
    pytest.param(R({"https_proxy": "{A}", "HTTPS_PROXY": "{B}"}), id="https_proxy>HTTPS_PROXY"),
    # https before http, for an http:// target too
    pytest.param(R({"HTTPS_PROXY": "{A}", "http_proxy": "{B}"}), id="HTTPS_PROXY>http_proxy"),
    # http_proxy beats HTTP_PROXY
    pytest.param(R({"http_proxy": "{A}", "HTTP_PROXY": "{B}"}), id="http_proxy>HTTP_PROXY"),
    # any of the four beats all_proxy
    pytest.param(R({"HTTP_PROXY": "{A}", "all_proxy": "{B}"}), id="HTTP_PROXY>all_proxy"),
    # all_proxy is the fallback, lowercase first
    pytest.param(R({"all_proxy": "{A}", "ALL_PROXY": "{B}"}), id="all_proxy>ALL_PROXY"),
    # ALL_PROXY alone is used
    pytest.param(R({"ALL_PROXY": "{A}"}), id="ALL_PROXY-alone"),
    # an empty variable counts as unset
    pytest.param(R({"https_proxy": "", "HTTPS_PROXY": "{B}"}, ("B", "api0")),
                 id="empty-is-unset"),
    # the same proxy serves https:// targets: a CONNECT tunnel
    pytest.param(R({"HTTPS_PROXY": "{A}"}, ("A", "tls0"), base="{tls0}"), id="https-target"),
    # HTTP_PROXY serves an https:// target too
    pytest.param(R({"HTTP_PROXY": "{A}"}, ("A", "tls0"), base="{tls0}"),
                 id="HTTP_PROXY-https-target"),
    # loopback is not exempted (localhost through the proxy)
    pytest.param(R({"HTTPS_PROXY": "{A}"}, base="http://localhost:{api0_port}", hosts=True),
                 id="localhost-not-exempt"),
    # -- proxy values
    # host:port without a scheme is read as http:// (https_proxy/HTTPS_PROXY, -p mode)
    pytest.param(R({"HTTPS_PROXY": "127.0.0.1:{A_port}"}), id="no-scheme-repaired"),
    # … not for http_proxy: the client stops
    pytest.param(R({"http_proxy": "127.0.0.1:{A_port}"}, ("error", None)),
                 id="no-scheme-http_proxy"),
    # a value of spaces is set, wins, and is not a URL
    pytest.param(R({"https_proxy": "  ", "HTTP_PROXY": "{B}"}, ("error", None)),
                 id="spaces-not-empty"),
    # the parsers' own spelling of an address
    pytest.param(R({"HTTPS_PROXY": "http://127.1:{A_port}"}), id="127.1-is-an-address"),
    # not a URL: three parts
    pytest.param(R({"HTTPS_PROXY": "host:8080:extra"}, ("error", None)), id="bad-url-extra"),
    # not a URL: a scheme alone
    pytest.param(R({"HTTPS_PROXY": "http://"}, ("error", None)), id="bad-url-scheme-only"),
    # not a URL: an unclosed IPv6 bracket
    pytest.param(R({"HTTPS_PROXY": "http://[::1"}, ("error", None)), id="bad-url-bracket"),
    # a bad URL stops the client even when NO_PROXY would bypass it
    pytest.param(R({"HTTPS_PROXY": "host:8080:extra", "NO_PROXY": "*"}, ("error", None)),
                 id="bad-url-despite-no_proxy"),
    # SOCKS fails once used …
    pytest.param(R({"HTTPS_PROXY": "socks5://127.0.0.1:{A_port}"}, ("error", None)),
                 id="socks-used"),
    # … not when NO_PROXY sends the target around it
    pytest.param(R({"HTTPS_PROXY": "socks5://127.0.0.1:{A_port}", "NO_PROXY": "*"},
                   ("direct", "api0")), id="socks-bypassed"),
    # a SOCKS all_proxy is ignored: direct
    pytest.param(R({"ALL_PROXY": "socks5://127.0.0.1:{A_port}"}, ("direct", "api0")),
                 id="socks-all_proxy-ignored"),
    # -- NO_PROXY, IP hosts
    # * alone
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "*"}, ("direct", "api0")), id="star"),
    # * anywhere in the list
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "foo, *"}, ("direct", "api0")),
                 id="star-anywhere"),
    # an IP entry matches exactly
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.1"}, ("direct", "api0")),
                 id="ip-exact"),
    # another IP does not
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.2"}), id="ip-other"),
    # a CIDR range matches an IP host
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.0/8"}, ("direct", "api0")),
                 id="cidr"),
    # a partial IP is not a prefix
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0"}), id="partial-ip"),
    # a name never matches an IP host: no localhost aliasing
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "localhost"}), id="localhost-vs-ip"),
    # host:PORT on the target's port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.1:{api0_port}"},
                   ("direct", "api0")), id="ip-port-same"),
    # host:PORT on another port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.1:1"}), id="ip-port-other"),
    # a semicolon does not separate entries
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "foo;127.0.0.1"}), id="semicolon"),
    # a tab does
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "foo\t127.0.0.0/8"}, ("direct", "api0")),
                 id="tab"),
    # an entry with a scheme matches nothing
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "http://127.0.0.1"}), id="entry-scheme"),
    # -- no_proxy and NO_PROXY together
    # the full rules read lowercase no_proxy …
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": "127.0.0.0/8", "NO_PROXY": NOMATCH},
                   ("direct", "api0")), id="no_proxy-read"),
    # … and then not NO_PROXY
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": NOMATCH, "NO_PROXY": "127.0.0.0/8"}),
                 id="NO_PROXY-unread"),
    # an empty no_proxy counts as unset
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": "", "NO_PROXY": "127.0.0.0/8"},
                   ("direct", "api0")), id="no_proxy-empty"),
    # the client's own simple check reads NO_PROXY too: HTTPS_PROXY dropped for an http://
    # target, and no http proxy for the runtime to fall back on
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": NOMATCH, "NO_PROXY": "127.0.0.1"},
                   ("direct", "api0")), id="simple-check-drops"),
    # … with http_proxy set, the runtime sends the http:// target through it
    pytest.param(R({"HTTPS_PROXY": "{A}", "http_proxy": "{B}", "no_proxy": NOMATCH,
                    "NO_PROXY": "127.0.0.1"}, ("B", "api0")), id="fallback-http_proxy"),
    # … for an https:// target the runtime takes HTTPS_PROXY again
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": NOMATCH, "NO_PROXY": "127.0.0.1"},
                   ("A", "tls0"), base="{tls0}"), id="fallback-https-same"),
    # the simple check is a plain suffix: ".0.0.1" drops HTTPS_PROXY, all_proxy takes over
    pytest.param(R({"HTTPS_PROXY": "{A}", "all_proxy": "{B}", "NO_PROXY": ".0.0.1"},
                   ("B", "api0")), id="fallback-all_proxy"),
    # the runtime's fallback is a SOCKS http_proxy: it fails once used …
    pytest.param(R({"HTTPS_PROXY": "{A}", "http_proxy": "socks5://127.0.0.1:{B_port}",
                    "no_proxy": NOMATCH, "NO_PROXY": "127.0.0.1"}, ("error", None)),
                 id="fallback-socks-fails"),
    # … while a SOCKS all_proxy there is ignored: direct
    pytest.param(R({"HTTPS_PROXY": "{A}", "all_proxy": "socks5://127.0.0.1:{B_port}",
                    "no_proxy": NOMATCH, "NO_PROXY": "127.0.0.1"}, ("direct", "api0")),
                 id="fallback-socks-ignored"),
    # -- NO_PROXY, names (the lab's hosts file)
    # a bare domain covers its subdomains
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "lab.test"}, ("direct", "api0"),
                   base=HOST, hosts=True), id="domain"),
    # a leading dot is the same rule
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": ".lab.test"}, ("direct", "api0"),
                   base=HOST, hosts=True), id="dot-domain"),
    # *. is the same rule again
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "*.lab.test"}, ("direct", "api0"),
                   base=HOST, hosts=True), id="star-dot-domain"),
    # *. matches the domain itself
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "*.lab.test"}, ("direct", "api0"),
                   base="http://lab.test:{api0_port}", hosts=True), id="star-dot-itself"),
    # only at a label boundary
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "ab.test"}, base=HOST, hosts=True),
                 id="label-boundary"),
    # a sibling is not a subdomain
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "pi.lab.test"}, base=HOST, hosts=True),
                 id="sibling"),
    # … while pi.lab.test is inside lab.test
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "lab.test"}, ("direct", "api0"),
                   base="http://pi.lab.test:{api0_port}", hosts=True), id="pi-in-lab"),
    # other globs match nothing: a star glued to the name
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "*lab.test"}, base=HOST, hosts=True),
                 id="glob-prefix"),
    # … a star in the middle
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.*.test"}, base=HOST, hosts=True),
                 id="glob-middle"),
    # … *.*
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "*.*"}, base=HOST, hosts=True),
                 id="glob-star-star"),
    # a trailing dot in the entry is ignored
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "lab.test."}, ("direct", "api0"),
                   base=HOST, hosts=True), id="trailing-dot"),
    # case-insensitive, entry side
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "LAB.TEST"}, ("direct", "api0"),
                   base=HOST, hosts=True), id="case-entry"),
    # case-insensitive, host side
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "lab.test"}, ("direct", "api0"),
                   base="http://API.LAB.TEST:{api0_port}", hosts=True), id="case-host"),
    # name:PORT on the target's port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.lab.test:{api0_port}"},
                   ("direct", "api0"), base=HOST, hosts=True), id="name-port-same"),
    # name:PORT on another port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.lab.test:80"}, base=HOST,
                   hosts=True), id="name-port-other"),
    # an IP entry never matches a name (no DNS lookup)
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.1"}, base=HOST, hosts=True),
                 id="ip-vs-name"),
    # a URL without a port has its scheme's default: :80 for http://
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.lab.test:80"}, ("direct", None),
                   base="http://api.lab.test", hosts=True, needs=("port80",)),
                 id="default-port-80"),
    # … so :443 does not match an http:// URL without a port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.lab.test:443"}, ("A", None),
                   base="http://api.lab.test", hosts=True, needs=("port80",)),
                 id="default-port-80-vs-443"),
    # … and :443 for https://
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "api.lab.test:443"}, ("direct", None),
                   base="https://api.lab.test", hosts=True, needs=("port443",)),
                 id="default-port-443"),
    # -- IPv6: a base URL host of [::1]
    # loopback is not exempted: the proxy sees [::1]
    pytest.param(R({"HTTPS_PROXY": "{A}"}, ("A", "api6"), base=V6, needs=("api6",)),
                 id="v6-through-proxy"),
    # a bare IPv6 entry
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "::1"}, ("direct", "api6"), base=V6,
                   needs=("api6",)), id="v6-bare"),
    # bracketed
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "[::1]"}, ("direct", "api6"), base=V6,
                   needs=("api6",)), id="v6-bracketed"),
    # bracketed with the port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "[::1]:{api6_port}"}, ("direct", "api6"),
                   base=V6, needs=("api6",)), id="v6-port"),
    # bracketed with another port
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "[::1]:1"}, ("A", "api6"), base=V6,
                   needs=("api6",)), id="v6-other-port"),
    # an IPv6 CIDR range
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "::1/128"}, ("direct", "api6"), base=V6,
                   needs=("api6",)), id="v6-cidr"),
    # by value, not by spelling
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "0:0:0:0:0:0:0:1"}, ("direct", "api6"),
                   base=V6, needs=("api6",)), id="v6-long-form"),
    # the other family's loopback does not match
    pytest.param(R({"HTTPS_PROXY": "{A}", "NO_PROXY": "127.0.0.1"}, ("A", "api6"), base=V6,
                   needs=("api6",)), id="v6-vs-v4"),
]

SETTINGS_ROWS = [
    # a user settings file's base URL overrides the shell's
    pytest.param(R(expect=("direct", "api1"),
                   files={"home/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"}}),
                 id="user-over-shell"),
    # CLAUDE_CONFIG_DIR replaces ~/.claude: its settings.json is the user file
    pytest.param(R({"CLAUDE_CONFIG_DIR": "{root}/cfg"}, ("direct", "api2"),
                   files={"cfg/settings.json": {"ANTHROPIC_BASE_URL": "{api2}"},
                          "home/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"}}),
                 id="config-dir"),
    # … and ~/.claude/settings.json is not read even when the folder has none
    pytest.param(R({"CLAUDE_CONFIG_DIR": "{root}/cfg"}, ("direct", "api0"),
                   files={"cfg/.keep": "",
                          "home/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"}}),
                 id="config-dir-replaces-home"),
    # project beats user
    pytest.param(R(expect=("direct", "api2"),
                   files={"home/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"},
                          "proj/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api2}"}}),
                 id="project-over-user"),
    # local beats project (and applies in -p mode without any trust step)
    pytest.param(R(expect=("direct", "api1"),
                   files={"proj/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api2}"},
                          "proj/.claude/settings.local.json": {"ANTHROPIC_BASE_URL": "{api1}"}}),
                 id="local-over-project"),
    # --settings FILE beats local
    pytest.param(R(expect=("direct", "api2"), flag="flag.json",
                   files={"proj/.claude/settings.local.json": {"ANTHROPIC_BASE_URL": "{api1}"},
                          "flag.json": {"ANTHROPIC_BASE_URL": "{api2}"}}),
                 id="flag-over-local"),
    # a relative --settings path is the launch directory's
    pytest.param(R(expect=("direct", "api2"), flag="rel:conf/flag.json",
                   files={"proj/conf/flag.json": {"ANTHROPIC_BASE_URL": "{api2}"}}),
                 id="flag-relative"),
    # --settings takes inline JSON too: its HTTPS_PROXY is read (and, written host:port, not
    # repaired to http://, since it does not come from the shell)
    pytest.param(R(expect=("error", None),
                   flag='inline:{"env": {"HTTPS_PROXY": "127.0.0.1:{A_port}"}}'),
                 id="flag-inline"),
    # a settings file's host:port proxy is not repaired either, though the shell's would be
    pytest.param(R({"HTTPS_PROXY": "127.0.0.1:{A_port}"}, ("error", None), files={
        "home/.claude/settings.json": {"HTTPS_PROXY": "127.0.0.1:{A_port}"}}),
        id="settings-no-scheme-not-repaired"),
    # a settings file's full URL works, over the shell's
    pytest.param(R({"HTTPS_PROXY": "{B}"}, files={
        "home/.claude/settings.json": {"HTTPS_PROXY": "{A}"}}), id="settings-proxy"),
    # managed beats --settings
    pytest.param(R(expect=("direct", "api2"), flag="flag.json", managed="managed.json",
                   files={"flag.json": {"ANTHROPIC_BASE_URL": "{api1}"},
                          "managed.json": {"ANTHROPIC_BASE_URL": "{api2}"}}),
                 id="managed-over-flag"),
    # a managed proxy beats the shell's, same spelling
    pytest.param(R({"HTTPS_PROXY": "{B}"}, managed="managed.json",
                   files={"managed.json": {"HTTPS_PROXY": "{A}"}}), id="managed-proxy"),
    # project settings in a parent directory are not read
    pytest.param(R(expect=("direct", "api0"), cwd="proj/sub",
                   files={"proj/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"},
                          "proj/sub/.keep": ""}), id="parent-not-read"),
    # … nor in the root of the git repository the client runs in
    pytest.param(R(expect=("direct", "api0"), cwd="proj/sub",
                   files={"proj/.git/HEAD": "ref: refs/heads/main\n",
                          "proj/.claude/settings.json": {"ANTHROPIC_BASE_URL": "{api1}"},
                          "proj/sub/.keep": ""}), id="git-root-project-not-read"),
    # … but the git root's settings.local.json is read, over the launch directory's own
    pytest.param(R(expect=("direct", "api2"), cwd="proj/sub",
                   files={"proj/.git/HEAD": "ref: refs/heads/main\n",
                          "proj/.claude/settings.local.json": {"ANTHROPIC_BASE_URL": "{api2}"},
                          "proj/sub/.claude/settings.local.json":
                              {"ANTHROPIC_BASE_URL": "{api1}"}}), id="git-root-local-read"),
    # a settings HTTPS_PROXY is shadowed by a shell https_proxy
    pytest.param(R({"https_proxy": "{A}"}, files={
        "home/.claude/settings.json": {"HTTPS_PROXY": "{B}"}},
        shadow=("HTTPS_PROXY", "https_proxy")), id="shadow-https_proxy"),
    # … not by the same spelling: the settings file wins
    pytest.param(R({"HTTPS_PROXY": "{A}"}, ("B", "api0"), files={
        "home/.claude/settings.json": {"HTTPS_PROXY": "{B}"}}, shadow=()),
        id="same-spelling-settings-win"),
    # a settings http_proxy is shadowed by a shell HTTPS_PROXY
    pytest.param(R({"HTTPS_PROXY": "{A}"}, files={
        "proj/.claude/settings.local.json": {"http_proxy": "{B}"}},
        shadow=("http_proxy", "HTTPS_PROXY")), id="shadow-across-schemes"),
    # a settings NO_PROXY is shadowed by a shell no_proxy (for the full rules)
    pytest.param(R({"HTTPS_PROXY": "{A}", "no_proxy": NOMATCH}, files={
        "home/.claude/settings.json": {"NO_PROXY": "127.0.0.0/8"}},
        shadow=("NO_PROXY", "no_proxy")), id="shadow-no_proxy"),
    # a settings NO_PROXY applies when the shell has none
    pytest.param(R({"HTTPS_PROXY": "{A}"}, ("direct", "api0"), files={
        "home/.claude/settings.json": {"NO_PROXY": "127.0.0.0/8"}}), id="settings-no_proxy"),
    # a settings file that is not JSON is ignored
    pytest.param(R(expect=("direct", "api0"), files={
        "home/.claude/settings.json": '{"env": {"ANTHROPIC_BASE_URL": "{api1}",}}'}),
        id="invalid-json-ignored"),
    # … so is one nested 100000 deep
    pytest.param(R(expect=("direct", "api0"), files={
        "home/.claude/settings.json": "[" * 100_000}), id="deep-json-ignored"),
    # … and a FIFO: nobody waits for a writer
    pytest.param(R(expect=("direct", "api0"), files={"home/.claude/settings.json": "FIFO"}),
                 id="fifo-ignored"),
]


# -- running one side -----------------------------------------------------------------------------
@dataclass
class Outcome:
    route: str
    endpoint: str | None
    text: str  # what the program printed (the client) or the proxy check's summary
    seconds: float

    @property
    def pair(self) -> tuple:
        return self.route, self.endpoint


@dataclass
class Setup:
    """One row made real: its files written, its environment and arguments filled in. The
    client and the doctor share it (the same HOME, launch directory and hosts file)."""

    env: dict[str, str]
    cwd: Path
    args: list[str]
    managed: Path | None
    scratch: Path

    def command(self, cmd: list[str]) -> list[str]:
        if sandbox.unavailable():
            return cmd
        return sandbox.wrap(cmd, self.scratch, managed=self.managed)


def prepare(row: Row, rig: Rig, root: Path) -> Setup:
    values = {**rig.values, "root": str(root)}
    for rel, content in row.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "FIFO":
            os.mkfifo(path)
        elif isinstance(content, dict):
            path.write_text(json.dumps({"env": {k: v.format_map(values)
                                                for k, v in content.items()}}))
        else:  # raw text, possibly broken JSON: only the one placeholder it may hold
            path.write_text(content.replace("{api1}", values["api1"]))
    home, cwd, scratch = root / "home", root / row.cwd, root / "sandbox"
    for d in (home, cwd, scratch):
        d.mkdir(parents=True, exist_ok=True)
    env = clean_subprocess_env(
        HOME=str(home), ANTHROPIC_API_KEY=LAB_API_KEY, NODE_EXTRA_CA_CERTS=str(rig.ca_file),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", CLAUDE_CODE_MAX_RETRIES="0",
        API_TIMEOUT_MS="5000")
    env.pop("RUNBOOKS_MANAGED_SETTINGS", None)  # both read the system path
    if row.base is not None:
        env["ANTHROPIC_BASE_URL"] = row.base.format_map(values)
    env.update({k: v.format_map(values) for k, v in row.env.items()})
    args: list[str] = []
    if row.flag is not None:
        kind, _, rest = row.flag.partition(":")
        if kind == "inline":
            args = ["--settings", rest.replace("{A_port}", values["A_port"])]
        elif kind == "rel":
            args = ["--settings", rest]
        else:
            args = ["--settings", str(root / row.flag)]
    managed = root / row.managed if row.managed else None
    if managed is None and not sandbox.overlay_unavailable():
        # a managed file of this machine's own must not decide the row
        managed = root / "no-managed.json"
        managed.write_text("{}")
    return Setup(env, cwd, args, managed, scratch)


def run_client(setup: Setup, rig: Rig) -> Outcome:
    rig.clear()
    start = time.perf_counter()
    proc = subprocess.run(setup.command([rig.claude, "-p", "hello", *setup.args]),
                          env=setup.env, cwd=setup.cwd, capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - start
    text = (proc.stdout + proc.stderr).strip()
    seen, answered = rig.seen_by(), rig.answered()
    if proc.returncode != 0 and ("Invalid proxy URL" in text or
                                 "UnsupportedProxyProtocol" in text):
        route = "error"
    else:
        route = "+".join(seen) or "direct"
    if answered:  # settings problems are reported on stderr after the reply
        assert proc.returncode == 0 and proc.stdout.strip() == LAB_REPLY, text
    return Outcome(route, "+".join(answered) or None, text, took)


def run_doctor(setup: Setup, rig: Rig) -> tuple[Outcome, dict]:
    rig.clear()
    cmd = [sys.executable, "-m", "runbooks", "doctor", "--json", "-", *DOCTOR_BUDGET,
           *setup.args]
    start = time.perf_counter()
    proc = subprocess.run(setup.command(cmd), env=setup.env, cwd=setup.cwd,
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - start
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    proxy = checks.get("proxy")
    details = proxy["details"] if proxy else {}
    if proxy is None or proxy["status"] == "skip":
        route = "direct"
    elif details.get("error"):
        route = "error"
    elif details.get("bypassed_by") or details.get("ignored"):
        route = "direct"
    else:
        route = rig.proxy_at(details["host"], details["port"])
    # the lab's logs must agree with the doctor's decision; the status page check goes along
    # its own path (its proxy may be another), so its request is not the API's
    status = setup.env.get("RUNBOOKS_STATUS_URL") or "\0"
    seen = [name for name, p in rig.proxies.items()
            if any(not s.target.startswith(status) for s in p.seen)]
    if route in rig.proxies:
        assert seen == [route], (route, seen, report)
    elif route == "direct" and seen:  # only the side check may have used the proxy
        assert "through_proxy" in details, (seen, report)
    answered = rig.answered()
    target = report["target"]["url"]
    for name in answered:
        assert target.rstrip("/").endswith(f":{rig.apis[name].port}"), (target, name)
    return Outcome(route, "+".join(answered) or None, proxy["summary"] if proxy else "",
                   took), report


# -- the tables -----------------------------------------------------------------------------------
def _skip_unless_possible(row: Row, rig: Rig) -> None:
    if (row.hosts or row.managed) and sandbox.unavailable():
        pytest.skip(f"needs a private /etc for the client: {sandbox.unavailable()}")
    if row.managed and sandbox.overlay_unavailable():
        pytest.skip(f"needs /etc overlaid for a managed file: {sandbox.overlay_unavailable()}")
    if "api6" in row.needs and "api6" not in rig.apis:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    for port in (80, 443):
        if f"port{port}" in row.needs and not _port_free(port):
            pytest.skip(f"something listens on 127.0.0.1:{port} here")


def _check(row: Row, rig: Rig, root: Path) -> None:
    _skip_unless_possible(row, rig)
    setup = prepare(row, rig, root)
    client = run_client(setup, rig)
    doctor, report = run_doctor(setup, rig)
    if row.expect[0] == "error":  # the client stops; what else the doctor checks is its own
        doctor.endpoint = None
    assert client.pair == row.expect, f"the client did {client.pair}: {client.text[:500]}"
    assert doctor.pair == row.expect, f"the doctor did {doctor.pair}: {doctor.text}"
    if row.expect[0] == "error":
        proxy = next(c for c in report["checks"] if c["id"] == "proxy")
        first = client.text.splitlines()[0]
        if "Invalid proxy URL" in first:  # the doctor quotes the client's own message
            assert first in proxy["details"]["error"], (first, proxy)
        else:
            assert "UnsupportedProxyProtocol" in client.text
            assert "UnsupportedProxyProtocol" in proxy["details"]["error"]
        assert proxy["cause"] == "proxy.bad_url"
    if row.shadow is not None:
        flag = setup.args[1] if setup.args else None
        eff = load({**setup.env, "RUNBOOKS_MANAGED_SETTINGS": str(root / "none.json")},
                   setup.cwd, flag)
        found = [(s.variable, s.winner) for s in eff.shadowed_proxies()]
        assert found == ([row.shadow] if row.shadow else []), found
    # about 0.4 s for the client and 0.25 s for the doctor on an idle machine
    assert client.seconds + doctor.seconds < ROW_LIMIT_S, (client.seconds, doctor.seconds)


@pytest.mark.parametrize("row", PROXY_ROWS)
def test_proxy_choice_and_no_proxy(rig, tmp_path, row):
    _check(row, rig, tmp_path)


@pytest.mark.parametrize("row", SETTINGS_ROWS)
def test_settings_files(rig, tmp_path, row):
    _check(row, rig, tmp_path)


def test_the_tables_are_big_enough():
    assert len(PROXY_ROWS) >= 40 and len(SETTINGS_ROWS) >= 15
