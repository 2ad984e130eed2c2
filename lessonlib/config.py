"""Course set-up: read ``.env``, pick the mode, start replay if needed, hold the model ids.

Every notebook's first code cell is::

    import lessonlib
    course = lessonlib.setup("04_streaming")

:class:`Settings` is the one reader of the environment and ``.env``; ``setup()`` and the doctor use it.
Taught in: 01_setup.
"""

from __future__ import annotations

import atexit
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CassetteError, LessonSetupError
from .redact import KEY_LIKE, PLACEHOLDERS, key_shape, scrub_url
from .replay import DEFAULT_UPSTREAMS, ReplayServer

__all__ = ["Course", "LessonSetupError", "Settings", "setup", "DEFAULT_OPENAI_MODEL", "DEFAULT_ANTHROPIC_MODEL",
           "MODES", "REPO_ROOT", "CASSETTE_DIR"]

# One place for the model ids. Both are listed by the pinned SDKs (openai.types.ChatModel,
# anthropic.types.Model) and absent from anthropic/_data/deprecated_models.py; tests/test_models.py
# keeps it so. Change them here or with LESSON_OPENAI_MODEL / LESSON_ANTHROPIC_MODEL in .env.
DEFAULT_OPENAI_MODEL = "gpt-6-luna"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-5-5"

MODES = ("replay", "live", "record")
REPO_ROOT = Path(__file__).resolve().parent.parent
CASSETTE_DIR = REPO_ROOT / "notebooks" / "cassettes"
TIKTOKEN_CACHE = Path(__file__).resolve().parent / "tiktoken_cache"

REPLAY_KEY = PLACEHOLDERS[0]  # sent in replay mode: not a key, and the local server ignores it
# Sent (issue 13) when a provider has no usable key in live/record mode: the SDKs then build their clients, and the
# course's local server answers that provider's first call with what is wrong with the key, naming it. Towards a
# local upstream (Ollama...), which needs no key, it is simply forwarded.
NO_KEY_PLACEHOLDER = "no-key-set-see-lessonlib"

_KEY_SHAPES = {
    "OPENAI_API_KEY": (re.compile(r"^sk-[A-Za-z0-9_\-]{20,}$"), "sk-..."),
    "ANTHROPIC_API_KEY": (re.compile(r"^sk-ant-[A-Za-z0-9_\-]{20,}$"), "sk-ant-..."),
}
# Settings that hold no secret: a key-shaped value in one of them is a slip (a key pasted on the wrong line).
PLAIN_SETTINGS = ("LESSON_MODE", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL", "LESSON_REPLAY_SPEED",
                  "LESSON_BUDGET_USD", "LESSON_OPENAI_UPSTREAM", "LESSON_ANTHROPIC_UPSTREAM", "OPENAI_BASE_URL",
                  "ANTHROPIC_BASE_URL", "LESSON_CASSETTE_DIR")
MAX_REPLAY_SPEED = 10.0  # a time factor: 10 = every recorded pause ten times longer
MAX_BUDGET_USD = 1000.0


def check_key(name: str, value: str | None, *, local_upstream: bool = False) -> LessonSetupError | None:
    """Why a key cannot be used (``what`` and ``fix``), or None when it looks fine. Never echoes the key."""
    def problem(what: str, fix: str, sep: str = ":") -> LessonSetupError:
        return LessonSetupError(f"{name} {what}{sep} {fix}.", setting=name, what=what, fix=fix)

    if not value:
        if local_upstream:
            return None  # Ollama, vLLM and llama.cpp accept any key
        return problem("is not set", "add it to .env (see .env.example), or use LESSON_MODE=replay, which needs no key")
    value = value.strip()
    if value.startswith(("<", "your", "sk-...", "sk-ant-...", "replay-mode")) or "..." in value:
        return problem("in .env is still the placeholder from .env.example", "paste your real key")
    if any(ch.isspace() for ch in value) or value[0] in "'\"" or value[-1] in "'\"":
        return problem("contains spaces or quotes", f"in .env write it bare, e.g. {name}=sk-..., with nothing else")
    pattern, shape = _KEY_SHAPES[name]
    if name == "OPENAI_API_KEY" and value.startswith("sk-ant-") and not local_upstream:
        return problem("holds an Anthropic key (sk-ant-...)", "put it in ANTHROPIC_API_KEY instead")
    if not local_upstream and not pattern.match(value):
        return problem(f"does not look like a key (expected {shape} and at least 20 more characters)",
                       "check for a copy-paste slip", ";")
    return None


def find_env_file(env_file: str | os.PathLike[str] | None = None) -> Path | None:
    """The .env setup() reads: ``env_file``, else the first .env from the working folder up, else the repo's."""
    from dotenv import find_dotenv

    path = Path(env_file) if env_file else Path(find_dotenv(usecwd=True) or REPO_ROOT / ".env")
    return path if path.is_file() else None


@dataclass
class Settings:
    """Every setting the course reads, from the environment and ``.env``, read once.

    ``problems`` holds one :class:`LessonSetupError` per setting that cannot be used; nothing raises here."""

    mode: str = "replay"
    openai_model: str = DEFAULT_OPENAI_MODEL
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    speed: float = 1.0  # replay time factor: 1 as recorded, 0 instant, 2 twice as slow
    budget_usd: float | None = None
    upstreams: dict[str, str] = field(default_factory=dict)
    cassette_dir: Path = CASSETTE_DIR
    env_file: Path | None = None
    problems: list[LessonSetupError] = field(default_factory=list)

    @classmethod
    def read(cls, env_file: str | os.PathLike[str] | None = None, environ: Any = None) -> "Settings":
        """Load ``.env`` into the environment (without overriding it), then read every setting."""
        s = cls(env_file=find_env_file(env_file))
        lines: list[str] = []
        if s.env_file is not None:
            try:
                lines = s.env_file.read_bytes().decode("utf-8-sig").splitlines()
                from dotenv import load_dotenv

                load_dotenv(s.env_file, override=False, encoding="utf-8-sig")
            except UnicodeDecodeError:
                s.problems.append(LessonSetupError(
                    f"{s.env_file} is not UTF-8 text, so it was not read: save it as UTF-8 (in VS Code: "
                    "'Save with Encoding', UTF-8), or copy .env.example again.",
                    setting=".env", what=f"{s.env_file} is not UTF-8 text, so it was not read",
                    fix="save it as UTF-8 (in VS Code: 'Save with Encoding'), or copy .env.example again"))
        env = os.environ if environ is None else environ

        def where(name: str) -> str:
            for n, text in enumerate(lines, 1):
                if re.match(rf"\s*(export\s+)?{name}\s*=", text):
                    return f"line {n} of {s.env_file}"
            return "the environment"

        for name in PLAIN_SETTINGS:
            found = KEY_LIKE.search(env.get(name) or "")
            if found:
                what = f"{name} ({where(name)}) holds what looks like an API key, {key_shape(found.group(0))}"
                fix = f"give the key its own line (OPENAI_API_KEY=... or ANTHROPIC_API_KEY=...) and give {name} its own value"
                s.problems.append(LessonSetupError(f"{what}: {fix}.", setting=name, what=what, fix=fix))
        if s.problems:
            return s  # nothing below may show such a value

        mode = (env.get("LESSON_MODE") or "").strip().lower() or "replay"
        s.mode = mode
        if mode not in MODES:
            s.problems.append(LessonSetupError(
                f"LESSON_MODE={mode!r} is not a mode: use replay (no key needed), live or record, in .env or the "
                "environment.", setting="LESSON_MODE", what=f"LESSON_MODE={mode!r} is not a mode",
                fix="set LESSON_MODE=replay, live or record in .env, then restart the kernel"))
        s.openai_model = (env.get("LESSON_OPENAI_MODEL") or "").strip() or DEFAULT_OPENAI_MODEL
        s.anthropic_model = (env.get("LESSON_ANTHROPIC_MODEL") or "").strip() or DEFAULT_ANTHROPIC_MODEL
        s.speed = s._number(env, "LESSON_REPLAY_SPEED", 1.0, MAX_REPLAY_SPEED,
                            "use 1 (as recorded), 0 (instant), or up to 10: it multiplies every recorded pause, "
                            "so 2 is twice as slow and 0.5 twice as fast")
        budget = s._number(env, "LESSON_BUDGET_USD", None, MAX_BUDGET_USD,
                           "give an amount in US dollars, e.g. LESSON_BUDGET_USD=0.50")
        s.budget_usd = budget if mode != "replay" else None
        s.upstreams = {
            p: (env.get(f"LESSON_{p.upper()}_UPSTREAM") or env.get(f"{p.upper()}_BASE_URL") or DEFAULT_UPSTREAMS[p]).strip()
            for p in DEFAULT_UPSTREAMS
        }
        s.cassette_dir = Path(env.get("LESSON_CASSETTE_DIR") or CASSETTE_DIR)
        return s

    def _number(self, env: Any, name: str, default: float | None, most: float, hint: str) -> float | None:
        raw = (env.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
            what = "" if math.isfinite(value) else f"{name}={raw!r} is not a finite number"
        except ValueError:
            value, what = 0.0, f"{name}={raw!r} is not a number"
        if not what and value < 0:
            what = f"{name} must be 0 or more, not {raw}"
        if not what and value > most:
            what = f"{name}={raw} is more than {most:g}"
        if what:
            self.problems.append(LessonSetupError(f"{what}; {hint}.", setting=name, what=what, fix=hint))
            return default
        return value

    def cassette(self, name: str) -> Path:
        """The cassette of notebook ``name``; a name that would leave the cassette folder is refused."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name) or ".." in name:
            raise LessonSetupError(
                f"setup({name!r}) needs the notebook's name, like setup(\"04_streaming\"): a path in it would "
                "put the cassette outside notebooks/cassettes/.")
        return self.cassette_dir / f"{name}.yaml"


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

    def __repr__(self) -> str:
        return (
            f"Course(name={self.name!r}, mode={self.mode!r}, openai_model={self.openai_model!r}, "
            f"anthropic_model={self.anthropic_model!r})"
        )


_ACTIVE: dict[str, Any] = {}


def _stop_active() -> None:
    """Stop this kernel's server (saving a recording) and undo the environment changes setup made."""
    hook = _ACTIVE.pop("hook", None)
    if hook is not None:
        try:
            hook[0].events.unregister("pre_run_cell", hook[1])
        except ValueError:
            pass
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


def learner_environ() -> dict[str, str]:
    """The environment as the learner set it: what setup() replaced (replay URLs, placeholder keys) undone."""
    env = dict(os.environ)
    for var, previous in _ACTIVE.get("replaced_env", {}).items():
        if previous is None:
            env.pop(var, None)
        else:
            env[var] = previous
    return env


def _set_env(var: str, value: str) -> None:
    """Set an environment variable for this session, remembering what to restore."""
    _ACTIVE.setdefault("replaced_env", {}).setdefault(var, os.environ.get(var))
    os.environ[var] = value


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


def _follow_cells(server: ReplayServer) -> None:
    """Tell the server which notebook cell runs, so a re-run cell replays its own answers again."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return

    def before(info: Any) -> None:
        server.begin_cell(getattr(info, "cell_id", None))

    shell.events.register("pre_run_cell", before)
    _ACTIVE["hook"] = (shell, before)


def setup(name: str, *, env_file: str | os.PathLike[str] | None = None, quiet: bool = False) -> Course:
    """Set up one notebook: load .env, choose the mode, start replay/record, print a banner.

    ``name`` is the notebook's name without ``.ipynb`` (e.g. ``"04_streaming"``); its cassette is
    ``notebooks/cassettes/<name>.yaml``. Calling it again (re-running the cell) restarts cleanly.
    Taught in: 01_setup.
    """
    from .display import install_error_display

    install_error_display()
    if os.environ.get("LESSON_SOCKET_GUARD") == "1":
        from ._testhooks import install_socket_guard

        install_socket_guard()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))
    previous = _ACTIVE.get("server")  # record mode: a re-run of this cell must keep what was recorded so far
    _stop_active()  # a re-run of the set-up cell starts from the learner's own environment
    settings = Settings.read(env_file)
    if settings.problems:
        raise settings.problems[0]
    mode = settings.mode
    upstreams = settings.upstreams
    course = Course(name=name, mode=mode, openai_model=settings.openai_model,
                    anthropic_model=settings.anthropic_model, cassette=settings.cassette(name))
    course.local = tuple(p for p in ("openai", "anthropic") if upstreams[p].rstrip("/") != DEFAULT_UPSTREAMS[p])

    # Issue 13: a key is needed only by the provider a cell calls. A missing or unusable key no longer stops the
    # set-up: the local server answers that provider's first call with the reason, naming the key.
    key_problems: dict[str, str] = {}
    if mode in ("live", "record"):
        for key_name, provider in (("OPENAI_API_KEY", "openai"), ("ANTHROPIC_API_KEY", "anthropic")):
            local = provider in course.local
            problem = check_key(key_name, os.environ.get(key_name), local_upstream=local)
            if problem:
                key_problems[provider] = str(problem)

    budget = None
    if settings.budget_usd is not None:
        from .budget import Budget

        budget = Budget(limit_usd=settings.budget_usd)
    # plain live mode: the SDKs talk to the providers directly (a provider without a usable key excepted, below)
    if mode != "live" or budget is not None or key_problems:
        secrets = tuple(os.environ.get(k, "") for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"))
        provenance = None
        if mode == "record":
            from datetime import datetime, timezone

            provenance = {
                "kind": "recorded",
                "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sdk_versions": _sdk_versions(),
                "upstreams": {p: scrub_url(u) for p, u in upstreams.items()},
                # issue 13: replay uses the models a recording was made with (unless the learner sets others)
                "models": {"openai": settings.openai_model, "anthropic": settings.anthropic_model},
            }
        usage_dir = os.environ.get("LESSON_USAGE_DIR") if mode == "replay" else None  # the test suite's report
        try:
            server = ReplayServer(
                course.cassette, mode=mode, speed=settings.speed, upstreams=upstreams, secrets=secrets,
                capture_path=os.environ.get("LESSON_REPLAY_CAPTURE") or None, provenance=provenance, budget=budget,
                usage_report=Path(usage_dir) / f"{name}.{os.getpid()}.json" if usage_dir else None,
            ).start()
        except CassetteError as exc:
            raise LessonSetupError(str(exc)) from None
        _ACTIVE["server"] = server
        course.server = server
        if (mode == "record" and previous is not None and previous.mode == "record"
                and previous.cassette_path == server.cassette_path):  # issue 13: set up, call, set up again, call
            server.recording.interactions.extend(previous.recording.interactions)
        _follow_cells(server)
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
            _set_env("OPENAI_API_KEY", REPLAY_KEY)
            _set_env("ANTHROPIC_API_KEY", REPLAY_KEY)
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

            for model in (settings.openai_model, settings.anthropic_model):
                warning = check_model_is_priced(model)
                if warning:
                    print(f"warning: {warning}")
    return course
