"""Hooks that only the test suite turns on (never used by a learner's notebook): the socket guard, and the
replay server's usage report and request capture. :func:`server_options` is all setup() knows of them."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from .cassette import canonical_body


def server_options(name: str, mode: str) -> dict[str, Any]:
    """Read the test suite's switches: install the socket guard (LESSON_SOCKET_GUARD=1), and return the replay
    server's ``capture_path`` (LESSON_REPLAY_CAPTURE) and, in replay mode, its ``usage_report`` (one file per
    notebook and process in LESSON_USAGE_DIR, read by tests/test_usage.py)."""
    if os.environ.get("LESSON_SOCKET_GUARD") == "1":
        install_socket_guard()
    usage_dir = os.environ.get("LESSON_USAGE_DIR") if mode == "replay" else None
    return {"capture_path": os.environ.get("LESSON_REPLAY_CAPTURE") or None,
            "usage_report": Path(usage_dir) / f"{name}.{os.getpid()}.json" if usage_dir else None}


def install_socket_guard() -> None:
    """Make any connection to a non-loopback address fail loudly (the test suite turns this on:
    replay mode must never touch the network)."""
    import ipaddress

    if getattr(socket.socket.connect, "_lesson_guard", False):
        return
    original_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"lessonlib socket guard: replay mode must not connect to {host}")
        return original_connect(sock, address)

    guarded_connect._lesson_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]


class ServerHooks:
    """What a replay server writes for the test suite; the server calls these under its lock (one writer)."""

    def __init__(self, capture: str | os.PathLike[str] | None, usage_report: str | os.PathLike[str] | None) -> None:
        self.capture_path = Path(capture) if capture else None  # LESSON_REPLAY_CAPTURE: every request, one per line
        self.usage_report = Path(usage_report) if usage_report else None  # tests/test_usage.py: what played

    def capture(self, method: str, path: str, body: bytes) -> None:
        if self.capture_path is not None:
            with self.capture_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"method": method, "path": path, "body": canonical_body(body)}) + "\n")

    def report_usage(self, server: Any) -> None:
        """Which of a replay server's interactions were played, and whether in a kernel with the socket guard on."""
        if self.usage_report is None:
            return
        app = sys.modules.get("ipykernel.kernelapp")  # unit tests' in-process servers do not count
        report = {"cassette": server.cassette_path.name, "count": len(server.cassette.interactions),
                  "used": sorted(server.used), "misses": list(server.misses),
                  "socket_guard": bool(getattr(socket.socket.connect, "_lesson_guard", False)),
                  "kernel": bool(app is not None and app.IPKernelApp.initialized())}
        self.usage_report.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.usage_report.with_suffix(".tmp")
        tmp.write_text(json.dumps(report), encoding="utf-8")
        os.replace(tmp, self.usage_report)
