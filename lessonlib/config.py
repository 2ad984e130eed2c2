"""Course set-up: read ``.env``, pick the mode, start replay if needed, hold the model ids.

Every notebook's first code cell is::

    import lessonlib
    course = lessonlib.setup("04_streaming")

Taught in: 01_setup.
"""

from __future__ import annotations

import atexit
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import find_dotenv, load_dotenv

from .cassette import CassetteError
from .replay import DEFAULT_UPSTREAMS, ReplayServer

__all__ = [
    "Course",
    "LessonSetupError",
    "setup",
    "DEFAULT_OPENAI_MODEL",
    "DEFAULT_ANTHROPIC_MODEL",
    "MODES",
    "REPO_ROOT",
    "CASSETTE_DIR",
]

# One place for the model ids. Both are listed by the pinned SDKs (openai.types.ChatModel,
# anthropic.types.Model) and absent from anthropic/_data/deprecated_models.py; tests/test_models.py
# keeps it so. Change them here or with LESSON_OPENAI_MODEL / LESSON_ANTHROPIC_MODEL in .env.
DEFAULT_OPENAI_MODEL = "gpt-6-luna"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-5-5"

MODES = ("replay", "live", "record")
REPO_ROOT = Path(__file__).resolve().parent.parent
CASSETTE_DIR = REPO_ROOT / "notebooks" / "cassettes"
TIKTOKEN_CACHE = Path(__file__).resolve().parent / "tiktoken_cache"

# Placeholders sent in replay mode. They are not keys and the local server ignores them.
REPLAY_OPENAI_KEY = "replay-mode-no-key-needed"
REPLAY_ANTHROPIC_KEY = "replay-mode-no-key-needed"
# Sent (issue 13) when a provider has no usable key in live/record mode: the SDKs then build their clients, and the
# course's local server answers that provider's first call with what is wrong with the key, naming it. Towards a
# local upstream (Ollama...), which needs no key, it is simply forwarded.
NO_KEY_PLACEHOLDER = "no-key-set-see-lessonlib"

_KEY_SHAPES = {
    "OPENAI_API_KEY": (re.compile(r"^sk-[A-Za-z0-9_\-]{20,}$"), "sk-..."),
    "ANTHROPIC_API_KEY": (re.compile(r"^sk-ant-[A-Za-z0-9_\-]{20,}$"), "sk-ant-..."),
}


class LessonSetupError(RuntimeError):
    """Something in the set-up (mode, keys, cassette) needs fixing; the message says what."""


def _env_flag_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LessonSetupError(f"{name}={raw!r} is not a number; use e.g. {name}=1 (as recorded) or 0 (instant).")
    if value < 0:
        raise LessonSetupError(f"{name} must be 0 or more, not {raw}.")
    return value


def check_key(name: str, value: str | None, *, local_upstream: bool = False) -> str | None:
    """Why a key cannot be used, in one sentence, or None when it looks fine. Never echoes the key."""
    if not value:
        if local_upstream:
            return None  # Ollama, vLLM and llama.cpp accept any key
        return f"{name} is not set: add it to .env (see .env.example), or use LESSON_MODE=replay, which needs no key."
    value = value.strip()
    if value.startswith(("<", "your", "sk-...", "sk-ant-...", "replay-mode")) or "..." in value:
        return f"{name} in .env is still the placeholder from .env.example: paste your real key."
    if any(ch.isspace() for ch in value) or value[0] in "'\"" or value[-1] in "'\"":
        return f"{name} contains spaces or quotes: in .env write it bare, e.g. {name}=sk-..., with nothing else."
    pattern, shape = _KEY_SHAPES[name]
    if name == "OPENAI_API_KEY" and value.startswith("sk-ant-") and not local_upstream:
        return f"{name} holds an Anthropic key (sk-ant-...): put it in ANTHROPIC_API_KEY instead."
    if not local_upstream and not pattern.match(value):
        return f"{name} does not look like a key (expected {shape} and at least 20 more characters); check for a copy-paste slip."
    return None


@dataclass
class Course:
    """What a notebook needs to know about the course set-up. Returned by :func:`setup`."""

    name: str
    mode: str
    openai_model: str
    anthropic_model: str
    cassette: Path
    server: ReplayServer | None = None
    local: tuple[str, ...] = ()  # providers pointed at another server than the provider's (issue 13: banner)

    @property
    def banner(self) -> str:
        rel = f"cassettes/{self.cassette.name}"
        if self.mode == "replay":
            pace = "instant" if self.server and self.server.scale == 0 else "paced as recorded"
            if self.server and 0 < self.server.scale != 1:
                pace = f"paced at {self.server.scale:g}x recorded time"
            return f"replay mode: answers come from {rel} (no API key needed; streams {pace})"
        cap = ""
        if self.server is not None and self.server.budget is not None:
            cap = f"; spending cap ${self.server.budget.limit_usd:.2f}, see lessonlib.budget.spent()"
        if self.mode == "record":
            return f"record mode: real calls, saved to {rel} when the kernel shuts down (API keys from .env{cap})"
        if not self.local:
            return f"live mode: real calls to the providers, billed to your API keys{cap}"
        if len(self.local) == 2:  # issue 13: nothing here is billed by a provider
            return f"live mode: real calls to local servers (OPENAI_BASE_URL, ANTHROPIC_BASE_URL), not billed by a provider{cap}"
        here, there = ("OpenAI", "Anthropic") if self.local == ("openai",) else ("Anthropic", "OpenAI")
        return (f"live mode: {here} calls go to a local server ({here.upper()}_BASE_URL); {there} calls go to the "
                f"provider, billed to your {there.upper()}_API_KEY{cap}")

    def unused_interactions(self) -> list[int]:
        """Cassette interactions this session has not played yet (replay mode only)."""
        return self.server.unused() if self.server else []

    def __repr__(self) -> str:
        return (
            f"Course(name={self.name!r}, mode={self.mode!r}, openai_model={self.openai_model!r}, "
            f"anthropic_model={self.anthropic_model!r})"
        )


_ACTIVE: dict[str, Any] = {}


def _stop_active() -> None:
    """Stop this kernel's server (saving a recording) and undo the environment changes setup made."""
    server = _ACTIVE.pop("server", None)
    if server is not None:
        if server.mode == "record":
            server.finish()
        server.stop()
    for var, previous in _ACTIVE.pop("replaced_env", {}).items():
        if previous is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = previous


def _set_env(var: str, value: str) -> None:
    """Set an environment variable for this session, remembering what to restore."""
    _ACTIVE.setdefault("replaced_env", {}).setdefault(var, os.environ.get(var))
    os.environ[var] = value


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


atexit.register(_stop_active)


def _sdk_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("openai", "anthropic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - both are pinned in requirements.txt
            out[pkg] = "not installed"
    return out


def setup(name: str, *, env_file: str | os.PathLike[str] | None = None, quiet: bool = False) -> Course:
    """Set up one notebook: load .env, choose the mode, start replay/record, print a banner.

    ``name`` is the notebook's name without ``.ipynb`` (e.g. ``"04_streaming"``); its cassette is
    ``notebooks/cassettes/<name>.yaml``. Calling it again (re-running the cell) restarts cleanly.
    Taught in: 01_setup.
    """
    from .display import install_error_display

    install_error_display()
    if os.environ.get("LESSON_SOCKET_GUARD") == "1":
        install_socket_guard()
    dotenv_path = Path(env_file) if env_file else (Path(find_dotenv(usecwd=True)) if find_dotenv(usecwd=True) else REPO_ROOT / ".env")
    if dotenv_path.exists():
        load_dotenv(dotenv_path, override=False)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))

    mode = os.environ.get("LESSON_MODE", "replay").strip().lower() or "replay"
    if mode not in MODES:
        raise LessonSetupError(
            f"LESSON_MODE={mode!r} is not a mode: use replay (no key needed), live or record, in .env or the environment."
        )
    openai_model = os.environ.get("LESSON_OPENAI_MODEL", "").strip() or DEFAULT_OPENAI_MODEL
    anthropic_model = os.environ.get("LESSON_ANTHROPIC_MODEL", "").strip() or DEFAULT_ANTHROPIC_MODEL
    cassette = Path(os.environ.get("LESSON_CASSETTE_DIR") or CASSETTE_DIR) / f"{name}.yaml"
    _stop_active()  # a re-run of the set-up cell starts from the learner's own environment

    upstreams = {
        "openai": os.environ.get("LESSON_OPENAI_UPSTREAM") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_UPSTREAMS["openai"],
        "anthropic": os.environ.get("LESSON_ANTHROPIC_UPSTREAM")
        or os.environ.get("ANTHROPIC_BASE_URL")
        or DEFAULT_UPSTREAMS["anthropic"],
    }
    course = Course(name=name, mode=mode, openai_model=openai_model, anthropic_model=anthropic_model, cassette=cassette)
    course.local = tuple(p for p in ("openai", "anthropic") if upstreams[p].rstrip("/") != DEFAULT_UPSTREAMS[p])

    # Issue 13: a key is needed only by the provider a cell calls. A missing or unusable key no longer stops the
    # set-up: the local server answers that provider's first call with the reason, naming the key.
    key_problems: dict[str, str] = {}
    if mode in ("live", "record"):
        for key_name, provider in (("OPENAI_API_KEY", "openai"), ("ANTHROPIC_API_KEY", "anthropic")):
            local = provider in course.local
            problem = check_key(key_name, os.environ.get(key_name), local_upstream=local)
            if problem:
                key_problems[provider] = problem

    budget = _budget()
    # plain live mode: the SDKs talk to the providers directly (a provider without a usable key excepted, below)
    if mode != "live" or budget is not None or key_problems:
        speed = _env_flag_float("LESSON_REPLAY_SPEED", 1.0)
        secrets = tuple(os.environ.get(k, "") for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"))
        provenance = None
        if mode == "record":
            from datetime import datetime, timezone

            provenance = {
                "kind": "recorded",
                "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sdk_versions": _sdk_versions(),
                "upstreams": upstreams,
                # issue 13: replay uses the models a recording was made with (unless the learner sets others)
                "models": {"openai": openai_model, "anthropic": anthropic_model},
            }
        try:
            server = ReplayServer(
                cassette,
                mode=mode,
                speed=speed,
                upstreams=upstreams,
                secrets=secrets,
                capture_path=os.environ.get("LESSON_REPLAY_CAPTURE") or None,
                provenance=provenance,
                budget=budget,
                usage_report=(
                    Path(os.environ["LESSON_USAGE_DIR"]) / f"{name}.{os.getpid()}.json"
                    if os.environ.get("LESSON_USAGE_DIR") and mode == "replay"
                    else None
                ),
            ).start()
        except CassetteError as exc:
            raise LessonSetupError(str(exc)) from None
        _ACTIVE["server"] = server
        course.server = server
        server.key_problems = key_problems  # issue 13: answered by the server, see _Handler._handle
        # plain live mode with a key problem: only that provider goes through the server, to hear the reason
        proxied = tuple(key_problems) if mode == "live" and budget is None else ("openai", "anthropic")
        if "openai" in proxied:
            _set_env("OPENAI_BASE_URL", server.openai_base_url)
        if "anthropic" in proxied:
            _set_env("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        if mode == "replay":  # issue 13: a recording made with other models replays with them
            recorded = server.cassette.provenance.get("models") or {}
            if not os.environ.get("LESSON_OPENAI_MODEL", "").strip() and recorded.get("openai"):
                course.openai_model = str(recorded["openai"])
            if not os.environ.get("LESSON_ANTHROPIC_MODEL", "").strip() and recorded.get("anthropic"):
                course.anthropic_model = str(recorded["anthropic"])
        if mode == "replay":
            _set_env("OPENAI_API_KEY", REPLAY_OPENAI_KEY)
            _set_env("ANTHROPIC_API_KEY", REPLAY_ANTHROPIC_KEY)
            if "ANTHROPIC_AUTH_TOKEN" in os.environ:
                _ACTIVE.setdefault("replaced_env", {})["ANTHROPIC_AUTH_TOKEN"] = os.environ.pop("ANTHROPIC_AUTH_TOKEN")
    if mode in ("live", "record"):  # issue 13: the SDKs need some key to build a client; see NO_KEY_PLACEHOLDER
        for key_name, provider in (("OPENAI_API_KEY", "openai"), ("ANTHROPIC_API_KEY", "anthropic")):
            if provider in key_problems or not os.environ.get(key_name):
                _set_env(key_name, NO_KEY_PLACEHOLDER)
    if not quiet:
        print(course.banner)
        for provider, problem in key_problems.items():
            print(f"note: {'OpenAI' if provider == 'openai' else 'Anthropic'} calls will fail until this is fixed: {problem}")
        if budget is not None:  # a cap cannot count what the price table does not know
            from .budget import check_model_is_priced

            for model in (openai_model, anthropic_model):
                warning = check_model_is_priced(model)
                if warning:
                    print(f"warning: {warning}")
    return course


def _budget() -> Any:
    """The spending cap from LESSON_BUDGET_USD (live and record modes), or None."""
    raw = os.environ.get("LESSON_BUDGET_USD", "").strip()
    if not raw or os.environ.get("LESSON_MODE", "replay").strip().lower() == "replay":
        return None
    from .budget import Budget

    limit = _env_flag_float("LESSON_BUDGET_USD", 0.0)
    return Budget(limit_usd=limit)
