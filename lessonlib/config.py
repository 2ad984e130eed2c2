"""Course set-up: read ``.env``, pick the mode, start replay if needed, hold the model ids.

Every notebook's first code cell is::

    import lessonlib
    course = lessonlib.setup("04_streaming")

:class:`Settings` is the one reader of the environment and ``.env``; ``setup()``, the doctor and the exercise
checkers use it. Taught in: 01_setup.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import MutableMapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dotenv import dotenv_values, find_dotenv

from ._testhooks import server_options
from .budget import check_model_is_priced, session_budget
from .cassette import Cassette
from .display import install_error_display, ipython_shell
from .errors import CassetteError, LessonSetupError
from .providers import PROVIDERS
from .redact import KEY_LIKE, key_shape, scrub_url
from .replay import ReplayServer

__all__ = ["Course", "LessonSetupError", "Settings", "setup", "DEFAULT_OPENAI_MODEL", "DEFAULT_ANTHROPIC_MODEL",
           "CASSETTE_DIR"]

# The model ids live in lessonlib/providers.py (or LESSON_OPENAI_MODEL / LESSON_ANTHROPIC_MODEL in .env).
DEFAULT_OPENAI_MODEL = PROVIDERS["openai"].default_model
DEFAULT_ANTHROPIC_MODEL = PROVIDERS["anthropic"].default_model

REPO_ROOT = Path(__file__).resolve().parent.parent
CASSETTE_DIR = REPO_ROOT / "notebooks" / "cassettes"
TIKTOKEN_CACHE = Path(__file__).resolve().parent / "tiktoken_cache"

REPLAY_KEY = "replay-mode-no-key-needed"  # sent in replay mode: not a key, and the local server ignores it
# Sent (issue 13) for a provider without a usable key in live/record mode, so that the SDKs build their clients: the
# course's server answers its first call with what is wrong with the key (a local upstream, Ollama..., gets it).
NO_KEY_PLACEHOLDER = "no-key-set-see-lessonlib"
# Set while setup() has changed the environment: a process started from the kernel (`!python -m lessonlib doctor`)
# inherits the replay URLs and placeholder keys, not the learner's own set-up, and the doctor says so.
SET_UP_MARK = "LESSON_SET_UP_IN_KERNEL"
# A key left out rather than mistyped: the doctor only warns when another provider works (issue 13).
UNSET, PLACEHOLDER = "is not set", "in .env is still the placeholder from .env.example"

# Settings that hold no secret: a key-shaped value in one of them is a slip (a key pasted on the wrong line).
PLAIN_SETTINGS = ("LESSON_MODE", "LESSON_REPLAY_SPEED", "LESSON_BUDGET_USD", "LESSON_BUDGET_FILE",
                  "LESSON_CASSETTE_DIR") + tuple(
    name for p in PROVIDERS.values() for name in (p.model_env, p.upstream_env, p.base_url_env))


def find_env_file(env_file: str | os.PathLike[str] | None = None) -> Path | None:
    """The .env setup() reads: ``env_file``, else the first .env from the working folder up, else the repo's."""
    path = Path(env_file) if env_file else Path(find_dotenv(usecwd=True) or REPO_ROOT / ".env")
    return path if path.is_file() else None


_FROM_ENV_FILE: dict[str, str] = {}  # what .env put in os.environ


def _load_env_file(path: Path) -> None:
    """load_dotenv(override=False), except that what .env set earlier takes the file's new value (or goes with its
    line): a line fixed in .env counts at a re-run of the set-up cell, as the doctor reads it (it kept the old one)."""
    if os.environ.get("PYTHON_DOTENV_DISABLED", "").casefold() in ("1", "true", "t", "yes", "y"):
        return  # as load_dotenv: `make record`'s replay pass must not see a maintainer's .env (dotenv_values would)
    values = {name: value for name, value in dotenv_values(path, encoding="utf-8-sig").items() if value is not None}
    for name in {*values, *_FROM_ENV_FILE}:
        if os.environ.get(name, _FROM_ENV_FILE.get(name)) == _FROM_ENV_FILE.get(name):  # unset, or as .env set it
            _put(os.environ, {name: values.get(name)})
            _put(_FROM_ENV_FILE, {name: values.get(name)})


@dataclass
class Settings:
    """Every setting the course reads, from the environment and ``.env``, read once.

    ``problems`` holds one :class:`LessonSetupError` per setting that cannot be used; nothing raises here."""

    mode: str = "replay"
    models: dict[str, str] = field(default_factory=lambda: {p.name: p.default_model for p in PROVIDERS.values()})
    chosen_models: set[str] = field(default_factory=set)  # providers whose model the learner set
    speed: float = 1.0  # replay time factor: 1 as recorded, 0 instant, 2 twice as slow
    budget_usd: float | None = None  # the spending cap (live and record mode; replay mode spends nothing)
    upstreams: dict[str, str] = field(default_factory=lambda: {p.name: p.upstream for p in PROVIDERS.values()})
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)  # ANTHROPIC_AUTH_TOKEN, for a local server
    cassette_dir: Path = CASSETTE_DIR
    budget_file: Path = REPO_ROOT / ".lesson-budget.sqlite"  # the cap's ledger, shared by every kernel
    full_tracebacks: bool = False  # notebooks show every frame of an error, library internals too
    env_file: Path | None = None
    problems: list[LessonSetupError] = field(default_factory=list)

    @property
    def openai_model(self) -> str:
        return self.models["openai"]

    @property
    def anthropic_model(self) -> str:
        return self.models["anthropic"]

    @classmethod
    def read(cls, env_file: str | os.PathLike[str] | None = None) -> "Settings":
        """Load ``.env`` into the environment (without overriding what was set elsewhere), then read every setting
        as the learner set it (in a kernel, what setup() replaced, like the SDKs' base URLs, is undone)."""
        s = cls(env_file=find_env_file(env_file))
        lines: list[str] = []
        if s.env_file is not None:
            try:
                lines = s.env_file.read_bytes().decode("utf-8-sig").splitlines()
                _load_env_file(s.env_file)
            except UnicodeDecodeError:
                s._problem(".env", f"{s.env_file} is not UTF-8 text, so it was not read",
                           "save it as UTF-8 (in VS Code: 'Save with Encoding'), or copy .env.example again")
            except OSError as exc:  # e.g. made with sudo: the learner may not read it
                s._problem(".env", f"{s.env_file} could not be read ({exc.strerror})",
                           "make it readable by you (or delete it and copy .env.example again)")
        env = learner_environ()
        s.keys = {p.name: env.get(p.key_env, "").strip() for p in PROVIDERS.values()}
        s.tokens = {p.name: env.get(p.token_env, "").strip() for p in PROVIDERS.values() if p.token_env}
        s.full_tracebacks = env.get("LESSON_FULL_TRACEBACKS", "").strip().lower() in ("1", "true", "yes")

        def where(name: str) -> str:
            # the last line that sets it: the one python-dotenv keeps
            n = max((n for n, text in enumerate(lines, 1) if re.match(rf"\s*(export\s+)?{name}\s*=", text)), default=0)
            return f"line {n} of {s.env_file}" if n else "the environment"

        key_lines = " or ".join(f"{p.key_env}=..." for p in PROVIDERS.values())
        for name in PLAIN_SETTINGS:
            found = KEY_LIKE.search(env.get(name, ""))
            if found:
                s._problem(name, f"{name} ({where(name)}) holds what looks like an API key, {key_shape(found[0])}",
                           f"give the key its own line ({key_lines}) and give {name} its own value")
        if s.problems:
            return s  # nothing below may show such a value

        s.mode = env.get("LESSON_MODE", "").strip().lower() or "replay"
        if s.mode not in ("replay", "live", "record"):
            s._problem("LESSON_MODE", f"LESSON_MODE={s.mode!r} is not a mode",
                       "set LESSON_MODE=replay, live or record in .env, then restart the kernel",
                       message=f"LESSON_MODE={s.mode!r} is not a mode: use replay (no key needed), live or record, "
                               "in .env or the environment.")
        for p in PROVIDERS.values():
            if model := env.get(p.model_env, "").strip():
                s.models[p.name] = model
                s.chosen_models.add(p.name)
            upstream = env.get(p.upstream_env, "").strip() or env.get(p.base_url_env, "").strip()
            s.upstreams[p.name] = upstream or p.upstream  # a blank value is unset
        s.speed = s._number(env, "LESSON_REPLAY_SPEED", 1.0, 10.0,
                            "use 1 (as recorded), 0 (instant), or up to 10: it multiplies every recorded pause, "
                            "so 2 is twice as slow and 0.5 twice as fast")
        s.budget_usd = s._number(env, "LESSON_BUDGET_USD", None, 1000.0,
                                 "give an amount in US dollars, e.g. LESSON_BUDGET_USD=0.50")
        # a relative folder is read from the .env's folder, not the working one (a kernel's is notebooks/)
        here = s.env_file.parent if s.env_file else REPO_ROOT
        s.cassette_dir = here / (env.get("LESSON_CASSETTE_DIR") or CASSETTE_DIR)
        s.budget_file = here / (env.get("LESSON_BUDGET_FILE") or ".lesson-budget.sqlite")
        return s

    def _problem(self, setting: str, what: str, fix: str, sep: str = ":", message: str = "") -> None:
        self.problems.append(LessonSetupError(message or f"{what}{sep} {fix}.", setting=setting, what=what, fix=fix))

    def _number(self, env: dict[str, str], name: str, default: float | None, most: float, hint: str) -> float | None:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            what = f"{name}={raw!r} is not a number"
        else:
            what = (f"{name}={raw!r} is not a finite number" if not math.isfinite(value)
                    else f"{name} must be 0 or more, not {raw}" if value < 0
                    else f"{name}={raw} is more than {most:g}" if value > most else "")
            if not what:
                return value
        self._problem(name, what, hint, ";")
        return default

    def local(self, provider: str) -> bool:
        """True when this provider is pointed at another server (Ollama, vLLM, a test fake) than its own API."""
        return not PROVIDERS[provider].is_own_api(self.upstreams[provider])

    def key_problem(self, provider: str) -> LessonSetupError | None:
        """Why this provider's key cannot be used (``what`` and ``fix``), or None. Never echoes the key."""
        p, value, local = PROVIDERS[provider], self.keys.get(provider, ""), self.local(provider)

        def problem(what: str, fix: str, sep: str = ":") -> LessonSetupError:
            return LessonSetupError(f"{p.key_env} {what}{sep} {fix}.", setting=p.key_env, what=what, fix=fix)

        if not value:  # Ollama, vLLM and llama.cpp accept any key
            return None if local else problem(UNSET, "add it to .env (see .env.example), or use LESSON_MODE=replay, "
                                                     "which needs no key")
        if value.startswith(("<", "your", "replay-mode")) or "..." in value:
            return problem(PLACEHOLDER, "paste your real key")
        if any(ch.isspace() for ch in value) or value[0] in "'\"" or value[-1] in "'\"":
            return problem("contains spaces or quotes",
                           f"in .env write it bare, e.g. {p.key_env}={p.key_example}, with nothing else")
        if local:
            return None
        # the most specific shape it has: an Anthropic key also has the shape of an OpenAI key, not the reverse
        owner = max((q for q in PROVIDERS.values() if q.key_pattern.match(value)), key=lambda q: len(q.key_example),
                    default=None)
        if owner is None:
            return problem(f"does not look like a key (expected {p.key_example} and at least 20 more characters)",
                           "check for a copy-paste slip", ";")
        if owner is not p:
            return problem(f"holds an {owner.title} key ({owner.key_example})", f"put it in {owner.key_env} instead")
        return None

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
    cassette: Path = field(repr=False)
    server: ReplayServer | None = field(default=None, repr=False)
    local: tuple[str, ...] = field(default=(), repr=False)  # providers pointed at a local server (issue 13)

    @property
    def banner(self) -> str:
        """What setup() prints: the mode, where the answers come from, who bills them (and the cap)."""
        rel = f"cassettes/{self.cassette.name}"
        if self.mode == "replay":
            scale = self.server.scale if self.server else 1
            pace = ("instant" if scale == 0 else "paced as recorded" if scale == 1
                    else f"paced at {scale:g}x recorded time")
            return f"replay mode: answers come from {rel} (no API key needed; streams {pace})"
        budget = self.server.budget if self.server else None
        cap = "" if budget is None else (f"; spending cap ${budget.limit_usd:.2f} for the whole course, "
                                         f"${budget.spent_usd:.4f} spent so far: see lessonlib.budget.spent()")
        if self.mode == "record":
            return f"record mode: real calls, saved to {rel} when the kernel shuts down (API keys from .env{cap})"
        here = [p for p in PROVIDERS.values() if p.name in self.local]
        there = [p for p in PROVIDERS.values() if p.name not in self.local]
        if not here:
            return f"live mode: real calls to the providers, billed to your API keys{cap}"
        if not there:  # issue 13: nothing here is billed by a provider
            urls = ", ".join(p.base_url_env for p in here)
            return f"live mode: real calls to local servers ({urls}), not billed by a provider{cap}"
        return (f"live mode: {here[0].title} calls go to a local server ({here[0].base_url_env}); {there[0].title} "
                f"calls go to the provider, billed to your {there[0].key_env}{cap}")


_ACTIVE: dict[str, Any] = {}  # this kernel's server, its cell hook and the Course setup() returned
# what setup() set in os.environ -> (the learner's own value, what setup() set it to); None: unset
_REPLACED: dict[str, tuple[str | None, str | None]] = {}


def _put(env: MutableMapping[str, str], values: dict[str, str | None]) -> None:
    """Set each of ``values`` in ``env``; None removes the variable."""
    for var, value in values.items():
        if value is None:
            env.pop(var, None)
        else:
            env[var] = value


def _learner_values() -> dict[str, str | None]:
    """The learner's own values of what setup() replaced; one the learner has set since (``os.environ[...] =``
    in a cell) is theirs already and is left as they set it."""
    return {var: old for var, (old, new) in _REPLACED.items() if os.environ.get(var) == new}


def learner_environ() -> dict[str, str]:
    """The environment as the learner set it: what setup() replaced (replay URLs, placeholder keys) undone."""
    env = dict(os.environ)
    _put(env, _learner_values())
    return env


def _set_env(var: str, value: str | None) -> None:
    """Set (None: remove) an environment variable for this session, remembering the learner's value."""
    _REPLACED[var] = (_REPLACED[var][0] if var in _REPLACED else os.environ.get(var), value)
    _put(os.environ, {var: value})


@atexit.register
def _stop_active(keep_recording: bool = False) -> None:
    """Stop this kernel's server (saving a recording) and undo the environment changes setup made.
    ``keep_recording``: setup() re-run for the same recording carries it over, unsaved, so the cassette (its
    authored faults still to play) stays as it was."""
    shell, hook = _ACTIVE.pop("hook", (None, None))
    if shell is not None and hook in shell.events.callbacks["pre_run_cell"]:
        shell.events.unregister("pre_run_cell", hook)
    _ACTIVE.pop("course", None)
    server = _ACTIVE.pop("server", None)
    if server is not None:
        if server.mode == "record":
            server.wait_for_calls() if keep_recording else server.finish()
        server.stop()
    _put(os.environ, _learner_values())
    _REPLACED.clear()


def _provenance(settings: Settings) -> dict[str, Any]:
    """What a recording says about how it was made."""
    return {
        "kind": "recorded",
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sdk_versions": {pkg: version(pkg) for pkg in ("openai", "anthropic")},
        "upstreams": {p: scrub_url(u) for p, u in settings.upstreams.items()},
        "models": dict(settings.models),  # issue 13: replay uses the models a recording was made with
    }


CELLS_KEPT_DAYS = 7  # a kernel's file of what its cells replayed, untouched this long, is an ended kernel's


def _cells_file(cassette: Path) -> Path | None:
    """Where replay keeps which recordings each cell played, named by this kernel's connection file: a kernel
    restart keeps it (Jupyter restarts a kernel under the same id), a new kernel gets a new one. None outside one.
    Ended kernels' files are removed after CELLS_KEPT_DAYS (the temp folder of Windows is never emptied)."""
    try:
        from ipykernel.connect import get_connection_file

        kernel = Path(get_connection_file()).stem
    except (ImportError, RuntimeError):
        return None
    folder = Path(tempfile.gettempdir()) / "lessonlib-replay"
    for old in folder.glob("*.json"):
        with suppress(OSError):  # another kernel's, removed meanwhile
            if time.time() - old.stat().st_mtime > CELLS_KEPT_DAYS * 86400:
                old.unlink()
    return folder / f"{kernel}-{Path(cassette).stem}.json"


def _follow_cells(server: ReplayServer) -> None:
    """Tell the server which notebook cell runs, so a re-run cell replays its own answers again."""

    def before(info: Any) -> None:
        server.begin_cell(getattr(info, "cell_id", None))

    if (shell := ipython_shell()) is not None:
        shell.events.register("pre_run_cell", before)
        _ACTIVE["hook"] = (shell, before)


def setup(name: str, *, env_file: str | os.PathLike[str] | None = None, quiet: bool = False) -> Course:
    """Set up one notebook: load .env, choose the mode, start replay/record, print a banner.

    ``name`` is the notebook's name without ``.ipynb`` (e.g. ``"04_streaming"``); its cassette is
    ``notebooks/cassettes/<name>.yaml``. Calling it again (re-running the cell) restarts cleanly.
    Taught in: 01_setup.
    """
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))
    name = name.removesuffix(".ipynb")  # setup("04_streaming.ipynb") means the same notebook
    settings = Settings.read(env_file)
    if not settings.full_tracebacks:  # .env is read by now: LESSON_FULL_TRACEBACKS may be set there
        install_error_display()
    elif (shell := ipython_shell()) is not None:  # set since an earlier run: the short display comes off
        shell.set_custom_exc((), None)
    if settings.problems:  # before anything stops: a slip in .env leaves a running set-up (and its cap) as it was
        raise settings.problems[0]
    cassette = settings.cassette(name)
    loaded = None
    if settings.mode == "replay" or (settings.mode == "record" and cassette.exists()):
        try:  # before anything stops, as above: a missing or broken cassette leaves a running set-up as it was
            loaded = Cassette.load(cassette)
        except CassetteError as exc:
            raise LessonSetupError(str(exc)) from None
    previous = _ACTIVE.get("server")  # record mode: a re-run of this cell must keep what was recorded so far
    # ...and clients made before it keep working: the new server takes the old one's port (and secret)
    port, token = (previous.port, previous.token) if previous is not None and previous._httpd else (0, "")
    same = previous is not None and previous.mode == settings.mode and previous.cassette_path == cassette
    same_recording = same and settings.mode == "record"
    _stop_active(keep_recording=same_recording)  # a re-run of the set-up cell starts from the learner's environment
    settings = Settings.read(env_file)  # again: .env may now set a variable that setup() had replaced (a key)
    if settings.problems:
        raise settings.problems[0]
    test_options = server_options(name, settings.mode)  # the test suite's switches; none in a learner's kernel
    for p in PROVIDERS.values():  # an empty OPENAI_BASE_URL= means the provider, here as in Settings: not the URL ""
        if not os.environ.get(p.base_url_env, "-").strip():
            _set_env(p.base_url_env, None)
    mode = settings.mode
    course = Course(name=name, mode=mode, openai_model=settings.openai_model,
                    anthropic_model=settings.anthropic_model, cassette=cassette,
                    local=tuple(p for p in PROVIDERS if settings.local(p)))

    # Issue 13: a key is needed only by the provider a cell calls. A missing or unusable key does not stop the
    # set-up: the local server answers that provider's first call with the reason, naming the key.
    key_problems = {p: str(e) for p in PROVIDERS if mode != "replay" and (e := settings.key_problem(p))}
    try:
        budget = (None if settings.budget_usd is None or mode == "replay"
                  else session_budget(settings.budget_usd, settings.budget_file))
    except sqlite3.Error as exc:  # a folder the learner may not write to, a file that is not a ledger
        what = f"the spending cap's ledger {settings.budget_file} could not be used ({exc})"
        raise LessonSetupError(f"{what}: set LESSON_BUDGET_FILE in .env to a file you may write, then restart the "
                               "kernel.", setting="LESSON_BUDGET_FILE", what=what,
                               fix="set LESSON_BUDGET_FILE in .env to a file you may write") from None
    # plain live mode: the SDKs talk to the providers directly (a provider without a usable key excepted, below)
    if mode != "live" or budget is not None or key_problems:
        server = ReplayServer(
            course.cassette, mode=mode, speed=settings.speed, upstreams=settings.upstreams,
            secrets=(*settings.keys.values(), *settings.tokens.values()), budget=budget, cassette=loaded, token=token,
            provenance=_provenance(settings) if mode == "record" else None, cells_file=_cells_file(course.cassette),
            **test_options,
        ).start(port)
        _ACTIVE["server"] = course.server = server
        if same_recording:  # issue 13: set up, call, set up again, call
            server.recording.interactions.extend(previous.recording.interactions)
        elif same and mode == "replay":
            server.carry_on(previous)
        _follow_cells(server)
        server.key_problems = key_problems  # issue 13: answered by the server
        # plain live mode with a key problem: only that provider goes through the server, to hear the reason
        proxied = key_problems if mode == "live" and budget is None else PROVIDERS
        for p in proxied:
            _set_env(PROVIDERS[p].base_url_env, getattr(server, f"{p}_base_url"))
        if mode == "replay":
            recorded = server.cassette.provenance.get("models") or {}
            for p in PROVIDERS:  # issue 13: a recording made with other models replays with them
                if p not in settings.chosen_models and recorded.get(p):
                    setattr(course, f"{p}_model", recorded[p])
                _set_env(PROVIDERS[p].key_env, REPLAY_KEY)
                if PROVIDERS[p].token_env:  # the SDK would send it, in place of the replay key
                    _set_env(PROVIDERS[p].token_env, None)
    for p in PROVIDERS:  # issue 13: in live and record mode the SDKs need some key to build a client (a token will
        # do: a placeholder key would be sent in its place, as anthropic sends api_key's Authorization after it)
        if mode != "replay" and (p in key_problems or not (settings.keys[p] or settings.tokens.get(p))):
            _set_env(PROVIDERS[p].key_env, NO_KEY_PLACEHOLDER)
    if _REPLACED:
        _set_env(SET_UP_MARK, str(os.getpid()))
    if not quiet:
        print(course.banner)
        for p, problem in key_problems.items():
            print(f"note: {PROVIDERS[p].title} calls will fail until this is fixed: {problem}")
        if budget is not None:  # a cap cannot count what the price table does not know (a local server bills nothing)
            for warning in filter(None, (check_model_is_priced(m) for p, m in settings.models.items()
                                         if not settings.local(p))):
                print(f"warning: {warning}")
    _ACTIVE["course"] = course  # the exercise checks that call a model use its models
    return course
