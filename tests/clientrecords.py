"""Real Claude Code records, made on demand: the pinned client run against lab faults with a
temporary HOME, so it writes real transcripts and debug logs for the tests to read.

Also :class:`ToolAPI`, a fake API that asks the client to run its ``Read`` tool once, then
answers in text: a headless session against it holds a real ``tool_use`` input and a real
``tool_result`` (the file's content), which is where a privacy canary belongs. A session
against a failing API never gets as far as a tool.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from runbooks.lab.api import _sse
from runbooks.lab.scenarios import CLIENT_TIMEOUT_MS, LAB_API_KEY

ROOT = Path(__file__).resolve().parent.parent
#: What the client must not inherit from this machine (it exports CA and proxy settings).
_DROP_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "SSL_CERT_", "NODE_")
_DROP = {"API_TIMEOUT_MS", "DEBUG", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_COLOR"}


def claude_path() -> Path | None:
    """The pinned client (``make client``), or RUNBOOKS_CLAUDE."""
    path = Path(ROOT / (os.environ.get("RUNBOOKS_CLAUDE") or
                        ".venv/claude-code/node_modules/.bin/claude"))
    return path if path.exists() else None


def client_env(home: Path, lab_env: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without anything that would reach past the lab, plus the
    lab's client settings and a HOME of the test's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROP_PREFIXES) and k not in _DROP
           and not k.lower().endswith("_proxy")}
    env.update(lab_env)
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run_claude(args: list[str], env: dict[str, str], cwd: Path,
               timeout: float = 90) -> subprocess.CompletedProcess:
    claude = claude_path()
    assert claude is not None, "the real client is not installed: run `make client`"
    return subprocess.run([str(claude), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def tool_client_env(api: ToolAPI) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": LAB_API_KEY,
            "API_TIMEOUT_MS": str(CLIENT_TIMEOUT_MS),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_MAX_RETRIES": "1"}


def transcripts(config_dir: Path) -> list[Path]:
    return sorted((config_dir / "projects").glob("*/*.jsonl"))


# -- a fake API that makes the client use a tool -------------------------------------------------
_ids = itertools.count(1)
TOOL_REPLY = "I have read the file."


class _ToolHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ToolServer

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(min(n, 10 * 1024 * 1024)) or b"{}")
        except ValueError:
            body = {}
        self.server.bodies.append(body)
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content")
        answered = isinstance(content, list) and any(
            isinstance(c, dict) and c.get("type") == "tool_result" for c in content)
        model = str(body.get("model") or "claude-lab")
        start = _sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_lab_tool_{next(_ids):06d}", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}})
        if answered or not self.server.read_path:
            block = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": TOOL_REPLY}
            stop = "end_turn"
        else:
            block = {"type": "tool_use", "id": f"toolu_lab_{next(_ids):06d}", "name": "Read",
                     "input": {}}
            delta = {"type": "input_json_delta",
                     "partial_json": json.dumps({"file_path": self.server.read_path})}
            stop = "tool_use"
        events = [start,
                  _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": block}),
                  _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": delta}),
                  _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
                  _sse("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"output_tokens": 5}}),
                  _sse("message_stop", {"type": "message_stop"})]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("request-id", f"req_lab_tool_{next(_ids):06d}")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(b"".join(events))
        self.wfile.flush()
        self.close_connection = True


class _ToolServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, read_path: str) -> None:
        self.read_path = read_path
        self.bodies: list[dict] = []
        super().__init__(("127.0.0.1", 0), _ToolHandler)

    def server_bind(self) -> None:  # no reverse lookup of the address (loopback only)
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]


class ToolAPI:
    """On loopback: the first request of a turn gets a ``Read`` of ``read_path`` back, the
    request carrying its result gets a line of text. Request bodies are kept in memory
    (:attr:`bodies`) to check what the client sent."""

    def __init__(self, read_path: str | os.PathLike = "") -> None:
        self.server = _ToolServer(os.fspath(read_path))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def bodies(self) -> list[dict]:
        return self.server.bodies

    def prompts(self) -> list[list[str]]:
        """The user text of each request's messages (what the conversation carried)."""
        out = []
        for body in self.bodies:
            texts = []
            for m in body.get("messages", []):
                if m.get("role") != "user":
                    continue
                content = m.get("content")
                items = content if isinstance(content, list) else [{"type": "text",
                                                                    "text": content}]
                texts += [c.get("text", "") for c in items
                          if isinstance(c, dict) and c.get("type") == "text"
                          and not str(c.get("text", "")).startswith("<system-reminder>")]
            out.append(texts)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Record:
    """One run of the real client and where it left its records."""

    name: str
    home: Path
    project: Path
    config_dir: Path  # $CLAUDE_CONFIG_DIR, or HOME/.claude
    proc: subprocess.CompletedProcess
    env: dict[str, str]

    @property
    def transcripts(self) -> list[Path]:
        return transcripts(self.config_dir)

    @property
    def session_id(self) -> str:
        found = {p.stem for p in self.transcripts}
        assert len(found) == 1, found
        return found.pop()
