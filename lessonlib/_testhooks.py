"""Hooks that only the test suite turns on (never used by a learner's notebook): the socket guard, and the
replay server's usage report and request capture."""

from __future__ import annotations

from typing import Any


def install_socket_guard() -> None:
    """Make any connection to a non-loopback address fail loudly (the test suite turns this on:
    replay mode must never touch the network)."""
    import ipaddress
    import socket

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
