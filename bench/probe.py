"""An adversarial probe of the command line: how does ``runbooks`` behave, class by class of
hostile input?

    .venv/bin/python bench/probe.py --checkout /path/to/checkout --out results.json
    .venv/bin/python bench/probe.py --checkout . --classes hosts,triage --only 'triage-01'
    .venv/bin/python bench/probe.py --compare before.json after.json > bench/probe-results.md

``--checkout`` is the code under test: its CLI runs as ``CHECKOUT/.venv/bin/python -m runbooks``
(build it with ``make .venv/.installed`` there). The lab servers the cases point at come from
the interpreter running this script (this repository's ``runbooks.lab``), so two checkouts
are probed against the very same servers.

Every case runs with a fresh temporary cwd and HOME, a cleaned environment (no proxy, CA
bundle, ``ANTHROPIC_*``, ``CLAUDE_CODE_*``, ``RUNBOOKS_*``, Jupyter or Python variables from
this machine) and a 30 s limit (over it: ``hang``). Cases run two at a time.

Isolation: the script re-runs itself inside new network and mount namespaces (``unshare -n
-m``, as root). Only loopback exists there, so no case can reach a real host, however its
host name resolves; and ``/dev`` is a private tmpfs with its own device nodes, so a case that
replaces ``/dev/full`` (``--json /dev/full`` written through a temporary file and a rename)
replaces the sandbox's copy, not the machine's. ``--no-isolation`` skips that (and the
``/dev/full`` cases). Address space is capped at 4 GiB per process, so reading ``/dev/zero``
ends in a MemoryError rather than in the machine's memory.

Classes (``--classes``, comma-separated names or numbers):

1 hosts        host names in ``--base-url``, ``-p base_url=`` and ``ANTHROPIC_BASE_URL``
2 budgets      the four time budgets, as doctor options and ``-p``; budgets against a black hole
3 resolver     ``--nameserver`` / ``--resolve`` and their ``-p`` spellings
4 output       ``--json`` and ``--output-dir`` paths
5 triage       empty, huge, binary and unicode messages; ``-`` (stdin) and ``--file``
6 hostile      FIFOs, /dev/zero, folders, huge sparse files, garbage, deep JSON in
               ``NODE_EXTRA_CA_CERTS``, ``CLAUDE_CODE_CLIENT_CERT`` and settings files
7 secrets      a canary in proxy passwords, URLs, keys, headers and settings ``env`` blocks
8 pipes        stdout closed after one byte (``| head -c 1``) or on /dev/full
9 concurrency  two ``run network --output-dir SAME`` at once (healthy vs refused), 6 rounds

What is expected, and the bucket a case lands in (the first that applies, in this order):

hang         still running at the time limit (killed)
traceback    ``Traceback (most recent call last)`` on stdout or stderr
leak         the canary (or a 10-character piece of it, or its base64) in stdout, stderr
             or any file the case wrote
collision    (concurrency) a run printed the other run's verdict, or both used one file
wrong-exit   an exit code the case does not allow: usage errors must exit 2, a hostile file
             must be a finding (1), a closed pipe must not kill the process, ...
unreported   (hostile) exit and output fine, but the file is named nowhere in the output
multi-line   an exit 2 whose stderr is not exactly one ``runbooks: error:`` line, or any
             other run printing more than one line on stderr
wrote-files  a usage error that wrote anything in cwd or HOME (a Jupyter kernel started
             writes there too), an output path that changed though nothing should have
             been written, or a hostile input file that was changed
slow         a usage error slower than 2 s, or a run slower than its budgets allow
ok           none of the above

A failing case is run a second time; one that passes then is marked intermittent in the
results (``recheck``) but still counts in the bucket of its first run.

Every exit 2 is held to the usage-error shape (one line, nothing written, under 2 s),
whatever the class. ``--compare`` renders two result files as the Markdown table of
``bench/probe-results.md``.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import os
import re
import resource
import secrets
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("hosts", "budgets", "resolver", "output", "triage", "hostile", "secrets", "pipes",
           "concurrency")
BUCKETS = ("hang", "traceback", "leak", "collision", "wrong-exit", "unreported", "multi-line",
           "wrote-files", "slow", "ok")
TRACEBACK = "Traceback (most recent call last)"
USAGE_PREFIX = "runbooks: error:"
USAGE_SLOW_S = 2.0
DOCTOR_SLOW_S = 10.0  # doctor against a lab that answers at once: a second is plenty
RUN_SLOW_S = 25.0  # a kernel start (seconds on two busy cores) plus the same work
MEMORY_CAP = 4 << 30
CANARY = "Cnry" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(20))
GIB, MIB = 1 << 30, 1 << 20
MSG = "API Error: Connection error. (cause: getaddrinfo ENOTFOUND api.anthropic.com)"

#: Placeholders in a case's argv, env and setup, filled in when it runs.
#: @HEALTHY@ @HP@ (its host:port) @HPORT@  @TLS@ @TLSCA@  @REFUSED@ @RPORT@  @BLACKHOLE@
#: @CWD@ @HOME@ @FILES@ (the case's own folders)  @CANARY@
TOKENS = ("@HEALTHY@", "@HP@", "@HPORT@", "@TLS@", "@TLSCA@", "@REFUSED@", "@RPORT@",
          "@BLACKHOLE@", "@CWD@", "@HOME@", "@FILES@", "@CANARY@")


# -- cases ---------------------------------------------------------------------------------------
@dataclass
class Setup:
    """A file a case needs before it starts. ``kind``: file (``data``), fifo, dir, sparse
    (``size``), symlink (to ``target``)."""

    path: str
    kind: str
    data: bytes = b""
    size: int = 0
    target: str = ""


@dataclass
class Case:
    id: str
    cls: str
    argv: list[str]
    #: usage (exit 2) | accept (0/1) | any (0/1/2) | fail (1/2) | finding (1/2) | hostile |
    #: secret | pipe
    kind: str
    env: dict[str, str] = field(default_factory=dict)
    exits: tuple[int, ...] = ()
    stdin: bytes | str | None = None  # bytes to feed, or a path to open (/dev/zero)
    setup: list[Setup] = field(default_factory=list)
    watch: list[str] = field(default_factory=list)  # paths that must not change
    token: str = ""  # hostile: the output must name this
    canary: bool = False  # secrets: look for the canary everywhere
    stdout: str = "pipe"  # pipe | head1 | devfull
    slow_s: float = DOCTOR_SLOW_S
    devfull: bool = False  # touches /dev/full: run alone, then check and restore it
    note: str = ""

    def __post_init__(self) -> None:
        if not self.exits:
            self.exits = {"usage": (2,), "accept": (0, 1), "any": (0, 1, 2), "fail": (1, 2),
                          "finding": (1, 2), "hostile": (1,), "secret": (0, 1, 2),
                          "pipe": (0, 1)}[self.kind]
        if self.argv[:1] == ["run"] and self.slow_s == DOCTOR_SLOW_S:
            self.slow_s = RUN_SLOW_S


class CaseList(list):
    """Cases of one class, numbered in order: ``hosts-007-doctor-label64``."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls = cls

    def add(self, slug: str, argv: list[str], kind: str, **kw: Any) -> None:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", slug).strip("-")[:40]
        self.append(Case(f"{self.cls}-{len(self) + 1:03d}-{slug}", self.cls, argv, kind, **kw))


def _long_host(total: int) -> str:
    """A dotted name of exactly ``total`` characters made of 63-character labels."""
    labels, left = [], total
    while left > 0:
        n = min(63, left)
        labels.append("a" * n)
        left -= n + 1
    name = ".".join(labels)
    return name[:total] if len(name) > total else name


def host_values() -> list[tuple[str, str, str]]:
    """(slug, URL, expectation) for class 1; expectation usage | accept | any.

    The reference is what Claude Code itself would do with the URL (Node's WHATWG ``new
    URL()`` and then DNS): a URL it refuses, or a host no resolver can ever answer (a label
    over 63 characters, a name over 253, an empty label, port 0, a scheme other than http(s))
    is a usage error; a URL Node silently repairs (a tab, a zero-width space, a soft hyphen
    dropped) may go either way, as may credentials or a query string."""
    l63, l64 = "a" * 63, "b" * 64
    v: list[tuple[str, str, str]] = [
        ("baseline", "@HEALTHY@", "accept"),
        ("label63", f"http://{l63}.example.com", "accept"),
        ("label64", f"http://{l64}.example.com", "usage"),
        ("label64-mid", f"http://x.{l64}.y.example.com", "usage"),
        ("name253", "http://" + _long_host(253), "accept"),
        ("name254", "http://" + _long_host(254), "usage"),
        ("name255", "http://" + _long_host(255), "usage"),
        ("name300", "http://" + _long_host(300), "usage"),
        ("name4000", "http://" + _long_host(4000), "usage"),
        ("trailing-dot", "http://api.example.com.", "any"),
        ("empty-label", "http://a..example.com", "usage"),
        ("leading-dot", "http://.example.com", "usage"),
        ("dots-only", "http://../", "usage"),
        ("double-trailing-dot", "http://example.com..", "usage"),
        ("idna-valid", "http://bücher.example", "accept"),
        ("idna-cjk", "http://日本語.jp", "accept"),
        ("punycode-valid", "http://xn--bcher-kva.example", "accept"),
        ("punycode-invalid", "http://xn--a.example", "usage"),
        ("punycode-empty", "http://xn--.example", "usage"),
        ("idna-snowman", "http://☃.example", "any"),
        ("idna-fullwidth-dot", "http://api\uff0eexample\uff0ecom", "any"),
        ("idna-combining", "http://a\u0301.example", "any"),
        ("idna-bidi", "http://\u202eexample.com", "usage"),
        ("hyphen-leading", "http://-api.example.com", "any"),
        ("ellipsis-end", "https://api.anthropic…", "usage"),
        ("ellipsis-tld", "https://api.anthropic.com…", "usage"),
        ("ellipsis-path", "https://api.anthropic.com/v1…", "any"),
        ("zwsp", "https://api\u200b.anthropic.com", "any"),
        ("zwnj", "https://api\u200c.anthropic.com", "usage"),
        ("zwj", "https://api\u200d.anthropic.com", "usage"),
        ("bom", "https://\ufeffapi.anthropic.com", "any"),
        ("word-joiner", "https://api.anthropic\u2060.com", "any"),
        ("soft-hyphen", "https://api.anthro\u00adpic.com", "any"),
        ("space-inside", "https://api .anthropic.com", "usage"),
        ("space-leading", " @HEALTHY@", "any"),
        ("space-trailing", "@HEALTHY@ ", "any"),
        ("tab-inside", "https://api\t.anthropic.com", "any"),
        ("newline-inside", "https://api.anthropic.com\nx", "any"),
        ("del-char", "https://api.anthropic\x7f.com", "usage"),
        ("percent-nul", "http://api.exam%00ple.com", "usage"),
        ("bracket-open", "http://[::1", "usage"),
        ("bracket-zz", "http://[zz]", "usage"),
        ("bracket-empty", "http://[]", "usage"),
        ("bracket-extra", "http://[::1]]", "usage"),
        ("bracket-v4", "http://[127.0.0.1]", "usage"),
        ("bracket-trailing-junk", "http://[::1]x", "usage"),
        ("v6-unbracketed", "http://::1/", "usage"),
        ("v6-refused", "http://[::1]:@RPORT@", "accept"),
        ("port0", "http://127.0.0.1:0", "usage"),
        ("port65535", "http://127.0.0.1:65535", "accept"),
        ("port65536", "http://127.0.0.1:65536", "usage"),
        ("port-minus1", "http://127.0.0.1:-1", "usage"),
        ("port-abc", "http://127.0.0.1:abc", "usage"),
        ("port-huge", "http://127.0.0.1:99999999999999999999", "usage"),
        ("port-plus", "http://127.0.0.1:+80", "usage"),
        ("port-double", "http://127.0.0.1:80:80", "usage"),
        ("port-empty", "http://127.0.0.1:/", "any"),
        ("port-leading-zeros", "http://127.0.0.1:0@HPORT@", "any"),
        ("scheme-upper", "HTTP://@HP@", "accept"),
        ("scheme-ftp", "ftp://@HP@", "usage"),
        ("scheme-socks5", "socks5://@HP@", "usage"),
        ("scheme-ws", "ws://@HP@", "usage"),
        ("scheme-file", "file:///etc/passwd", "usage"),
        ("scheme-javascript", "javascript:alert(1)", "usage"),
        ("scheme-none-hostport", "@HP@", "usage"),
        ("scheme-none-name", "api.anthropic.com", "usage"),
        ("scheme-relative", "//api.anthropic.com", "usage"),
        ("scheme-one-slash", "http:/api.example.com", "any"),
        ("scheme-only", "https://", "usage"),
        ("empty", "", "any"),
        ("creds", "http://u:p@@HP@", "any"),
        ("creds-user-only", "http://u@@HP@", "any"),
        ("creds-pass-only", "http://:p@@HP@", "any"),
        ("creds-no-host", "http://u:p@", "usage"),
        ("query", "@HEALTHY@/?x=1", "any"),
        ("query-fragment", "@HEALTHY@/v1?a=b#frag", "any"),
        ("query-no-host", "http://?x=1", "usage"),
        ("fragment-no-host", "http://#x", "usage"),
        ("ipv4-five-parts", "http://1.2.3.4.5", "usage"),
        ("ipv4-octet-256", "http://256.1.1.1", "usage"),
        ("ipv4-hex", "http://0x7f.1:@HPORT@", "any"),
        ("ipv4-short", "http://127.1:@HPORT@", "any"),
        ("localhost", "http://localhost:@HPORT@", "accept"),
    ]
    return v


def cls_hosts() -> CaseList:
    c = CaseList("hosts")
    base = {"ANTHROPIC_BASE_URL": "@HEALTHY@"}
    for slug, url, expect in host_values():
        c.add(f"doctor-{slug}", ["doctor", f"--base-url={url}"], expect, env=base)
        c.add(f"run-{slug}", ["run", "network", f"--base-url={url}"], expect, env=base)
        c.add(f"run-p-{slug}", ["run", "network", "-p", f"base_url={url}"], expect, env=base)
        # from the environment it is not a usage error of the command line: a finding or a
        # clean refusal; a valid one runs
        env_kind = {"usage": "finding", "accept": "accept", "any": "any"}[expect]
        if url:
            c.add(f"env-{slug}", ["doctor"], env_kind, env={"ANTHROPIC_BASE_URL": url})
    return c


BUDGET_VALUES = [  # (value, expectation)
    ("-1", "usage"), ("0", "usage"), ("-0", "usage"), ("nan", "usage"), ("NaN", "usage"),
    ("inf", "usage"), ("+inf", "usage"), ("-inf", "usage"), ("1e309", "usage"),
    ("1e-400", "usage"), ("1e-9", "accept"), ("0.000001", "accept"), ("600", "accept"),
    ("1e2", "accept"), ("601", "usage"), ("600.0000001", "usage"), ("abc", "usage"),
    ("", "usage"), (" 3 ", "any"), ("0x10", "usage"), ("5s", "usage"), ("3,5", "usage"),
    ("1_0", "any"), ("\u0661", "any"),  # ARABIC-INDIC DIGIT ONE: float() takes it
]


def cls_budgets() -> CaseList:
    c = CaseList("budgets")
    env = {"ANTHROPIC_BASE_URL": "@TLS@", "NODE_EXTRA_CA_CERTS": "@TLSCA@"}
    for name in ("connect_timeout", "dns_timeout", "tls_timeout", "read_timeout"):
        opt = "--" + name.replace("_", "-")
        for value, expect in BUDGET_VALUES:
            slug = f"{name.split('_')[0]}-{value.strip() or 'empty'}"
            c.add(f"doctor-{slug}", ["doctor", f"{opt}={value}"], expect, env=env)
            c.add(f"run-p-{slug}", ["run", "network", "-p", f"{name}={value}"], expect, env=env)
    # budgets honoured: a SYN black hole must cost the connect budget, not more
    for s in ("0.5", "1", "2"):
        c.add(f"blackhole-doctor-connect-{s}", ["doctor", f"--connect-timeout={s}"], "accept",
              env={"ANTHROPIC_BASE_URL": "@BLACKHOLE@"}, exits=(1,), slow_s=float(s) + 3.0)
    c.add("blackhole-run-connect-1", ["run", "network", "-p", "connect_timeout=1"], "accept",
          env={"ANTHROPIC_BASE_URL": "@BLACKHOLE@"}, exits=(1,), slow_s=RUN_SLOW_S)
    # `runbooks retry`'s own budgets (attempts, backoff base, cap), around a command that
    # succeeds at once
    for opt, values in (("--max", [("0", "usage"), ("51", "usage"), ("-1", "usage"),
                                   ("abc", "usage"), ("", "usage"), ("1.5", "usage"),
                                   ("1", "accept"), ("50", "accept")]),
                        ("--base", [("0", "usage"), ("-1", "usage"), ("nan", "usage"),
                                    ("inf", "usage"), ("601", "usage"), ("1e-9", "accept")]),
                        ("--cap", [("0", "usage"), ("nan", "usage"), ("-inf", "usage"),
                                   ("3601", "usage"), ("3600", "accept")])):
        for value, expect in values:
            c.add(f"retry{opt}-{value or 'empty'}", ["retry", f"{opt}={value}", "--", "true"],
                  expect, exits=(0,) if expect == "accept" else ())
    c.add("retry-no-command", ["retry"], "usage")
    c.add("retry-dashes-only", ["retry", "--"], "usage")
    c.add("retry-missing-command", ["retry", "--", "no-such-command-xyz"], "usage")
    return c


NAMESERVERS = [
    ("garbage", "usage"), ("1.2.3", "usage"), ("300.1.1.1", "usage"), ("[::1", "usage"),
    ("::1", "accept"), ("[::1]:53", "accept"), ("1.1.1.1:0", "usage"),
    ("1.1.1.1:99999", "usage"), ("1.1.1.1:abc", "usage"), ("1.1.1.1:53:53", "usage"),
    ("1.1.1.1", "accept"), ("127.0.0.1:5353", "accept"), ("localhost", "usage"),
    ("", "accept"), (" ", "any"), ("http://1.1.1.1", "usage"), ("1.1.1.1:-1", "usage"),
    ("[zz]:53", "usage"),
]
PINS = [
    ("nohost", "usage"), ("host:[::1", "usage"), ("host:notip", "usage"),
    ("a:1.2.3.4,b", "usage"), (":1.2.3.4", "usage"), ("host:", "usage"),
    ("api.example.com:127.0.0.1", "accept"), ("host:[::1]", "accept"), ("host:::1", "any"),
    ("host:443:1.2.3.4", "any"), ("a:1.2.3.4,,b:1.2.3.4", "any"), ("", "accept"),
    ("host:999.1.1.1", "usage"), ("ho st:1.2.3.4", "usage"), ("h\u2026:1.2.3.4", "usage"),
]


def cls_resolver() -> CaseList:
    c = CaseList("resolver")
    env = {"ANTHROPIC_BASE_URL": "@HEALTHY@"}
    for values, name in ((NAMESERVERS, "nameserver"), (PINS, "resolve")):
        for value, expect in values:
            slug = f"{name}-{value or 'empty'}"
            c.add(f"doctor-{slug}", ["doctor", f"--{name}={value}"], expect, env=env)
            c.add(f"run-p-{slug}", ["run", "network", "-p", f"{name}={value}"], expect, env=env)
    return c


def cls_output() -> CaseList:
    c = CaseList("output")
    env = {"ANTHROPIC_BASE_URL": "@HEALTHY@"}
    prepared = [Setup("@CWD@/adir", "dir"), Setup("@CWD@/afile", "file", b"keep me\n"),
                Setup("@CWD@/fifo", "fifo"), Setup("@CWD@/full-link", "symlink",
                                                   target="/dev/full")]
    keep = ["@CWD@/afile", "@CWD@/fifo", "@CWD@/adir", "@CWD@/full-link"]
    jsons = [
        ("empty", "", "usage"), ("blank", "   ", "usage"), ("dir", "adir", "usage"),
        ("dot", ".", "usage"), ("root", "/", "usage"),
        ("missing-dir", "missing/dir/x.json", "usage"), ("under-file", "afile/x.json", "usage"),
        ("proc", "/proc/runbooks-probe.json", "usage"),
        ("sys", "/sys/runbooks-probe.json", "usage"),
        # a FIFO may be a reader's (``--json >(jq .)``): never replaced by a file, never a hang
        ("fifo", "fifo", "any"),
        ("dev-full", "/dev/full", "fail"), ("link-to-dev-full", "full-link", "fail"),
        ("proc-self-status", "/proc/self/status", "fail"),
        ("new-file", "out.json", "accept"), ("existing-file", "afile", "accept"),
        ("stdout", "-", "accept"), ("newline-name", "a\nb.json", "accept"),
    ]
    for slug, path, expect in jsons:
        watch = [p for p in keep if path != "afile" or not p.endswith("/afile")]
        dev = "full" in slug
        c.add(f"doctor-json-{slug}", ["doctor", f"--json={path}"], expect, env=env,
              setup=prepared, watch=watch + (["/dev/full"] if dev else []), devfull=dev)
        c.add(f"run-json-{slug}", ["run", "network", f"--json={path}"], expect, env=env,
              setup=prepared, watch=watch + (["/dev/full"] if dev else []), devfull=dev)
    dirs = [
        ("empty", "", "usage"), ("blank", "  ", "usage"), ("file", "afile", "usage"),
        ("under-file", "afile/sub", "usage"), ("proc-new", "/proc/runbooks-probe", "usage"),
        ("sys-new", "/sys/runbooks-probe", "usage"), ("proc", "/proc", "usage"),
        ("sys", "/sys", "usage"), ("proc-self-new", "/proc/self/runbooks-probe", "usage"),
        ("dev-null", "/dev/null", "usage"), ("dev-full-sub", "/dev/full/sub", "usage"),
        ("fifo", "fifo", "usage"), ("link-to-dev-full", "full-link", "usage"),
        ("new-deep", "new/deep/dir", "accept"), ("dot", ".", "accept"),
        ("existing", "adir", "accept"),
    ]
    for slug, path, expect in dirs:
        c.add(f"run-outdir-{slug}", ["run", "network", f"--output-dir={path}"], expect, env=env,
              setup=prepared, watch=[p for p in keep if not p.endswith("/adir")])
    # `run all`: every runbook, the same checks first
    for slug, argv, expect in (("all-outdir-file", ["--output-dir=afile"], "usage"),
                               ("all-json-dir", ["--json=adir"], "usage"),
                               ("all-bad-param", ["-p", "nope=1"], "usage"),
                               ("all-bad-budget", ["-p", "connect_timeout=nan"], "usage"),
                               ("all", [], "accept"), ("all-json-stdout", ["--json=-"], "accept")):
        c.add(f"run-{slug}", ["run", "all", *argv], expect, env=env, setup=prepared,
              watch=keep)
    return c


def cls_triage() -> CaseList:
    c = CaseList("triage")
    files = [Setup("@FILES@/fifo", "fifo"), Setup("@FILES@/dir", "dir"),
             Setup("@FILES@/sparse17m", "sparse", size=17 * MIB),
             Setup("@FILES@/sparse1g", "sparse", size=GIB),
             Setup("@FILES@/binary", "file", data=_garbage(4096)),
             Setup("@FILES@/valid.log", "file", data=(MSG + "\n").encode()),
             Setup("@FILES@/loop", "symlink", target="@FILES@/loop")]
    watch = ["@FILES@/fifo", "@FILES@/dir", "@FILES@/sparse17m", "@FILES@/binary",
             "@FILES@/valid.log"]
    t = ["triage"]
    c.add("empty-arg", t + [""], "usage")
    c.add("blank-arg", t + ["   "], "usage")
    c.add("newlines-arg", t + ["\n\n\t"], "usage")
    c.add("no-arg", t, "usage")
    c.add("stdin-empty", t + ["-"], "usage", stdin=b"")
    c.add("stdin-blank", t + ["-"], "usage", stdin=b"   \n\t\n")
    c.add("stdin-nul", t + ["-"], "usage", stdin=b"\0" * 100)
    c.add("stdin-huge", t + ["-"], "usage", stdin=b"a" * (17 * MIB))
    c.add("stdin-dev-zero", t + ["-"], "usage", stdin="/dev/zero")
    c.add("stdin-binary", t + ["-"], "accept", stdin=_garbage(65536))
    c.add("stdin-valid", t + ["-"], "accept", stdin=MSG.encode(), exits=(0,))
    c.add("stdin-valid-bad-utf8", t + ["-"], "accept", stdin=b"\xff\xfe" + MSG.encode(),
          exits=(0,))
    for slug, path, expect in [("missing", "@FILES@/nope.log", "usage"), ("empty", "", "usage"),
                               ("fifo", "@FILES@/fifo", "usage"),
                               ("dev-zero", "/dev/zero", "usage"), ("dir", "@FILES@/dir", "usage"),
                               ("sparse-17mib", "@FILES@/sparse17m", "usage"),
                               ("sparse-1gib", "@FILES@/sparse1g", "usage"),
                               ("symlink-loop", "@FILES@/loop", "usage"),
                               ("proc-self-mem", "/proc/self/mem", "usage"),
                               ("binary", "@FILES@/binary", "accept"),
                               ("valid", "@FILES@/valid.log", "accept")]:
        for json_flag in ([], ["--json"]):
            c.add(f"file-{slug}{'-json' if json_flag else ''}",
                  t + [f"--file={path}"] + json_flag, expect, setup=files, watch=watch,
                  exits=(0,) if slug == "valid" else ())
    c.add("file-and-message", t + ["--file=@FILES@/valid.log", MSG], "usage", setup=files)
    messages = [
        ("ascii", MSG), ("japanese", "APIエラー: 接続エラー getaddrinfo ENOTFOUND"),
        ("rtl", "\u202eAPI Error: Connection error\u202c"), ("emoji", "🔥 API Error 529 🔥"),
        ("ellipsis", "API Error: Connection error…"), ("zwsp", "API\u200b Error\u200b"),
        ("ansi", "\x1b[31mAPI Error: 529 overloaded_error\x1b[0m"),
        ("combining", "e\u0301rror ce\u0301rtificat"), ("long-100k", "x" * 100_000),
        ("self-signed", "self signed certificate in certificate chain"),
        ("json-body", 'API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}'),
        ("dash-dash", "--"), ("lone-surrogate-bytes", "caf\udcff error"),
    ]
    for slug, msg in messages:
        for json_flag in ([], ["--json"]):
            c.add(f"msg-{slug}{'-json' if json_flag else ''}", t + json_flag + [msg],
                  "usage" if slug == "dash-dash" else "accept")
    return c


def _garbage(n: int) -> bytes:
    """Deterministic binary junk: NULs, invalid UTF-8, control bytes."""
    out = bytearray()
    seed = hashlib.sha256(b"runbooks-probe").digest()
    while len(out) < n:
        seed = hashlib.sha256(seed).digest()
        out += seed
    out[0:4] = b"\xff\xfe\x00\x80"
    return bytes(out[:n])


HOSTILE_KINDS: list[tuple[str, list[Setup], str]] = [  # (slug, setup of @X@, path of @X@)
    ("fifo", [Setup("@X@", "fifo")], "@X@"),
    ("dev-zero", [Setup("@X@", "symlink", target="/dev/zero")], "/dev/zero"),
    ("dir", [Setup("@X@", "dir")], "@X@"),
    ("sparse-1gib", [Setup("@X@", "sparse", size=GIB)], "@X@"),
    ("binary", [Setup("@X@", "file", data=_garbage(4096))], "@X@"),
    ("nested-json", [Setup("@X@", "file", data=b"[" * 100_000)], "@X@"),
    ("invalid-json", [Setup("@X@", "file", data=b'{"env": {"A": }')], "@X@"),
    ("empty", [Setup("@X@", "file", data=b"")], "@X@"),
    ("symlink-loop", [Setup("@X@", "symlink", target="@X@")], "@X@"),
    ("dangling", [Setup("@X@", "symlink", target="@FILES@/no-such-file")], "@X@"),
]


def cls_hostile() -> CaseList:
    """Each hostile file in each place Claude Code (and so the doctor) reads one."""
    c = CaseList("hostile")
    lab = {"ANTHROPIC_BASE_URL": "@TLS@", "NODE_EXTRA_CA_CERTS": "@TLSCA@"}
    for kslug, kind_setup, direct in HOSTILE_KINDS:
        for place in ("ca-env", "client-cert-env", "user-settings", "project-settings",
                      "settings-env-block", "settings-flag"):
            env, extra, flag_argv = dict(lab), [], []
            if place in ("ca-env", "client-cert-env", "settings-env-block", "settings-flag"):
                x = "@FILES@/hostile-" + kslug
            else:
                root = "@HOME@" if place == "user-settings" else "@CWD@"
                x = root + "/.claude/settings.json"
                extra.append(Setup(root + "/.claude", "dir"))
            setup = extra + [Setup(s.path.replace("@X@", x), s.kind, s.data, s.size,
                                   s.target.replace("@X@", x)) for s in kind_setup]
            path = direct.replace("@X@", x)
            token = "settings.json" if "settings.json" in x else Path(path).name
            if place == "ca-env":
                env["NODE_EXTRA_CA_CERTS"] = path
            elif place == "client-cert-env":
                env["CLAUDE_CODE_CLIENT_CERT"] = path
            elif place == "settings-env-block":
                block = json.dumps({"env": {"NODE_EXTRA_CA_CERTS": path}}).encode()
                setup.append(Setup("@HOME@/.claude", "dir"))
                setup.append(Setup("@HOME@/.claude/settings.json", "file", data=block))
            elif place == "settings-flag":
                flag_argv = [f"--settings={path}"]
            kind, exits = "hostile", ((1, 2) if place == "settings-flag" else (1,))
            if kslug == "dangling" and "settings.json" in x:  # the client too sees no file
                exits, token = (0, 1), ""
            watch = [x] if path == x else [x, path]
            for cmd in (["doctor"], ["doctor", "--json=-"], ["run", "network"]):
                c.add(f"{place}-{kslug}-{'-'.join(cmd)}", cmd + flag_argv, kind, env=env,
                      setup=setup, watch=watch, token=token, exits=exits)
    return c


def _secret_placements() -> list[tuple[str, dict[str, str], list[str], list[Setup]]]:
    """(slug, env, extra argv, setup): the canary where a secret may hide."""
    C = "@CANARY@"
    h = {"ANTHROPIC_BASE_URL": "@HEALTHY@"}
    out: list[tuple[str, dict[str, str], list[str], list[Setup]]] = [
        ("proxy-slash", {**h, "HTTPS_PROXY": f"http://bob:{C}/x@127.0.0.1:9"}, [], []),
        ("proxy-hash", {**h, "HTTPS_PROXY": f"http://bob:{C}#x@127.0.0.1:9"}, [], []),
        ("proxy-query", {**h, "HTTPS_PROXY": f"http://bob:{C}?x@127.0.0.1:9"}, [], []),
        ("proxy-no-scheme", {**h, "HTTPS_PROXY": f"bob:{C}@127.0.0.1:9"}, [], []),
        ("proxy-lower", {**h, "https_proxy": f"http://bob:{C}@127.0.0.1:9"}, [], []),
        ("proxy-http", {**h, "HTTP_PROXY": f"http://bob:{C}@127.0.0.1:9"}, [], []),
        ("proxy-all-socks", {**h, "ALL_PROXY": f"socks5://bob:{C}@127.0.0.1:9"}, [], []),
        ("proxy-malformed", {**h, "HTTPS_PROXY": f"http://bob:{C}@[::1"}, [], []),
        ("proxy-encoded", {**h, "HTTPS_PROXY": f"http://bob:{C}%40x@127.0.0.1:9"}, [], []),
        ("proxy-user-is-secret", {**h, "HTTPS_PROXY": f"http://{C}@127.0.0.1:9"}, [], []),
        ("base-url-query", {"ANTHROPIC_BASE_URL": f"@HEALTHY@/?key={C}"}, [], []),
        ("base-url-userinfo", {"ANTHROPIC_BASE_URL": f"http://u:{C}@@HP@"}, [], []),
        ("base-url-invalid-userinfo", {"ANTHROPIC_BASE_URL": f"http://u:{C}@[zz]:1"}, [], []),
        ("base-url-invalid-query", {"ANTHROPIC_BASE_URL": f"http://[zz]/?key={C}"}, [], []),
        ("api-key", {**h, "ANTHROPIC_API_KEY": f"sk-ant-api03-{C}"}, [], []),
        ("api-key-plain", {**h, "ANTHROPIC_API_KEY": C}, [], []),
        ("auth-token", {**h, "ANTHROPIC_AUTH_TOKEN": C}, [], []),
        ("custom-headers", {**h, "ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {C}"}, [], []),
        ("custom-headers-multi", {**h, "ANTHROPIC_CUSTOM_HEADERS":
                                  f"X-Team: a\nAuthorization: Bearer {C}"}, [], []),
        ("client-key-passphrase", {**h, "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE": C}, [], []),
        ("aws-secret", {**h, "AWS_SECRET_ACCESS_KEY": C}, [], []),
        ("arg-base-url-query", h, [f"--base-url=@HEALTHY@/?key={C}"], []),
        ("arg-base-url-userinfo", h, [f"--base-url=http://u:{C}@@HP@"], []),
        ("arg-base-url-invalid", h, [f"--base-url=http://u:{C}@[zz]"], []),
        ("arg-base-url-bad-port", h, [f"--base-url=http://u:{C}@127.0.0.1:99999"], []),
    ]
    for slug, block in [
        ("settings-api-key", {"ANTHROPIC_API_KEY": C}),
        ("settings-proxy", {"HTTPS_PROXY": f"http://bob:{C}@127.0.0.1:9"}),
        ("settings-base-url", {"ANTHROPIC_BASE_URL": f"@HEALTHY@/?key={C}"}),
        ("settings-custom-var", {"MY_TEAM_TOKEN": C}),
        ("settings-headers", {"ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {C}"}),
    ]:
        data = json.dumps({"env": block}).encode()
        out.append((slug, h, [], [Setup("@HOME@/.claude", "dir"),
                                  Setup("@HOME@/.claude/settings.json", "file", data=data)]))
    helper = json.dumps({"apiKeyHelper": f"echo {C}", "env": {}}).encode()
    out.append(("settings-api-key-helper", h, [], [
        Setup("@HOME@/.claude", "dir"), Setup("@HOME@/.claude/settings.json", "file", helper)]))
    bad = b'{"env": {"ANTHROPIC_API_KEY": "' + C.encode() + b'", }'
    out.append(("settings-invalid-json", h, [], [
        Setup("@HOME@/.claude", "dir"), Setup("@HOME@/.claude/settings.json", "file", bad)]))
    inline = json.dumps({"env": {"ANTHROPIC_AUTH_TOKEN": C}})
    out.append(("settings-flag-inline", h, [f"--settings={inline}"], []))
    return out


def cls_secrets() -> CaseList:
    c = CaseList("secrets")
    for slug, env, extra, setup in _secret_placements():
        watch = [s.path for s in setup if s.kind == "file"]
        for cmd in (["doctor"], ["doctor", "--json=-"], ["doctor", "--json=out.json"],
                    ["run", "network"]):
            argv = cmd + extra
            c.add(f"{slug}-{'-'.join(cmd)}", argv, "secret", env=env, setup=setup, watch=watch,
                  canary=True)
    for slug, argv in [
        ("triage-key", ["triage", "API Error: 401 invalid x-api-key sk-ant-api03-@CANARY@"]),
        ("triage-key-json", ["triage", "--json", "401 key sk-ant-api03-@CANARY@"]),
        ("run-p-base-url-userinfo", ["run", "network", "-p", "base_url=http://u:@CANARY@@@HP@"]),
        ("run-p-base-url-query", ["run", "network", "-p", "base_url=@HEALTHY@/?key=@CANARY@"]),
        ("run-p-settings-inline", ["run", "network", "-p",
                                   'settings={"env": {"ANTHROPIC_API_KEY": "@CANARY@"}}']),
        ("run-y-secret", ["run", "network", "-y", "base_url: http://u:@CANARY@@@HP@"]),
    ]:
        c.add(slug, argv, "secret", env={"ANTHROPIC_BASE_URL": "@HEALTHY@"}, canary=True)
    return c


def cls_pipes() -> CaseList:
    c = CaseList("pipes")
    env = {"ANTHROPIC_BASE_URL": "@HEALTHY@"}
    commands = [("help", ["--help"]), ("list", ["list"]), ("lab-list", ["lab", "list"]),
                ("triage", ["triage", MSG]), ("triage-json", ["triage", "--json", MSG]),
                ("doctor", ["doctor"]), ("doctor-json", ["doctor", "--json=-"]),
                ("run", ["run", "network"]), ("run-json", ["run", "network", "--json=-"]),
                ("doctor-refused", ["doctor", "--base-url=@REFUSED@"])]
    for slug, argv in commands:
        c.add(f"head1-{slug}", argv, "pipe", env=env, stdout="head1")
        c.add(f"devfull-{slug}", argv, "pipe", env=env, stdout="devfull", exits=(1, 2),
              devfull=True, watch=["/dev/full"])
    return c


BUILDERS = {"hosts": cls_hosts, "budgets": cls_budgets, "resolver": cls_resolver,
            "output": cls_output, "triage": cls_triage, "hostile": cls_hostile,
            "secrets": cls_secrets, "pipes": cls_pipes}


# -- running one case ----------------------------------------------------------------------------
@dataclass
class Labs:
    """The lab servers every case points at (started once)."""

    values: dict[str, str]
    parts: list[Any]

    @classmethod
    def start(cls) -> Labs:
        sys.path.insert(0, str(ROOT))
        from runbooks.lab import start

        parts = {name: start(name) for name in ("healthy", "healthy-tls", "refused", "blackhole")}
        h, r = parts["healthy"].base_url, parts["refused"].base_url
        hp = h.split("://", 1)[1].rstrip("/")
        values = {"@HEALTHY@": h, "@HP@": hp, "@HPORT@": hp.rsplit(":", 1)[1],
                  "@TLS@": parts["healthy-tls"].base_url,
                  "@TLSCA@": parts["healthy-tls"].env.get("NODE_EXTRA_CA_CERTS", ""),
                  "@REFUSED@": r, "@RPORT@": r.rstrip("/").rsplit(":", 1)[1],
                  "@BLACKHOLE@": parts["blackhole"].base_url, "@CANARY@": CANARY}
        return cls(values, list(parts.values()))

    def stop(self) -> None:
        for p in self.parts:
            with contextlib.suppress(Exception):
                p.stop()


_DROP = re.compile(r"^(ANTHROPIC_|CLAUDE|RUNBOOKS_|JUPYTER|IPYTHON|PYTHON|XDG_|VIRTUAL_ENV|"
                   r"NODE_|SSL_|REQUESTS_CA|CURL_CA|.*_CA_BUNDLE$|.*CERT.*$|.*_proxy$|.*_PROXY$|"
                   r"no_proxy$|NO_PROXY$|AWS_|PIP_|UV_|COLUMNS$|LINES$|TERM$|FORCE_COLOR|NO_COLOR)",
                   re.IGNORECASE)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _DROP.match(k)}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return env


def _fill(text: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        text = text.replace(k, v)
    return text


def _make(s: Setup, values: dict[str, str]) -> None:
    p = Path(_fill(s.path, values))
    p.parent.mkdir(parents=True, exist_ok=True)
    if s.kind == "file":
        p.write_bytes(_fill(s.data.decode("latin-1"), values).encode("latin-1")
                      if b"@" in s.data else s.data)
    elif s.kind == "dir":
        p.mkdir(exist_ok=True)
    elif s.kind == "fifo":
        os.mkfifo(p)
    elif s.kind == "sparse":
        with open(p, "wb") as fh:
            fh.truncate(s.size)
    elif s.kind == "symlink":
        os.symlink(_fill(s.target, values), p)


def _state(path: str) -> Any:
    """What a watched path is: its type, size, mtime and (small files) content hash."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", sorted(os.listdir(path)))
    if stat.S_ISREG(st.st_mode):
        digest = ""
        if st.st_size <= 4 * MIB:
            digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
        return ("file", st.st_size, st.st_mtime_ns, digest)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return ("dev", kind, st.st_rdev)
    return ("other", kind)


def snapshot(top: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, top)] = _state(p) if name not in dirnames else ("dir",)
    return out


def _needles(canary: str) -> list[bytes]:
    """The canary, every 10-character piece of it, and its base64 at each alignment."""
    raw = canary.encode()
    out = {raw[i:i + 10] for i in range(len(raw) - 9)}
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw)
        out.add(enc[4 if k else 0: 4 * ((k + len(raw)) // 3)])
    return sorted(out)


NEEDLES = _needles(CANARY)


def leaked(data: bytes) -> bool:
    return any(n in data for n in NEEDLES)


@dataclass
class Result:
    id: str
    cls: str
    kind: str
    argv: list[str]
    env: dict[str, str]
    stdin: str
    setup: list[str]
    exit: int | None
    elapsed_s: float
    bucket: str
    buckets: list[str]
    stdout_head: str
    stderr_head: str
    changed: list[str]
    note: str = ""
    #: the bucket of a second run of a failing case (``ok``: the failure is intermittent)
    recheck: str = ""


_devfull_lock = threading.Lock()


def _restore_dev_full() -> bool:
    """True if /dev/full was still the device (else it is made again)."""
    try:
        if stat.S_ISCHR(os.lstat("/dev/full").st_mode):
            return True
    except OSError:
        pass
    with contextlib.suppress(OSError):
        if os.path.isdir("/dev/full") and not os.path.islink("/dev/full"):
            shutil.rmtree("/dev/full")
        else:
            os.unlink("/dev/full")
    os.mknod("/dev/full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return False


def _kill_marked(marker: str) -> None:
    """Kill what a case left behind (a kernel in its own session): the processes whose
    environment carries this case's marker, and only those."""
    needle = f"RUNBOOKS_PROBE_CASE={marker}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue


def _read_head(proc: subprocess.Popen, timeout: float) -> bytes:
    """``| head -c 1``: read one byte of stdout, then close the pipe."""
    fd = proc.stdout.fileno()
    ready, _, _ = select.select([fd], [], [], timeout)
    data = os.read(fd, 1) if ready else b""
    proc.stdout.close()
    return data


def run_case(case: Case, python: str, labs: Labs, scratch: Path, timeout: float) -> Result:
    root = Path(tempfile.mkdtemp(prefix=f"{case.id[:40]}-", dir=scratch))
    cwd, home, files, tmp = (root / n for n in ("cwd", "home", "files", "tmp"))
    for d in (cwd, home, files, tmp):
        d.mkdir()
    values = {**labs.values, "@CWD@": str(cwd), "@HOME@": str(home), "@FILES@": str(files)}
    for s in case.setup:
        _make(s, values)
    argv = [_fill(a, values) for a in case.argv]
    env = base_env()
    env.update({k: _fill(v, values) for k, v in case.env.items()})
    env.update(HOME=str(home), TMPDIR=str(tmp), RUNBOOKS_PROBE_CASE=root.name)
    watched = {w: _state(_fill(w, values)) for w in case.watch}
    before = {"cwd": snapshot(cwd), "home": snapshot(home)}

    lock = _devfull_lock if case.devfull else contextlib.nullcontext()
    with lock:
        stdin: Any = subprocess.DEVNULL
        feed: bytes | None = None
        if isinstance(case.stdin, str):
            stdin = open(case.stdin, "rb")  # noqa: SIM115 - closed below
        elif case.stdin is not None:
            stdin, feed = subprocess.PIPE, case.stdin
        stdout: Any = subprocess.PIPE
        if case.stdout == "devfull":
            stdout = open("/dev/full", "wb")  # noqa: SIM115 - closed below
        hang, out, err, code = False, b"", b"", None
        t0 = time.perf_counter()
        proc = subprocess.Popen([python, "-m", "runbooks", *argv], cwd=cwd, env=env,
                                stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            if case.stdout == "head1":
                errbuf: list[bytes] = []
                reader = threading.Thread(target=lambda: errbuf.append(proc.stderr.read()))
                reader.start()
                out = _read_head(proc, timeout)
                proc.wait(max(0.1, timeout - (time.perf_counter() - t0)))
                reader.join(5)
                err = b"".join(errbuf)
            else:
                out, err = proc.communicate(feed, timeout=timeout)
                out = out or b""
            code = proc.returncode
        except subprocess.TimeoutExpired:
            hang = True
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                more_out, more_err = proc.communicate(timeout=10)
                out, err = out + (more_out or b""), err + (more_err or b"")
        elapsed = time.perf_counter() - t0
        for fh in (stdin, stdout):
            if hasattr(fh, "close"):
                fh.close()
        _kill_marked(root.name)
        watched_after = {w: _state(_fill(w, values)) for w in case.watch}
        if case.devfull:
            watched_after["/dev/full"] = watched.get("/dev/full") if _restore_dev_full() \
                else "replaced"

    after = {"cwd": snapshot(cwd), "home": snapshot(home)}
    changed = sorted(f"{where}/{p}" for where in ("cwd", "home")
                     for p in set(before[where]) | set(after[where])
                     if before[where].get(p) != after[where].get(p))
    changed += [f"watched {w} changed" for w in case.watch if watched[w] != watched_after.get(w)]
    written: list[bytes] = []
    if case.canary or case.kind == "hostile":
        for rel in changed:
            where, _, p = rel.partition("/")
            full = root / where / p
            if full.is_file() and not full.is_symlink() and full.stat().st_size <= 64 * MIB:
                written.append(full.read_bytes())
    buckets = judge(case, hang, code, out, err, elapsed, changed, written)
    with contextlib.suppress(OSError):
        shutil.rmtree(root)
    stdin_desc = (case.stdin if isinstance(case.stdin, str) else
                  "" if case.stdin is None else f"{len(case.stdin)} bytes")
    return Result(case.id, case.cls, case.kind, [_short(a) for a in case.argv],
                  {k: _short(v) for k, v in case.env.items()}, stdin_desc,
                  [f"{s.kind} {s.path}" + (f" -> {s.target}" if s.target else "")
                   for s in case.setup],
                  code, round(elapsed, 3), buckets[0], buckets,
                  out[:400].decode("utf-8", "replace"), err[-600:].decode("utf-8", "replace"),
                  changed[:12], case.note)


def _short(text: str, keep: int = 300) -> str:
    return text if len(text) <= keep else f"{text[:keep]}…({len(text)} chars)"


def reported(token: str, stdout: str, written: list[bytes]) -> bool:
    """The file is named in a finding: on a ``[✗]``/``[!]`` line of the text report, or in a
    check of a JSON report (stdout, or a file the run wrote) whose status is not a pass."""
    if any(token in ln for ln in stdout.splitlines() if ln.lstrip().startswith(("[✗]", "[!]"))):
        return True
    for blob in [stdout.encode(), *written]:
        try:
            report = json.loads(blob)
        except ValueError:
            continue
        checks = report.get("checks", []) if isinstance(report, dict) else []
        if any(isinstance(c, dict) and c.get("status") in ("fail", "warn", "error")
               and token in json.dumps(c, ensure_ascii=False) for c in checks):
            return True
    return False


def judge(case: Case, hang: bool, code: int | None, out: bytes, err: bytes, elapsed: float,
          changed: list[str], written: list[bytes]) -> list[str]:
    """Every bucket the case falls in, most serious first (``["ok"]`` if none)."""
    b: list[str] = []
    text_out, text_err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if hang:
        b.append("hang")
    if TRACEBACK in text_err or TRACEBACK in text_out:
        b.append("traceback")
    if case.canary and leaked(b"\n".join([out, err, *written])):
        b.append("leak")
    if not hang:
        if code not in case.exits:
            b.append("wrong-exit")
        if (case.kind == "hostile" and code in case.exits and code != 2 and case.token
                and not reported(case.token, text_out, written)):
            b.append("unreported")
        lines = [ln for ln in text_err.splitlines() if ln.strip()]
        if code == 2:
            if len(lines) != 1 or not lines[0].startswith(USAGE_PREFIX):
                b.append("multi-line")
        elif len(lines) > 1:
            b.append("multi-line")
        watched = [c for c in changed if c.startswith("watched")]
        # every exit 2 is held to the usage-error shape, but for outputs that can only fail
        # once written (/dev/full): there one line is enough
        strict = case.kind == "usage" or (code == 2 and case.kind not in ("fail", "pipe"))
        if strict:
            if changed:
                b.append("wrote-files")
        elif watched or (case.argv[:1] == ["doctor"] and
                         [c for c in changed if not _expected_write(case, c)]):
            b.append("wrote-files")
        if elapsed > (USAGE_SLOW_S if strict else case.slow_s):
            b.append("slow")
    order = {name: i for i, name in enumerate(BUCKETS)}
    return sorted(set(b), key=order.__getitem__) or ["ok"]


def _expected_write(case: Case, changed: str) -> bool:
    """doctor --json NAME writes cwd/NAME and nothing else."""
    for a in case.argv:
        if a.startswith("--json=") and a != "--json=-" and changed == "cwd/" + a[7:]:
            return True
    return False


# -- concurrency ---------------------------------------------------------------------------------
def run_concurrency(python: str, labs: Labs, scratch: Path, timeout: float, rounds: int = 6
                    ) -> list[Result]:
    """Two ``run network --output-dir SAME`` at once, one against the healthy lab, one
    against a refusing port. A round fails if a run printed the other's verdict, if both
    reports are one file, or if a run's report names the other's target."""
    results = []
    for n in range(1, rounds + 1):
        root = Path(tempfile.mkdtemp(prefix=f"concurrency-{n}-", dir=scratch))
        shared = root / "out"
        procs = {}
        t0 = time.perf_counter()
        for side, url in (("healthy", labs.values["@HEALTHY@"]),
                          ("refused", labs.values["@REFUSED@"])):
            cwd, home = root / f"cwd-{side}", root / f"home-{side}"
            cwd.mkdir()
            home.mkdir()
            env = base_env()
            env.update(HOME=str(home), ANTHROPIC_BASE_URL=url, RUNBOOKS_PROBE_CASE=root.name)
            procs[side] = subprocess.Popen(
                [python, "-m", "runbooks", "run", "network", f"--output-dir={shared}"],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        outs, hang, codes = {}, False, {}
        for side, proc in procs.items():
            try:
                o, e = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                hang = True
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                o, e = proc.communicate()
            outs[side] = (o.decode("utf-8", "replace"), e.decode("utf-8", "replace"))
            codes[side] = proc.returncode
        elapsed = time.perf_counter() - t0
        _kill_marked(root.name)
        problems, reports = [], {}
        for side, (o, _e) in outs.items():
            m = re.search(r"verdict (\S+?);", o)
            verdict = m.group(1) if m else None
            if (side == "healthy") != (verdict == "pass"):
                problems.append(f"{side} printed verdict {verdict}")
            m = re.search(r"^report:\s+(.+)$", o, re.MULTILINE)
            if m:
                path = Path(m.group(1).strip())
                path = path if path.is_absolute() else root / f"cwd-{side}" / path
                reports[side] = path
                with contextlib.suppress(OSError, ValueError):
                    target = json.loads(path.read_text()).get("target", {})
                    other = labs.values["@REFUSED@" if side == "healthy" else "@HEALTHY@"]
                    if other.rstrip("/") in json.dumps(target):
                        problems.append(f"{side}'s report names the other target")
        if len(reports) == 2 and reports["healthy"].resolve() == reports["refused"].resolve():
            problems.append("both reports are one file")
        buckets = []
        if hang:
            buckets.append("hang")
        if any(TRACEBACK in o + e for o, e in outs.values()):
            buckets.append("traceback")
        if problems:
            buckets.append("collision")
        buckets = buckets or ["ok"]
        shutil.rmtree(root, ignore_errors=True)
        results.append(Result(
            f"concurrency-{n:03d}", "concurrency", "concurrency",
            ["run", "network", "--output-dir=SHARED"], {"ANTHROPIC_BASE_URL":
                                                        "@HEALTHY@ | @REFUSED@"},
            "", [], codes.get("healthy"), round(elapsed, 3), buckets[0], buckets,
            outs["healthy"][0][:300] + "\n---\n" + outs["refused"][0][:300],
            (outs["healthy"][1] + outs["refused"][1])[-600:], [], "; ".join(problems)))
    return results


# -- the whole probe -----------------------------------------------------------------------------
def _pick_classes(spec: str) -> list[str]:
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name = CLASSES[int(part) - 1] if part.isdigit() and 0 < int(part) <= 9 else part
        if name not in CLASSES:
            raise SystemExit(f"probe: unknown class {part!r}; one of {', '.join(CLASSES)}")
        out.append(name)
    return out


def build_cases(classes: list[str], isolated: bool) -> list[Case]:
    cases = [case for cls in classes if cls in BUILDERS for case in BUILDERS[cls]()]
    if not isolated:  # never let a case replace the machine's own /dev/full
        cases = [c for c in cases if not (c.devfull and c.kind != "pipe")]
    return cases


def _git(checkout: Path, *args: str) -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    return ""


def probe(args: argparse.Namespace, isolated: bool) -> int:
    checkout = Path(args.checkout).resolve()
    python = str(checkout / ".venv" / "bin" / "python")
    if not os.access(python, os.X_OK):
        raise SystemExit(f"probe: {python} missing: run `make .venv/.installed` in {checkout}")
    classes = _pick_classes(args.classes)
    cases = build_cases(classes, isolated)
    if args.only:
        cases = [c for c in cases if re.search(args.only, c.id)]
    if args.list:
        for c in cases:
            print(c.id, c.kind, shlex.join(c.argv))
        return 0
    labs = Labs.start()
    scratch = Path(tempfile.mkdtemp(prefix="runbooks-probe-"))
    results: list[Result] = []
    t0 = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_case, c, python, labs, scratch, args.timeout)
                       for c in cases]
            for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                r = fut.result()
                results.append(r)
                if r.bucket != "ok" and args.verbose:
                    print(f"  {r.id}: {r.bucket} (exit {r.exit}, {r.elapsed_s:.1f} s)",
                          file=sys.stderr)
                if i % 50 == 0 or i == len(futures):
                    print(f"probe: {i}/{len(futures)} cases, {time.perf_counter() - t0:.0f} s",
                          file=sys.stderr)
            # a failure is run once more: one that passes then is marked intermittent (it
            # still counts, in the bucket of its first run)
            failed = {r.id: r for r in results if r.bucket != "ok"}
            if failed and not args.no_recheck:
                again = [pool.submit(run_case, c, python, labs, scratch, args.timeout)
                         for c in cases if c.id in failed]
                for fut in concurrent.futures.as_completed(again):
                    r2 = fut.result()
                    failed[r2.id].recheck = r2.bucket
                print(f"probe: {len(again)} failures run again, "
                      f"{sum(r.recheck == 'ok' for r in failed.values())} passed the second time",
                      file=sys.stderr)
        if "concurrency" in classes and (not args.only or re.search(args.only, "concurrency")):
            results += run_concurrency(python, labs, scratch, args.timeout * 2)
    finally:
        labs.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.perf_counter() - t0
    results.sort(key=lambda r: (CLASSES.index(r.cls), r.id))
    summary: dict[str, dict[str, int]] = {}
    for r in results:
        row = summary.setdefault(r.cls, {b: 0 for b in BUCKETS})
        row[r.bucket] += 1
    meta = {"checkout": str(checkout), "commit": _git(checkout, "rev-parse", "HEAD"),
            "subject": _git(checkout, "log", "-1", "--format=%s"),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "cases": len(results), "wall_s": round(wall, 1), "jobs": args.jobs,
            "timeout_s": args.timeout, "isolated": isolated, "classes": classes,
            "canary": CANARY, "python": sys.version.split()[0]}
    Path(args.out).write_text(json.dumps({"meta": meta, "summary": summary,
                                          "cases": [asdict(r) for r in results]},
                                         indent=1) + "\n")
    print(f"probe: {len(results)} cases in {wall:.0f} s → {args.out}", file=sys.stderr)
    for cls, row in summary.items():
        print(f"  {cls:<12} " + " ".join(f"{k}={v}" for k, v in row.items() if v),
              file=sys.stderr)
    return 0


# -- Markdown ------------------------------------------------------------------------------------
def shown_command(r: dict[str, Any]) -> str:
    """A case as a shell line, placeholders kept (``@HEALTHY@`` is the healthy lab's URL)."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in r["env"].items())
    stdin = f" < {r['stdin']}" if r["stdin"].startswith("/") else \
        (f"  # stdin: {r['stdin']}" if r["stdin"] else "")
    named = " ".join([*r["argv"], *r["env"].values()])
    used = [s for s in r["setup"]  # only the files this command names, and what they hold
            if Path(s.split(" ")[1]).name in named or s.split(" ")[1].startswith("@HOME@")]
    setup = f"  # setup: {'; '.join(used)}" if used else ""
    line = f"{env} runbooks {shlex.join(r['argv'])}".strip() + stdin + setup
    return line.replace("\n", "\\n")


def _flaky(data: dict[str, Any]) -> str:
    bad = [r for r in data["cases"] if r["bucket"] != "ok"]
    return f"{sum(r.get('recheck') == 'ok' for r in bad)} of {len(bad)}"


def compare(before_path: str, after_path: str) -> str:
    data = [json.loads(Path(p).read_text()) for p in (before_path, after_path)]
    (bm, bs), (am, as_) = ((d["meta"], d["summary"]) for d in data)
    used = [b for b in BUCKETS if any(s.get(c, {}).get(b) for s in (bs, as_) for c in CLASSES)]
    lines = [
        "# Adversarial probe of the command line: before / after",
        "",
        (f"Generated by `bench/probe.py` on {am['date'][:10]}. Each cell is **before → after**"
        " (number of cases in that bucket); a case lands in the first bucket that applies "
        "(order and rules: the docstring of `bench/probe.py`)."),
        "",
        "| | before | after |",
        "| --- | --- | --- |",
        (f"| commit | `{bm['commit'][:10]}` {bm['subject'][:60]} | `{am['commit'][:10]}` "
        f"{am['subject'][:60]} |"),
        f"| date (UTC) | {bm['date']} | {am['date']} |",
        f"| cases | {bm['cases']} | {am['cases']} |",
        f"| wall time | {bm['wall_s']:.0f} s | {am['wall_s']:.0f} s |",
        (f"| parallel cases / time limit | {bm['jobs']} / {bm['timeout_s']:.0f} s | "
        f"{am['jobs']} / {am['timeout_s']:.0f} s |"),
        f"| isolated (own network + /dev) | {bm['isolated']} | {am['isolated']} |",
        (f"| failures ok when run again (intermittent) | {_flaky(data[0])} | "
        f"{_flaky(data[1])} |"),
        "",
        "| class | cases | " + " | ".join(used) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in used) + " |",
    ]
    totals = {b: [0, 0] for b in used}
    ncases = [0, 0]
    for cls in CLASSES:
        rows = [bs.get(cls, {}), as_.get(cls, {})]
        if not any(rows):
            continue
        n = [sum(r.values()) for r in rows]
        ncases = [ncases[0] + n[0], ncases[1] + n[1]]
        cells = []
        for b in used:
            v = [rows[0].get(b, 0), rows[1].get(b, 0)]
            totals[b] = [totals[b][0] + v[0], totals[b][1] + v[1]]
            cells.append("·" if v == [0, 0] else f"{v[0]} → {v[1]}")
        lines.append(f"| {cls} | {n[1]} | " + " | ".join(cells) + " |")
    lines.append(f"| **all** | **{ncases[1]}** | " + " | ".join(
        f"**{t[0]} → {t[1]}**" for t in totals.values()) + " |")
    after_cases = data[1]["cases"]
    bad = [r for r in after_cases if r["bucket"] != "ok"]
    lines += ["", f"## What still fails after ({len(bad)} of {len(after_cases)})", ""]
    if not bad:
        lines.append("Nothing.")
    for r in bad:
        err = " ".join(r["stderr_head"].split())[-160:]
        lines.append(f"- `{r['id']}` **{', '.join(r['buckets'])}** (exit {r['exit']}, "
                     f"{r['elapsed_s']:.1f} s): `{shown_command(r)[:300]}`"
                     + (f" — stderr: `{err}`" if err else "")
                     + (f" — {r['note']}" if r["note"] else "")
                     + (" — *intermittent: ok when run again*" if r.get("recheck") == "ok"
                        else ""))
    lines += ["", ("Placeholders: `@HEALTHY@` the healthy lab's URL (`@HP@` its host:port), "
              "`@TLS@`/`@TLSCA@` the HTTPS lab and its CA, `@REFUSED@` a refusing port, "
              "`@BLACKHOLE@` a SYN black hole, `@CWD@`/`@HOME@`/`@FILES@` the case's own "
              "folders, `@CANARY@` the secret looked for. Reproduce one case with "
              "`.venv/bin/python bench/probe.py --checkout . --only CASE-ID -v`."), ""]
    return "\n".join(lines)


# -- isolation -----------------------------------------------------------------------------------
def _sandbox() -> None:
    """Inside ``unshare -n -m``: loopback up, a private /dev with the usual devices."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "probe-dev", "/dev"], check=True)
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        os.mknod(f"/dev/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "probe-shm", "/dev/shm"],
                   check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkout", default=str(ROOT), help="the checkout whose CLI is probed "
                   "(its .venv/bin/python runs it); default: this one")
    p.add_argument("--out", default="probe-results.json", help="the JSON results file")
    p.add_argument("--classes", default=",".join(CLASSES),
                   help="comma-separated classes (names or 1-9); default: all")
    p.add_argument("--only", help="only the cases whose id matches this regular expression")
    p.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a case is a hang")
    p.add_argument("--list", action="store_true", help="list the cases and stop")
    p.add_argument("--no-recheck", action="store_true",
                   help="do not run failing cases a second time")
    p.add_argument("-v", "--verbose", action="store_true", help="print each failing case")
    p.add_argument("--no-isolation", action="store_true",
                   help="run on the machine's own network and /dev (skips the /dev/full "
                        "output cases)")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                   help="print the Markdown before/after table of two result files, and stop")
    p.add_argument("--in-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        return 0
    if args.list:
        return probe(args, isolated=not args.no_isolation)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    if args.in_sandbox:
        _sandbox()
        return probe(args, isolated=True)
    if args.no_isolation:
        return probe(args, isolated=False)
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise SystemExit("probe: isolation needs root and unshare(1); or pass --no-isolation")
    here = [sys.executable, str(Path(__file__).resolve())]
    rest = sys.argv[1:] if argv is None else argv
    return subprocess.call(["unshare", "--net", "--mount", "--", *here, *rest, "--in-sandbox"])


if __name__ == "__main__":
    sys.exit(main())
