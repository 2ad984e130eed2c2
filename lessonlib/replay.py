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
import math
import os
import re
import secrets as _secrets
import socket
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .cassette import (TRANSPORT_HEADERS, Cassette, Interaction, canonical_body, describe_difference, match_path,
                       response_headers)
from .redact import hide_keys, scrub_url

__all__ = ["ReplayServer", "DEFAULT_UPSTREAMS", "DEFAULT_EVENT_GAP"]

DEFAULT_UPSTREAMS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
DEFAULT_EVENT_GAP = 0.015  # seconds between SSE events when a recording kept no timing
_EVENT_SPLIT = re.compile(r"\r?\n\r?\n")
_HOP_BY_HOP = TRANSPORT_HEADERS | {"host", "accept-encoding"}  # request headers not forwarded
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the largest request body accepted (vision lessons send base64 images)
IDLE_TIMEOUT = 20.0  # seconds a connection may sit idle before the server closes it
# Response headers of the upstream's own connection (RFC 9110 7.6.1), never passed on to the SDK (issue 13:
# llama-server's Keep-Alive); content-length and content-encoding because the body is re-framed here.
_UPSTREAM_ONLY = TRANSPORT_HEADERS | {"proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"}


def sse_events(body: str) -> list[str]:
    """Split a text/event-stream body into its events (without the blank line that ends each)."""
    return [e for e in _EVENT_SPLIT.split(body) if e.strip()]


def _in_kernel() -> bool:
    """Whether this is a Jupyter kernel (a notebook), not a script or a unit test."""
    app = sys.modules.get("ipykernel.kernelapp")
    return bool(app is not None and app.IPKernelApp.initialized())


class ReplayServer:
    """One loopback HTTP server answering both providers from one cassette (or recording one)."""

    def __init__(self, cassette_path: str | os.PathLike[str], *, mode: str = "replay", speed: float = 1.0,
                 upstreams: dict[str, str] | None = None, secrets: tuple[str, ...] = (),
                 capture_path: str | os.PathLike[str] | None = None, budget: Any = None,
                 provenance: dict[str, Any] | None = None, usage_report: str | os.PathLike[str] | None = None) -> None:
        if mode not in ("replay", "record", "live"):
            raise ValueError(f"ReplayServer mode must be 'replay', 'record' or 'live', not {mode!r}")
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and 0 <= speed <= 10):
            raise ValueError(f"ReplayServer speed must be a number from 0 to 10, not {speed!r}")
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
        self._served: dict[tuple[str, str, str], int] = defaultdict(int)  # next unplayed recording, per request
        # Cell re-runs (see begin_cell): which recordings each notebook cell played, per request, in order.
        self._cells: dict[str, dict[tuple[str, str, str], list[int]]] = {}
        self._cell: str | None = None
        self._rerun: dict[tuple[str, str, str], list[int]] = {}
        # Record and capped-live mode forward calls with the learner's keys: only the SDKs setup() configured
        # may use it, so their base URLs carry this secret (replay mode serves public recordings, needs none).
        self.token = "" if mode == "replay" else _secrets.token_urlsafe(18)
        self.notes: list[str] = []  # record mode: what the learner was told about the recording
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
        return f"{self.url}{self._prefix}/openai/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.url}{self._prefix}/anthropic"

    @property
    def _prefix(self) -> str:
        return f"/{self.token}" if self.token else ""

    def begin_cell(self, cell_id: str | None) -> None:
        """A notebook cell starts (IPython's pre_run_cell event). When it ran before, its requests get
        the recordings its first run got, in the same order, and the later cells' recordings stay unplayed."""
        with self._lock:
            self._cell = cell_id
            seen = self._cells.setdefault(cell_id, {}) if cell_id else {}
            self._rerun = {key: list(indexes) for key, indexes in seen.items()}

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
        if self.token:
            if not _secrets.compare_digest(path[: len(self._prefix) + 1], self._prefix + "/"):
                return None
            path = path[len(self._prefix) :]
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
            again = self._rerun.get(key)
            if again:  # a re-run cell: the recording its first run got
                n = again.pop(0)
            else:
                n = self._served[key]
                if self.mode != "replay" and n >= len(group):
                    return None  # authored faults used up: the rest goes to the provider
                self._served[key] = n + 1
                if self._cell is not None:
                    self._cells[self._cell].setdefault(key, []).append(n)
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
        elif any(i.method == method and i.path.split("?")[0] == path.split("?")[0] for i in self.cassette.interactions):
            queries = sorted({i.path.partition("?")[2] or "(none)" for i in self.cassette.interactions
                              if i.path.split("?")[0] == path.split("?")[0]})
            lines.append(f"Its recordings of {method} {path.split('?')[0]} have another query string: recorded "
                         f"{', '.join(queries)}; sent {path.partition('?')[2] or '(none)'}.")
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

    def note(self, text: str) -> None:
        """Tell the learner something about the recording (on stderr: the running cell shows it)."""
        self.notes.append(text)
        print(f"lessonlib {self.mode} mode: {text}", file=sys.stderr, flush=True)

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

    # ---- plumbing ---------------------------------------------------------------------------

    timeout = IDLE_TIMEOUT  # StreamRequestHandler: an idle connection is closed, not kept forever

    def _framing_problem(self) -> tuple[int, str] | None:
        """Why the request's body cannot be read safely (any local process can connect), or None."""
        server, host = self.owner, (self.headers.get("host") or "").lower()
        if host not in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            return 421, f"lessonlib replay server: Host {host[:60]!r} is not this server."
        if self.headers.get("transfer-encoding"):
            return 411, "lessonlib replay server: send the body with a Content-Length, not chunked."
        length = (self.headers.get("content-length") or "0").strip()
        if not re.fullmatch(r"\d{1,15}", length):
            return 400, "lessonlib replay server: Content-Length must be a number of bytes."
        if int(length) > MAX_REQUEST_BYTES:
            return 413, f"lessonlib replay server: bodies above {MAX_REQUEST_BYTES >> 20} MB are not accepted."
        return None

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
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _handle(self) -> None:
        """Every method: check the framing, route, then replay, forward (record, capped live) or explain a miss."""
        server = self.owner
        arrived = time.monotonic()
        problem = self._framing_problem()
        if problem:
            self.close_connection = True  # the next request's start cannot be found
            self._send_simple(*problem)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        routed = server.route(self.path)
        if routed is None:
            where = "/openai/v1/... or /anthropic/v1/..." if not server.token else "the base URLs setup() set"
            path = self.path if not server.token else "(not under this server's base URLs)"
            self._send_simple(404, f"lessonlib replay server: unknown path {path}. Use {where}")
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
                hold = None if provider in server.key_problems else (
                    server.budget.reserve(body) if server.budget is not None else None)
                if provider in server.key_problems:  # issue 13: said at the first call, naming the key
                    self._send_simple(401, server.key_problems[provider], provider)
                elif isinstance(hold, str):
                    self._send_simple(402, hold, provider)
                else:
                    self._forward(provider, path, body, arrived, hold)
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
        content_type = next((str(v) for k, v in headers if k.lower() == "content-type"), "")
        data = server.localize(item.response_body(), content_type)
        # send_response() would add the stdlib's own Server and Date beside the recorded ones
        self.send_response_only(status, resp["status"].get("message"))
        if not any(k.lower() == "date" for k, _ in headers):
            self.send_header("date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, str(value))
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

    def _forward(self, provider: str, path: str, body: bytes, arrived: float, hold: Any) -> None:
        """Record and capped-live mode: pass the request upstream, stream the answer back, meter it, keep a copy."""
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
                settled.append(server.budget.settle(hold, body, data))
            if server.mode != "record":
                return
            with server._lock:
                item = server.recording.add(
                    method=self.command, uri=url, request_headers=dict(headers), request_body=body, status=status,
                    reason=reason, response_headers=out_headers, response_body=data, event_times=event_times,
                    latency=first_byte, secrets=secrets,
                )
                server.recording.provenance.setdefault(
                    "recorded_at", datetime.now(timezone.utc).isoformat(timespec="seconds")
                )
                server.recording.save(server.partial_path)
            if status >= 500:  # a replay would play this error back: say so while it can still be re-run
                server.note(f"the provider answered {status} to {self.command} {path}; it is recorded as "
                            f"interaction #{item.index}, so replay will play that error. Re-run the cell to "
                            "record a good answer after it, or restart the kernel before it is saved.")

        sent_headers, settled, chunks = False, [], []
        try:
            with httpx2.Client(timeout=httpx2.Timeout(600.0, connect=15.0)) as client:
                with client.stream(self.command, url, headers=headers, content=body) as upstream_resp:
                    first_byte = time.monotonic() - arrived
                    out_headers = [(k, v) for k, v in upstream_resp.headers.multi_items() if k.lower() not in _UPSTREAM_ONLY]
                    status, reason = upstream_resp.status_code, upstream_resp.reason_phrase
                    if "text/event-stream" not in upstream_resp.headers.get("content-type", ""):
                        data = upstream_resp.read()  # all of it before a status line goes out
                        keep(status, reason, out_headers, data, None, first_byte)
                        data = server.localize(data, upstream_resp.headers.get("content-type", ""))
                        self._send_head(status, reason, out_headers, [("content-length", str(len(data)))])
                        self.wfile.write(data)
                        return
                    self._send_head(status, reason, out_headers, [("transfer-encoding", "chunked")])
                    sent_headers = True
                    started, buffer, event_times = time.monotonic(), "", []
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
                    keep(status, reason, out_headers, "".join(chunks).encode("utf-8"), event_times, first_byte)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
        except httpx2.HTTPError as exc:
            shown = scrub_url(url, server.secrets)
            if not sent_headers:
                self._send_simple(502, hide_keys(
                    f"{server.mode.capitalize()} mode could not reach {shown}: {exc.__class__.__name__}: "
                    f"{scrub_url(str(exc), server.secrets)}. Check your network, or "
                    "LESSON_OPENAI_UPSTREAM / LESSON_ANTHROPIC_UPSTREAM in .env."), provider)
                return
            # The status line is out: end the stream properly, with an error event both SDKs raise.
            said = (f"lessonlib: the provider ({shown}) dropped the connection in the middle of this stream "
                    f"({exc.__class__.__name__}). Nothing was recorded for this call; run the cell again.")
            server.note(said.removeprefix("lessonlib: "))
            error = {"type": "error", "error": {"type": "api_error", "message": said}}
            self._write_chunk(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        finally:  # a call cut short (the client hung up, the upstream dropped) still frees or pays its reservation
            if server.budget is not None and not settled:
                server.budget.settle(hold, body, "".join(chunks).encode("utf-8"))

    def _send_head(self, status: int, reason: str, headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> None:
        self.send_response_only(status, reason)  # the upstream's own Date
        for k, v in headers + extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle
