"""The local replay/record server that answers the SDKs in replay and record mode.

``lessonlib.setup()`` starts one :class:`ReplayServer` per kernel on 127.0.0.1 and points the SDKs at
it with ``OPENAI_BASE_URL=http://127.0.0.1:PORT/openai/v1`` and
``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT/anthropic``. Notebook code stays plain ``OpenAI()`` /
``Anthropic()``.

- replay: each request is matched (method, path, JSON body) against the notebook's cassette and
  answered from it, streams one SSE event at a time at the recorded pace.
- record: each request is forwarded to the real provider (or any compatible upstream), streamed
  back as it arrives, and written, scrubbed, to the cassette.

Why a real server and not an HTTP-mocking library: real sockets give real streams, real timeouts
and the SDKs' own retry logic, and you can ``curl`` it. Taught in: 01_setup.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .cassette import (
    Cassette,
    Interaction,
    canonical_body,
    describe_difference,
    match_path,
    response_headers,
)

__all__ = ["ReplayServer", "DEFAULT_UPSTREAMS", "DEFAULT_EVENT_GAP"]

DEFAULT_UPSTREAMS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
DEFAULT_EVENT_GAP = 0.015  # seconds between SSE events when a recording kept no timing
_EVENT_SPLIT = re.compile(r"\r?\n\r?\n")
_HOP_BY_HOP = {"host", "content-length", "connection", "accept-encoding", "keep-alive", "transfer-encoding"}
# Response headers of the upstream's own connection (RFC 9110 7.6.1), never passed on to the SDK (issue 13:
# llama-server's Keep-Alive); content-length and content-encoding because the body is re-framed here.
_UPSTREAM_ONLY = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
                  "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"}


def sse_events(body: str) -> list[str]:
    """Split a text/event-stream body into its events (without the blank line that ends each)."""
    return [e for e in _EVENT_SPLIT.split(body) if e.strip()]


def _in_kernel() -> bool:
    """Whether this is a Jupyter kernel (a notebook), not a script or a unit test."""
    app = sys.modules.get("ipykernel.kernelapp")
    return bool(app is not None and app.IPKernelApp.initialized())


class ReplayServer:
    """One loopback HTTP server answering both providers from one cassette (or recording one)."""

    def __init__(
        self,
        cassette_path: str | os.PathLike[str],
        *,
        mode: str = "replay",
        speed: float = 1.0,
        upstreams: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        capture_path: str | os.PathLike[str] | None = None,
        budget: Any = None,
        provenance: dict[str, Any] | None = None,
        usage_report: str | os.PathLike[str] | None = None,
    ) -> None:
        if mode not in ("replay", "record", "live"):
            raise ValueError(f"ReplayServer mode must be 'replay', 'record' or 'live', not {mode!r}")
        self.mode = mode
        self.cassette_path = Path(cassette_path)
        self.upstreams = {**DEFAULT_UPSTREAMS, **(upstreams or {})}
        self.secrets = tuple(s for s in secrets if s)
        self.capture_path = Path(capture_path) if capture_path else None
        self.usage_report = Path(usage_report) if usage_report else None  # test suite: which recordings played
        self.budget = budget  # live/record: a lessonlib.budget.Budget that meters and caps spending
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0  # requests still being answered (finish() waits for them)
        self._served: dict[tuple[str, str, str], int] = defaultdict(int)
        self.used: set[int] = set()
        self.misses: list[str] = []
        self.key_problems: dict[str, str] = {}  # live/record: provider -> why its key cannot be used (issue 13)
        if mode == "replay" or (mode == "record" and self.cassette_path.exists()):
            self.cassette = Cassette.load(self.cassette_path)
        else:
            self.cassette = Cassette(path=self.cassette_path)
        self.scale = max(speed, 1.0) if self.cassette.pacing_required else max(speed, 0.0)
        self._groups: dict[tuple[str, str, str], list[Interaction]] = defaultdict(list)
        for item in self.cassette.interactions:
            if mode == "replay" or item.response.get("fault"):
                self._groups[item.key].append(item)
        if mode == "record":
            self.recording = Cassette(
                path=self.cassette_path,
                provenance=provenance or {"kind": "recorded"},
                pacing_required=self.cassette.pacing_required,
            )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle ------------------------------------------------------------------------

    def start(self) -> "ReplayServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="lessonlib-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/openai/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.url}/anthropic"

    def unused(self) -> list[int]:
        """Indexes of cassette interactions that no request has played yet (replay mode)."""
        return [i.index for i in self.cassette.interactions if i.index not in self.used]

    # ---- record mode: where the recording goes ---------------------------------------------

    @property
    def partial_path(self) -> Path:
        return self.cassette_path.with_name(self.cassette_path.stem + ".recording.yaml")

    def finish(self) -> Path | None:
        """End a recording: move the finished recording over the cassette (atomically)."""
        if self.mode != "record":
            return None
        with self._idle:  # let a response that is still being written reach the recording
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=30)
        if not self.recording.interactions:
            return None
        self.recording.save(self.partial_path)
        os.replace(self.partial_path, self.cassette_path)
        return self.cassette_path

    # ---- matching ----------------------------------------------------------------------------

    def route(self, path: str) -> tuple[str, str] | None:
        """Split /openai/v1/chat/completions into ('openai', '/v1/chat/completions')."""
        for provider in ("openai", "anthropic"):
            prefix = f"/{provider}"
            if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                rest = path[len(prefix) :] or "/"
                if provider == "openai":
                    rest = rest if rest.startswith("/v1") else "/v1" + rest
                return provider, rest
        return None

    def lookup(self, method: str, path: str, body: bytes) -> Interaction | None:
        key = (method, match_path(path), json.dumps(canonical_body(body), sort_keys=True))
        with self._lock:
            group = self._groups.get(key)
            if not group:
                return None
            n = self._served[key]
            if self.mode != "replay" and n >= len(group):
                return None  # authored faults used up: the rest goes to the provider
            self._served[key] = n + 1
            item = group[min(n, len(group) - 1)]
            self.used.add(item.index)
            return item

    def miss_message(self, method: str, path: str, body: bytes) -> str:
        sent = canonical_body(body)
        name = self.cassette_path.name
        path = match_path(path)
        same_route = [i for i in self.cassette.interactions if i.method == method and i.path == path]
        lines = [f"Replay miss: cassettes/{name} has no recording of {method} {path} with this body."]
        if same_route:
            scored = [(describe_difference(i.body, sent), i) for i in same_route]
            (count, text), closest = min(scored, key=lambda pair: pair[0][0])
            lines.append(f"The closest recording is interaction #{closest.index}; it differs in {count} place(s):")
            lines.append(text)
        elif self.cassette.interactions:
            routes = sorted({f"{i.method} {i.path}" for i in self.cassette.interactions})
            lines.append("Nothing in it was recorded for that endpoint; it holds: " + ", ".join(routes) + ".")
        else:
            lines.append("The cassette holds no interactions at all.")
        lines.append(
            "What to do: undo your change to the cell (or `git checkout` the notebook) to replay the lesson "
            "as recorded; or, to send new requests, put your API keys in .env and set LESSON_MODE=live "
            "(or LESSON_MODE=record to re-record this notebook's cassette), then restart the kernel."
        )
        return "\n".join(lines)

    def localize(self, data: bytes, content_type: str) -> bytes:
        """Point a response's ``results_url`` (Anthropic Message Batches) at this server.

        The SDK fetches batch results from the absolute URL the API returns; left as is, that request
        would bypass replay (and recording). Only that field is rewritten, never model text.
        """
        if "json" not in content_type or b'"results_url"' not in data:
            return data
        try:
            body = json.loads(data)
        except ValueError:
            return data
        url = body.get("results_url") if isinstance(body, dict) else None
        if not isinstance(url, str):
            return data
        for provider, local in (("anthropic", self.anthropic_base_url), ("openai", self.openai_base_url)):
            for upstream in {DEFAULT_UPSTREAMS[provider], self.upstreams[provider]}:
                upstream, base = upstream.rstrip("/"), local
                if provider == "openai" and upstream.endswith("/v1"):  # keep the /v1 of the path
                    upstream, base = upstream[: -len("/v1")], local[: -len("/v1")]
                if url.startswith(upstream + "/"):
                    body["results_url"] = base + url[len(upstream):]
                    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data

    def write_usage_report(self) -> None:
        """Write which interactions were played (the test suite checks every recording is used)."""
        if self.usage_report is None:
            return
        with self._lock:  # one writer at a time: concurrent requests share the temporary file
            report = {"cassette": self.cassette_path.name, "count": len(self.cassette.interactions),
                      "used": sorted(self.used), "misses": list(self.misses),
                      "socket_guard": bool(getattr(socket.socket.connect, "_lesson_guard", False)),
                      "kernel": _in_kernel()}
            self.usage_report.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.usage_report.with_suffix(".tmp")
            tmp.write_text(json.dumps(report), encoding="utf-8")
            os.replace(tmp, self.usage_report)

    def capture(self, method: str, path: str, body: bytes) -> None:
        if self.capture_path is None:
            return
        entry = {"method": method, "path": path, "body": canonical_body(body)}
        with self._lock, self.capture_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog of 5 drops SYNs when an async lesson opens 10+ connections
    # at once; a dropped SYN waits for TCP's 1 s retransmit (bench P4: 1.28x -> 1.09x of the ideal).
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that hung up early (a timeout lesson, an abandoned stream) is not an error
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ReplayServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it every small response waits ~40 ms for the ACK

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep notebook outputs clean

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # ---- plumbing ---------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_simple(self, status: int, text: str, provider: str | None = None) -> None:
        # openai 3.5x puts only a JSON body's error.message into str(err) ("Error code: 404" for plain text);
        # anthropic 2.14 prints a plain-text body verbatim but a JSON one as a dict. So each gets its own.
        if provider == "openai":
            content_type = "application/json"
            data = json.dumps({"error": {"message": text, "type": "lessonlib_replay", "param": None, "code": None}}).encode()
        else:
            content_type, data = "text/plain; charset=utf-8", text.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-should-retry", "false")  # both SDKs obey this header: fail at once
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _handle(self) -> None:
        server = self.owner
        arrived = time.monotonic()
        body = self._read_body()
        routed = server.route(self.path)
        if routed is None:
            self._send_simple(
                404,
                f"lessonlib replay server: unknown path {self.path}. Use /openai/v1/... or /anthropic/v1/...",
            )
            return
        provider, path = routed
        server.capture(self.command, path, body)
        with server._lock:
            server._in_flight += 1
        try:
            item = server.lookup(self.command, path, body)
            if item is not None:
                if server.mode == "replay":
                    server.write_usage_report()  # before answering: a kernel may exit right after the reply
                self._replay(item, arrived)
                if server.mode == "record":  # an authored fault (429, timeout...) kept in the new recording
                    with server._lock:
                        server.recording.interactions.append(
                            Interaction(len(server.recording.interactions), item.method, item.path, item.body, item.raw)
                        )
                        server.recording.save(server.partial_path)
            elif server.mode in ("record", "live"):
                refusal = server.budget.refusal() if server.budget is not None else None
                if provider in server.key_problems:  # issue 13: said at the first call, naming the key
                    self._send_simple(401, server.key_problems[provider], provider)
                elif refusal:
                    self._send_simple(402, refusal, provider)
                else:
                    self._forward(provider, path, body, arrived)
            else:
                message = server.miss_message(self.command, path, body)
                with server._lock:
                    server.misses.append(message)
                server.write_usage_report()
                self._send_simple(404, message, provider)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout lesson does this on purpose)
        finally:
            with server._idle:
                server._in_flight -= 1
                server._idle.notify_all()

    def _replay(self, item: Interaction, arrived: float) -> None:
        server = self.owner
        resp = item.response
        wait = float(resp.get("delay") or 0) + float(resp.get("latency") or 0) * server.scale
        if wait > 0:
            time.sleep(max(0.0, wait - (time.monotonic() - arrived)))
        status = int(resp["status"]["code"])
        headers = response_headers(item)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        data = server.localize(item.response_body(), content_type)
        # send_response() would add the stdlib's own Server and Date beside the recorded ones
        self.send_response_only(status, resp["status"].get("message"))
        if not any(k.lower() == "date" for k, _ in headers):
            self.send_header("date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        if "text/event-stream" not in content_type:
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        started = time.monotonic()
        events = sse_events(data.decode("utf-8"))
        times = resp.get("event_times") or [DEFAULT_EVENT_GAP * (n + 1) for n in range(len(events))]
        for n, event in enumerate(events):
            due = float(times[min(n, len(times) - 1)]) * server.scale
            pause = due - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)
            self._write_chunk(event.encode("utf-8") + b"\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _forward(self, provider: str, path: str, body: bytes, arrived: float) -> None:
        """Record mode: pass the request to the upstream, stream the answer back, keep a copy."""
        import httpx2  # the SDKs' own HTTP client; imported late so replay never needs it

        server = self.owner
        upstream = server.upstreams[provider].rstrip("/")
        rest = path[len("/v1") :] if provider == "openai" and upstream.endswith("/v1") else path
        url = upstream + rest
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        secrets = server.secrets + tuple(
            v.split(" ", 1)[-1] for k, v in headers.items() if k.lower() in ("authorization", "x-api-key")
        )
        def keep(status: int, reason: str, out_headers: list[tuple[str, str]], data: bytes,
                 event_times: list[float] | None, first_byte: float) -> None:
            """Meter it, and (record mode) write it to the partial recording before the client sees its end."""
            if server.budget is not None:
                server.budget.record(data)
            if server.mode != "record":
                return
            with server._lock:
                server.recording.add(
                    method=self.command,
                    uri=url,
                    request_headers=dict(headers),
                    request_body=body,
                    status=status,
                    reason=reason,
                    response_headers=out_headers,
                    response_body=data,
                    event_times=event_times,
                    latency=first_byte,
                    secrets=secrets,
                )
                server.recording.provenance.setdefault(
                    "recorded_at", datetime.now(timezone.utc).isoformat(timespec="seconds")
                )
                server.recording.save(server.partial_path)

        try:
            with httpx2.Client(timeout=httpx2.Timeout(600.0, connect=15.0)) as client:
                with client.stream(self.command, url, headers=headers, content=body) as upstream_resp:
                    first_byte = time.monotonic() - arrived
                    out_headers = [
                        (k, v)
                        for k, v in upstream_resp.headers.multi_items()
                        if k.lower() not in _UPSTREAM_ONLY
                    ]
                    is_sse = "text/event-stream" in upstream_resp.headers.get("content-type", "")
                    self.send_response_only(upstream_resp.status_code, upstream_resp.reason_phrase)  # upstream's Date
                    for k, v in out_headers:
                        self.send_header(k, v)
                    event_times: list[float] | None = None
                    if is_sse:
                        self.send_header("transfer-encoding", "chunked")
                        self.end_headers()
                        self.wfile.flush()
                        started, buffer, chunks, event_times = time.monotonic(), "", [], []
                        for piece in upstream_resp.iter_text():
                            self._write_chunk(piece.encode("utf-8"))
                            chunks.append(piece)
                            buffer += piece
                            while _EVENT_SPLIT.search(buffer):
                                head, buffer = _EVENT_SPLIT.split(buffer, maxsplit=1)
                                if head.strip():
                                    event_times.append(time.monotonic() - started)
                        if buffer.strip():
                            event_times.append(time.monotonic() - started)
                        data = "".join(chunks).encode("utf-8")
                        keep(upstream_resp.status_code, upstream_resp.reason_phrase, out_headers, data, event_times, first_byte)
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    else:
                        data = upstream_resp.read()
                        keep(upstream_resp.status_code, upstream_resp.reason_phrase, out_headers, data, None, first_byte)
                        data = server.localize(data, upstream_resp.headers.get("content-type", ""))
                        self.send_header("content-length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
        except httpx2.HTTPError as exc:
            self._send_simple(
                502,
                f"Record mode could not reach {url}: {exc.__class__.__name__}: {exc}. "
                "Check your network, or LESSON_OPENAI_UPSTREAM / LESSON_ANTHROPIC_UPSTREAM in .env.",
                provider,
            )
            return
