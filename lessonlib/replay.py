"""The local server that answers the SDKs in replay mode and forwards (and records) their calls in record mode.

``lessonlib.setup()`` starts one :class:`ReplayServer` per kernel on 127.0.0.1 and points the SDKs at it
(``OPENAI_BASE_URL=http://127.0.0.1:PORT/openai/v1``, ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT/anthropic``),
so notebook code stays plain ``OpenAI()`` / ``Anthropic()``. Replay matches each request (method, path, JSON
body) against the notebook's cassette and streams SSE events at the recorded pace; record forwards it to the
provider, streams the answer back as it arrives and writes it, scrubbed, to the cassette.

Why a real server and not an HTTP-mocking library: real sockets give real streams, real timeouts and the SDKs'
own retry logic, and you can ``curl`` it. Taught in: 01_setup.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as _secrets
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._testhooks import ServerHooks
from .budget import COUNTS, DEFAULT_MAX_OUTPUT, with_output_limit
from .cassette import (TRANSPORT_HEADERS, Cassette, Interaction, canonical_body, describe_difference, match_path,
                       response_headers)
from .providers import EVENT_END, PROVIDERS, sse_events
from .redact import hide_keys, scrub_url

__all__ = ["ReplayServer"]

DEFAULT_EVENT_GAP = 0.015  # seconds between SSE events when a recording kept no timing
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the largest request body accepted (vision lessons send base64 images)
_HOP_BY_HOP = TRANSPORT_HEADERS | {"host", "accept-encoding"}  # request headers not forwarded
# Response headers of the upstream's own connection (RFC 9110 7.6.1), never passed on to the SDK (issue 13:
# llama-server's Keep-Alive); content-length and content-encoding because the body is re-framed here.
_UPSTREAM_ONLY = TRANSPORT_HEADERS | {"proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"}
RequestKey = tuple[str, str, str]


class ReplayServer:
    """One loopback HTTP server answering both providers from one cassette (or recording one)."""

    def __init__(self, cassette_path: str | os.PathLike[str], *, mode: str = "replay", speed: float = 1.0,
                 upstreams: dict[str, str] | None = None, secrets: tuple[str, ...] = (),
                 capture_path: str | os.PathLike[str] | None = None, budget: Any = None,
                 provenance: dict[str, Any] | None = None, usage_report: str | os.PathLike[str] | None = None,
                 cassette: Cassette | None = None, token: str = "", cells_file: str | os.PathLike[str] | None = None
                 ) -> None:
        if mode not in ("replay", "record", "live"):
            raise ValueError(f"ReplayServer mode must be 'replay', 'record' or 'live', not {mode!r}")
        if not (isinstance(speed, (int, float)) and 0 <= speed <= 10):  # NaN and infinities fail the range too
            raise ValueError(f"ReplayServer speed must be a number from 0 to 10, not {speed!r}")
        self.mode = mode
        self.cassette_path = Path(cassette_path)
        self.partial_path = self.cassette_path.with_name(self.cassette_path.stem + ".recording.yaml")  # record mode
        self.upstreams = {name: p.upstream for name, p in PROVIDERS.items()} | (upstreams or {})
        self.secrets = tuple(s for s in secrets if s)
        self.hooks = ServerHooks(capture_path, usage_report)
        self.budget = budget  # live/record: a lessonlib.budget.Budget that meters and caps spending
        # Record and capped-live mode forward calls with the learner's keys: only the SDKs setup() configured
        # may use it, so their base URLs carry this secret (replay mode serves public recordings, needs none).
        # ``token``: the secret of the server this one replaces (setup() re-run), so its clients keep working.
        self.token = "" if mode == "replay" else token or _secrets.token_urlsafe(18)
        self.used: set[int] = set()
        self.misses: list[str] = []
        self.key_problems: dict[str, str] = {}  # live/record: provider -> why its key cannot be used (issue 13)
        existing = mode == "replay" or (mode == "record" and self.cassette_path.exists())
        if cassette is None:  # ``cassette``: the one at cassette_path, already loaded (setup() checks it first)
            cassette = Cassette.load(self.cassette_path) if existing else Cassette(path=self.cassette_path)
        self.cassette = cassette
        self.scale = max(speed, 1.0) if self.cassette.pacing_required else speed
        self.recording = Cassette(path=self.cassette_path, provenance=provenance or {"kind": "recorded"},
                                  pacing_required=self.cassette.pacing_required)  # record mode: what it wrote
        self._lock = threading.Condition(threading.Lock())  # also what finish() waits on for _in_flight == 0
        self._in_flight = 0  # requests still being answered (finish() waits for them)
        self._groups: dict[RequestKey, list[Interaction]] = defaultdict(list)  # recordings per request, in order
        for item in self.cassette.interactions:
            if mode == "replay" or item.response.get("fault"):  # record mode replays only authored faults
                self._groups[item.key].append(item)
        self._served: dict[RequestKey, int] = defaultdict(int)  # next unplayed recording, per request
        # the cells the cassette names: an id it does not know (a new cell, a front end with ids of its own) gets
        # the recordings in recorded order
        self._named = {item.cell for item in self.cassette.interactions if item.cell}
        # Cell re-runs (see begin_cell): which recordings each notebook cell played, per request, in order.
        self._cells: dict[str, dict[RequestKey, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._cell: str | None = None
        self._rerun: dict[RequestKey, list[int]] = {}
        self._newest: dict[RequestKey, int] = {}  # GET: the newest state (recording) played
        self._httpd: ThreadingHTTPServer | None = None
        self._limit_said = False  # the note on an output limit the cap added is given once
        # ``cells_file`` (replay mode, in a kernel): where those cells' recordings are kept, so that after a kernel
        # restart a cell that ran before gets its own recordings again, run in any order (setup() names it by the
        # kernel's id, which a restart keeps and a new kernel does not). Saved with the cassette's shape: a
        # re-recorded cassette makes an old file count for nothing.
        self.cells_file = Path(cells_file) if cells_file and mode == "replay" else None
        if self.cells_file is not None:
            self._load_cells()

    # ---- life cycle ------------------------------------------------------------------------

    def start(self, port: int = 0) -> ReplayServer:
        """Serve on ``port`` (a setup() re-run's: the old server's, so its clients still reach it), else a free one."""
        server = self

        class Handler(_Handler):
            owner = server

        try:
            self._httpd = _QuietServer(("127.0.0.1", port), Handler)
        except OSError:  # taken meanwhile by another program
            self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, name="lessonlib-replay", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            for conn in list(self._httpd.connections):  # a client's kept-alive connection: a stopped server
                with suppress(OSError):  # answers no more on it (it once raised "server not started" into the cell)
                    conn.shutdown(socket.SHUT_RDWR)
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, provider: str) -> str:
        """The base URL that points this provider's SDK at this server."""
        prefix = f"/{self.token}" if self.token else ""
        return f"{self.url}{prefix}/{provider}" + ("/v1" if PROVIDERS[provider].v1_in_base_url else "")

    @property
    def openai_base_url(self) -> str:
        return self.base_url("openai")

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url("anthropic")

    def begin_cell(self, cell_id: str | None) -> None:
        """A notebook cell starts (IPython's pre_run_cell event). Its requests get the recordings that name it
        (``cell:``), in any order the cells run; when it ran before, those its first run got, in the same order."""
        with self._lock:
            self._cell = cell_id
            self._rerun = {key: list(indexes) for key, indexes in self._cells[cell_id].items()} if cell_id else {}

    def carry_on(self, previous: ReplayServer) -> None:
        """setup() re-run where cells have ids: each cell that ran keeps its recordings and the next new one gets
        the next unplayed, as if the set-up cell had not run again (09's retry cell once got the 529 meant for the
        cell above it). Without cell ids a re-run of setup() starts the cassette from the top."""
        if previous._cells:
            self._cells, self._served, self._newest = previous._cells, previous._served, previous._newest
            self.used = previous.used

    def unused(self) -> list[int]:
        """Indexes of cassette interactions that no request has played yet (replay mode)."""
        return [i.index for i in self.cassette.interactions if i.index not in self.used]

    def wait_for_calls(self) -> None:
        """Let a response that is still being written reach the recording."""
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=30)

    def finish(self) -> Path | None:
        """End a recording: move the finished recording over the cassette (atomically). What is complete goes
        at once (JupyterLab terminates a kernel still exiting after 2.5 s), then what calls still being answered add."""
        saved = 0  # replay and live mode add nothing to the recording: nothing is saved
        for wait in (False, True):
            if wait:
                self.wait_for_calls()
            with self._lock:
                if len(self.recording.interactions) > saved:
                    saved = len(self.recording.interactions)
                    self.recording.save(self.partial_path)
                    os.replace(self.partial_path, self.cassette_path)
        return self.cassette_path if saved else None

    # ---- what the handler asks ---------------------------------------------------------------

    def route(self, path: str) -> tuple[str, str] | None:
        """Split /openai/v1/chat/completions into ('openai', '/v1/chat/completions')."""
        if self.token:
            prefix = f"/{self.token}"
            if not _secrets.compare_digest(path[: len(prefix) + 1], prefix + "/"):
                return None
            path = path[len(prefix):]
        for provider in PROVIDERS.values():
            prefix = f"/{provider.name}"
            if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                rest = path[len(prefix):] or "/"
                if provider.v1_in_base_url and not rest.startswith("/v1"):
                    rest = "/v1" + rest
                return provider.name, rest
        return None

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count a request as in flight while it is answered (finish() waits for it)."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def answer(self, method: str, provider: str, path: str, body: bytes) -> tuple[str, Any]:
        """What to do with a request: ("replay", interaction), ("refuse", (status, message)) or ("forward", hold)."""
        with self._lock:
            self.hooks.capture(method, path, body)
        item = self.lookup(method, path, body)
        if item is not None:
            with self._lock:
                if self.mode == "replay":  # before answering: a kernel may exit right after the reply
                    self.hooks.report_usage(self)
                elif self.mode == "record":  # an authored fault (429, timeout...) is kept in the new recording
                    raw = item.raw  # named for the cell it was played to (the id first, as Cassette.add writes it)
                    if self._cell:
                        raw = {"cell": self._cell} | {k: v for k, v in raw.items() if k != "cell"}
                    self.recording.interactions.append(replace(item, index=len(self.recording.interactions), raw=raw))
                    self.recording.save(self.partial_path)
            return "replay", item
        if self.mode == "replay":
            message = self.miss_message(method, path, body)
            with self._lock:
                self.misses.append(message)
                self.hooks.report_usage(self)
            return "refuse", (404, message)
        if provider in self.key_problems:  # issue 13: said at the first call, naming the key
            return "refuse", (401, self.key_problems[provider])
        counts = path.partition("?")[0].endswith(COUNTS)
        hold = self.budget.reserve(body, self.billed(provider)) if self.budget is not None and not counts else None
        return ("refuse", (402, hold)) if isinstance(hold, str) else ("forward", hold)

    def billed(self, provider: str) -> bool:
        """Whether this provider's calls go to its own API, which bills them (a local server, Ollama..., does not)."""
        return PROVIDERS[provider].is_own_api(self.upstreams[provider])

    def to_send(self, provider: str, path: str, body: bytes) -> bytes:
        """The body forwarded upstream: with a cap, a billed call without an output limit gets the one it was
        reserved for (the recording keeps the body the SDK sent, which is what a replay of the cell sends again)."""
        if self.budget is None or not self.billed(provider):
            return body  # a local server (Ollama...) bills nothing, and may not know the field
        sent, field = with_output_limit(path, body)
        if field and not self._limit_said:
            self._limit_said = True
            self.note(f"a call to {path} set no {field}, so the spending cap sent it with "
                      f"{field}={DEFAULT_MAX_OUTPUT}, the most it reserved for it; give your calls their own limit "
                      "to choose another.")
        return sent

    def lookup(self, method: str, path: str, body: bytes) -> Interaction | None:
        """The recording that answers this request, or None."""
        key = (method, match_path(path), json.dumps(canonical_body(body), sort_keys=True))
        with self._lock:
            group = self._groups.get(key)
            if not group:
                return None
            again = self._rerun.get(key)
            if again:  # a re-run cell: the recording its first run got...
                n = again.pop(0)
                newest = self._newest.get(key, -1)  # ...unless it never saw the state another cell saw since
                if method == "GET" and max(self._cells[self._cell][key]) < newest:  # (10's results, batch not ended)
                    n = newest
            elif mine := [j for j, item in enumerate(group) if self._cell and item.cell == self._cell]:
                # a cell that recordings name (by its id) gets those, in order, whatever order the cells run in
                played = self._cells[self._cell][key]
                n = next((j for j in mine if j not in played), mine[-1] if self.mode == "replay" else None)
                if n is None:
                    return None  # its authored faults used up: the rest goes to the provider
                played.append(n)
                self._served[key] = max(self._served[key], n + 1)
                self._save_cells()
            else:  # a cell no recording names (no ids sent, a cell of the learner's): the next unplayed
                n = self._served[key]
                if self.mode != "replay" and (n >= len(group) or self._cell in self._named):
                    return None  # authored faults used up, or kept for the cells they name: to the provider
                self._served[key] = n + 1
                if self._cell:
                    self._cells[self._cell][key].append(n)
                    self._save_cells()
            n = min(n, len(group) - 1)
            if method == "GET":
                self._newest[key] = max(n, self._newest.get(key, 0))
            item = group[n]
            self.used.add(item.index)
            return item

    def _load_cells(self) -> None:
        """Take up which recordings each cell played from ``cells_file``, if it was saved for this cassette."""
        self._digests = {key: _digest(key) for key in self._groups}  # a request's name in the file
        self._shape = _digest(sorted((self._digests[key], len(group)) for key, group in self._groups.items()))
        try:
            saved = json.loads(self.cells_file.read_text(encoding="utf-8"))
            cells = saved["cells"] if saved["cassette"] == self._shape else {}
        except (OSError, ValueError, TypeError, KeyError):  # none yet, or not one this server wrote
            return
        keys = {digest: key for key, digest in self._digests.items()}
        for cell, played in cells.items():
            for key, ns in ((keys[k], ns) for k, ns in played.items() if k in keys and ns):
                self._cells[cell][key] = list(ns)
                self._served[key] = max(self._served[key], max(ns) + 1)  # a cell new to it gets the next unplayed

    def _save_cells(self) -> None:
        """Keep which recordings each cell played in ``cells_file`` (called with the lock held)."""
        if self.cells_file is None:
            return
        cells = {cell: {self._digests[key]: ns for key, ns in played.items()} for cell, played in self._cells.items()}
        with suppress(OSError):  # a folder that cannot be written: re-runs still work until the kernel restarts
            self.cells_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.cells_file.with_suffix(".partial")
            partial.write_text(json.dumps({"cassette": self._shape, "cells": cells}), encoding="utf-8")
            os.replace(partial, self.cells_file)

    def forwarded(self, provider: str, path: str, hold: Any, body: bytes, data: bytes,
                  recorded: dict[str, Any] | None) -> None:
        """A forwarded call ended: settle its reservation and (record mode, complete answers only) record it."""
        if self.budget is not None:
            self.budget.settle(hold, body, data, PROVIDERS[provider], billed=self.billed(provider))
        if self.mode != "record" or recorded is None:
            return
        with self._lock:
            item = self.recording.add(request_body=body, response_body=data, cell=self._cell, **recorded)
            self.recording.provenance.setdefault("recorded_at", datetime.now(UTC).isoformat(timespec="seconds"))
            self.recording.save(self.partial_path)
        if recorded["status"] >= 500:  # a replay would play this error back: say so while it can still be re-run
            self.note(f"the provider answered {recorded['status']} to {recorded['method']} {path}; "
                      f"it is recorded as interaction #{item.index}, so replay will play that error. Re-run the cell "
                      "to record a good answer after it.")

    def miss_message(self, method: str, path: str, body: bytes) -> str:
        """Why a replay request has no recording, with the closest one and what to do."""
        path = match_path(path)
        route, _, query = path.partition("?")
        recorded = self.cassette.interactions
        same_path = [i for i in recorded if i.method == method and i.path == path]
        same_route = [i for i in recorded if i.path.partition("?")[0] == route]  # any method, any query
        lines = [f"Replay miss: cassettes/{self.cassette_path.name} has no recording of {method} {path} "
                 "with this body."]
        if same_path:
            sent = canonical_body(body)
            scored = [(describe_difference(i.body, sent), i) for i in same_path]
            (count, text), closest = min(scored, key=lambda pair: pair[0][0])
            lines += [f"The closest recording is interaction #{closest.index}; it differs in {count} place(s):", text]
        elif any(i.method == method for i in same_route):
            queries = sorted({i.path.partition("?")[2] or "(none)" for i in same_route})
            lines.append(f"Its recordings of {method} {route} have another query string: recorded "
                         f"{', '.join(queries)}; sent {query or '(none)'}.")
        elif recorded:
            routes = sorted({f"{i.method} {i.path}" for i in recorded})
            lines.append("Nothing in it was recorded for that endpoint; it holds: " + ", ".join(routes) + ".")
        else:
            lines.append("The cassette holds no interactions at all.")
        lines.append(
            "What to do: undo your change to the cell (or `git checkout` the notebook) to replay the lesson "
            "as recorded; if you changed nothing, a cell above that this request is built from was skipped or run "
            "out of order (or lost in a kernel restart): run the cells from the top, in order. To send new "
            "requests, put your API keys in .env and set LESSON_MODE=live (or LESSON_MODE=record to re-record "
            "this notebook's cassette), then restart the kernel."
        )
        return hide_keys("\n".join(lines))  # what was sent may hold a key (a prompt, a query string)

    def localize(self, data: bytes, content_type: str, provider: str | None = None) -> bytes:
        """Point a response's ``results_url`` (Anthropic Message Batches) at this server.

        The SDK fetches batch results from the absolute URL the API returns; left as is, that request
        would bypass replay (and recording). Only that field is rewritten, never model text.
        """
        if "json" not in content_type or b'"results_url"' not in data:
            return data
        body = canonical_body(data)  # parsed JSON, or the text itself: only a JSON object is rewritten
        url = body.get("results_url") if isinstance(body, dict) else None
        for p in [PROVIDERS[provider]] if provider else PROVIDERS.values():
            for upstream in {p.origin(p.upstream), p.origin(self.upstreams[p.name])}:
                if isinstance(url, str) and url.startswith(upstream + "/"):
                    body["results_url"] = p.origin(self.base_url(p.name)) + url[len(upstream):]
                    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data

    def note(self, text: str) -> None:
        """Tell the learner something about the recording (on stderr: the running cell shows it)."""
        print(f"lessonlib {self.mode} mode: {text}", file=sys.stderr, flush=True)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog of 5 drops SYNs when an async lesson opens 10+ connections
    # at once; a dropped SYN waits for TCP's 1 s retransmit (bench P4: 1.28x -> 1.09x of the ideal).
    request_queue_size = 128

    def __init__(self, *args: Any) -> None:
        self.connections: set[socket.socket] = set()  # open now (stop() closes them)
        super().__init__(*args)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that hung up early (a timeout lesson, an abandoned stream) is not an error
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """The HTTP side only: it checks the framing, asks the server what to answer, and writes the bytes."""

    owner: ReplayServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it every small response waits ~40 ms for the ACK
    timeout = 20.0  # StreamRequestHandler: a connection idle this many seconds is closed, not kept forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep notebook outputs clean

    def _framing_problem(self) -> tuple[int, str] | None:
        """Why the request's body cannot be read safely (any local process can connect), or None."""
        port, host = self.owner.port, (self.headers.get("host") or "").lower()
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return 421, f"lessonlib replay server: Host {host[:60]!r} is not this server."
        if self.headers.get("transfer-encoding"):
            return 411, "lessonlib replay server: send the body with a Content-Length, not chunked."
        lengths = {v.strip() for v in self.headers.get_all("content-length") or ["0"]}
        if len(lengths) > 1 or len(self.headers.get_all("host") or ()) > 1:  # which one counts? (request smuggling)
            return 400, "lessonlib replay server: a request has one Host and at most one Content-Length."
        length = lengths.pop()
        if not re.fullmatch(r"\d{1,15}", length):
            return 400, "lessonlib replay server: Content-Length must be a number of bytes."
        if int(length) > MAX_REQUEST_BYTES:
            return 413, f"lessonlib replay server: bodies above {MAX_REQUEST_BYTES >> 20} MB are not accepted."
        return None

    def _send_simple(self, status: int, text: str, provider: str | None = None) -> None:
        """The server's own answer (an error), in the shape the provider's SDK shows best."""
        if provider and PROVIDERS[provider].json_errors:
            error = {"message": text, "type": "lessonlib_replay", "param": None, "code": None}
            content_type, data = "application/json", json.dumps({"error": error}).encode()
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

    def _send_head(self, status: int, reason: str | None, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status, reason)  # send_response() would add the stdlib's own Server and Date
        for name, value in headers:
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        """One chunk of a chunked body; an empty one ends the body."""
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _handle(self) -> None:
        """Every method: check the framing, route, then replay, forward (record, capped live) or refuse."""
        server, arrived = self.owner, time.monotonic()
        problem = self._framing_problem()
        routed = server.route(self.path)
        if problem:
            self.close_connection = True  # the next request's start cannot be found
            self._send_simple(*problem, routed[0] if routed else None)  # in the shape that provider's SDK shows
            return
        body = self.rfile.read(int(self.headers.get("content-length") or 0))  # checked above; read(0) is b""
        if routed is None:
            where = "/openai/v1/... or /anthropic/v1/..." if not server.token else "the base URLs setup() set"
            path = self.path if not server.token else "(not under this server's base URLs)"
            self._send_simple(404, f"lessonlib replay server: unknown path {path}. Use {where}")
            return
        provider, path = routed
        with server.serving():
            try:
                action, detail = server.answer(self.command, provider, path, body)
                if action == "replay":
                    self._replay(detail, provider, arrived)
                elif action == "refuse":
                    self._send_simple(*detail, provider)
                else:
                    self._forward(provider, path, body, arrived, detail)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout lesson does this on purpose)

    def _replay(self, item: Interaction, provider: str, arrived: float) -> None:
        server, resp = self.owner, item.response
        wait = float(resp.get("delay") or 0) + float(resp.get("latency") or 0) * server.scale
        if wait > 0:
            time.sleep(max(0.0, wait - (time.monotonic() - arrived)))
        headers = response_headers(item)
        content_type = next((str(v) for k, v in headers if k.lower() == "content-type"), "")
        data = server.localize(item.response_body(), content_type, provider)
        if not any(k.lower() == "date" for k, _ in headers):
            headers.insert(0, ("date", self.date_time_string()))
        status, reason = int(resp["status"]["code"]), resp["status"].get("message")
        if status in (204, 304):  # no body (RFC 9110): one sent anyway would start the next answer on the connection
            self._send_head(status, reason, headers)
            return
        if "text/event-stream" not in content_type:
            self._send_head(status, reason, headers + [("content-length", str(len(data)))])
            self.wfile.write(data)
            return
        self._send_head(status, reason, headers + [("transfer-encoding", "chunked")])
        started = time.monotonic()
        events = sse_events(data.decode("utf-8"))
        times = resp.get("event_times") or [DEFAULT_EVENT_GAP * (n + 1) for n in range(len(events))]
        for n, event in enumerate(events):
            pause = float(times[min(n, len(times) - 1)]) * server.scale - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)
            self._write_chunk(event.encode("utf-8") + b"\n\n")
        self._write_chunk(b"")

    def _forward(self, provider: str, path: str, body: bytes, arrived: float, hold: Any) -> None:
        """Pass the request upstream and stream the answer back; the server meters it and keeps a copy."""
        import httpx2  # the SDKs' own HTTP client; imported late so replay never needs it

        server = self.owner
        url = PROVIDERS[provider].origin(server.upstreams[provider]) + path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        keys = tuple(v.split(" ", 1)[-1] for k, v in headers.items() if k.lower() in ("authorization", "x-api-key"))
        recorded = {"method": self.command, "uri": url, "request_headers": headers, "secrets": server.secrets + keys}
        sent_headers, done, chunks = False, False, []
        sent = server.to_send(provider, path, body)
        try:
            with (httpx2.Client(timeout=httpx2.Timeout(600.0, connect=15.0)) as client,
                  client.stream(self.command, url, headers=headers, content=sent) as upstream):
                out_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _UPSTREAM_ONLY]
                content_type = upstream.headers.get("content-type", "")
                status, reason = upstream.status_code, upstream.reason_phrase
                recorded.update(status=status, reason=reason, response_headers=out_headers,
                                latency=time.monotonic() - arrived)
                if "text/event-stream" not in content_type:
                    data = upstream.read()  # all of it (and recorded) before a status line goes out
                    done = True
                    server.forwarded(provider, path, hold, body, data, {**recorded, "event_times": None})
                    data = server.localize(data, content_type, provider)
                    self._send_head(status, reason, out_headers + [("content-length", str(len(data)))])
                    self.wfile.write(data)
                    return
                self._send_head(status, reason, out_headers + [("transfer-encoding", "chunked")])
                sent_headers, started, buffer, event_times = True, time.monotonic(), "", []
                for piece in upstream.iter_text():  # each event timed as it came from the provider, then passed on
                    *ended, buffer = EVENT_END.split(buffer + piece)
                    event_times += [time.monotonic() - started for event in ended if event.strip()]
                    self._write_chunk(piece.encode("utf-8"))
                    chunks.append(piece)
                if buffer.strip():
                    event_times.append(time.monotonic() - started)
                done = True  # recorded before the client sees the stream's end
                server.forwarded(provider, path, hold, body, "".join(chunks).encode(),
                                 {**recorded, "event_times": event_times})
                self._write_chunk(b"")
        except httpx2.HTTPError as exc:
            shown = scrub_url(url, server.secrets)
            if not sent_headers:
                self._send_simple(502, hide_keys(
                    f"{server.mode.capitalize()} mode could not reach {shown}: {exc.__class__.__name__}: "
                    f"{scrub_url(str(exc), server.secrets).rstrip('.')}. Check your network, or "
                    "LESSON_OPENAI_UPSTREAM / LESSON_ANTHROPIC_UPSTREAM in .env."), provider)
                return
            # The status line is out: end the stream properly, with an error event both SDKs raise.
            said = (f"lessonlib: the provider ({shown}) dropped the connection in the middle of this stream "
                    f"({exc.__class__.__name__}). Nothing was recorded for this call; run the cell again.")
            server.note(said.removeprefix("lessonlib: "))
            error = {"type": "error", "error": {"type": "api_error", "message": said}}
            self._write_chunk(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
            self._write_chunk(b"")
            self.close_connection = True
        finally:  # a call cut short (the client hung up, the upstream dropped) still frees or pays its reservation
            if not done:
                server.forwarded(provider, path, hold, body, "".join(chunks).encode(), None)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle
