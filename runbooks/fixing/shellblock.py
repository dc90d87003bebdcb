"""A marked block in a shell start-up file, for settings that must live in the shell.

Claude Code reads its settings files' ``env`` blocks (that is where fixes go by default), but
an older client, or a tool started beside it, may read a variable only from the environment
(facts §2: ``NODE_EXTRA_CA_CERTS`` from settings needs a recent client). With ``--shell``, a
fix also writes the variables it set into one block of the shell's start-up file::

    # >>> claude-code-runbooks >>>
    # Written by `runbooks fix --shell`; `runbooks undo` takes it out again.
    export NODE_EXTRA_CA_CERTS='/home/me/.claude/ca/zscaler-root-ca-1a2b3c4d.pem'
    # <<< claude-code-runbooks <<<

The block is replaced in place when it is there (everything else in the file stays as it
was, its line endings too: a CRLF file gets a CRLF block), appended otherwise. Secrets never
go there: a variable that holds one (a key, a proxy URL with a password) is refused.
PowerShell's ``$PROFILE`` is shown on the site, not written.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .jsonedit import line_ending

__all__ = ["ALLOWED", "BEGIN", "COMMENT", "END", "SHELLS", "block_for", "block_vars",
           "holds_secret", "rc_file", "with_block"]

BEGIN = "# >>> claude-code-runbooks >>>"
END = "# <<< claude-code-runbooks <<<"
COMMENT = "# Written by `runbooks fix --shell`; `runbooks undo` takes it out again."
SHELLS = ("bash", "zsh", "fish")
#: Variables a fix may put in a shell file: none of them holds a secret by itself.
ALLOWED = ("NODE_EXTRA_CA_CERTS", "API_TIMEOUT_MS", "HTTPS_PROXY", "https_proxy", "NO_PROXY",
           "no_proxy", "CLAUDE_STREAM_IDLE_TIMEOUT_MS")
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"(?:\r?\n)?", re.DOTALL)


def rc_file(shell: str, home: Path, system: str = "") -> Path:
    """The start-up file an interactive ``shell`` reads (macOS terminals start bash as a
    login shell: ~/.bash_profile there)."""
    if shell == "bash":
        return home / (".bash_profile" if system == "Darwin" else ".bashrc")
    if shell == "zsh":
        return home / ".zshrc"
    if shell == "fish":
        return home / ".config" / "fish" / "config.fish"
    raise ValueError(f"unknown shell {shell!r}; one of: {', '.join(SHELLS)}")


def holds_secret(value: str) -> bool:
    """A value that can carry a credential (a URL with a user or password)."""
    return "@" in value


def block_vars(text: str | None) -> dict[str, str]:
    """The variables the block in ``text`` exports (empty: no block)."""
    m = _BLOCK.search(text or "")
    out: dict[str, str] = {}
    for line in (m.group(0).splitlines() if m else []):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words[:2] == ["set", "-gx"] and len(words) == 4:
            out[words[2]] = words[3]
        elif len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            out[name] = value
    return out


def block_for(shell: str, env: dict[str, str]) -> str:
    """The marked block that exports ``env`` in ``shell``'s syntax."""
    lines = [BEGIN, COMMENT]
    for name, value in env.items():
        if name not in ALLOWED or holds_secret(value):
            raise ValueError(f"{name} does not go into a shell file (it can hold a secret)")
        quoted = shlex.quote(value)
        lines.append(f"set -gx {name} {quoted}" if shell == "fish" else f"export {name}={quoted}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def with_block(text: str | None, shell: str, env: dict[str, str]) -> str:
    """``text`` (a start-up file, or None for none yet) with the block exporting ``env``
    (merged into what the old block exported) in place of the old one, or appended after a
    blank line, in the file's own line endings. Everything outside the block stays as it
    was."""
    text = text or ""
    nl = line_ending(text)
    merged = {**block_vars(text), **env}
    block = block_for(shell, merged).replace("\n", nl)
    if _BLOCK.search(text):
        return _BLOCK.sub(lambda _m: block, text, count=1)
    sep = "" if not text else (nl if text.endswith("\n") else nl + nl)
    return text + sep + block
