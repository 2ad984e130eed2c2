"""``python -m lessonlib doctor [--live]``: check this machine's set-up, one line per check.

From a notebook cell: ``from lessonlib.doctor import run_doctor; run_doctor()``. A failing line says what is wrong
and how to fix it; the exit code is 1 when any check failed. Keys are checked for their shape only and never
printed. ``--live`` adds one tiny real call to each provider (5 output tokens). Taught in: 01_setup.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from operator import attrgetter
from pathlib import Path

from .budget import Budget
from .cassette import Cassette
from .config import (PLACEHOLDER, REPO_ROOT, SET_UP_MARK, TIKTOKEN_CACHE, UNSET, Settings, find_env_file,
                     learner_environ)
from .display import console_shows, ipython_shell
from .errors import CassetteError
from .prices import usage_tokens
from .providers import PROVIDERS
from .redact import hide_keys, scrub_text, scrub_url
from .replay import ReplayServer

__all__ = ["REQUIREMENTS", "check_replay", "run_doctor"]

# LESSON_REQUIREMENTS: another lock to check against (make canary points it at the canary's own).
REQUIREMENTS = Path(os.environ.get("LESSON_REQUIREMENTS") or REPO_ROOT / "requirements.txt")
# How the doctor calls each SDK: module, client class, create method, its output-token limit.
SDKS = {"openai": ("openai", "OpenAI", "chat.completions.create", "max_completion_tokens"),
        "anthropic": ("anthropic", "Anthropic", "messages.create", "max_tokens")}
# Which doctor line reports a problem of Settings, by its setting (the others go on the "mode" line).
LINE_OF = {".env": ".env", "LESSON_REPLAY_SPEED": "settings", "LESSON_BUDGET_USD": "settings"}
# What a failed live call means and what to do, by SDK exception (the same names in both SDKs); first match wins.
LIVE_ERRORS = (
    ("AuthenticationError", "the provider rejected {key} (401)", "create a new key at {page} and put it in .env"),
    ("PermissionDeniedError", "this key may not use {model} (403): {said}",
     "check the key's project, organisation or region"),
    ("NotFoundError", "model {model!r} not found for this key (404): {said}",
     "set {model_env} in .env to a model your account can use"),
    ("RateLimitError", "rate limited or out of credit (429): {said}", "wait a minute, or check your plan and billing"),
    ("APIConnectionError", "cannot reach {where}: {said}", "check your network or proxy, or {base_url_env} in .env"),
    ("APIStatusError", "HTTP {status}: {said}", "try again later; if it persists, see the provider's status page"),
)


@dataclass
class Check:
    status: str  # "ok", "warn" (does not fail the run) or "fail"
    name: str
    detail: str
    fix: str = ""


def _failed(s: Settings, line: str) -> Check | None:
    """This line's failure, from the problems Settings found (each says what and how to fix)."""
    problems = [p for p in s.problems if LINE_OF.get(p.setting, "mode") == line]
    if not problems:
        return None
    return Check("fail", line, "; ".join(p.what for p in problems), "; ".join(dict.fromkeys(p.fix for p in problems)))


def _call(provider: str, options: dict[str, object], **body: object) -> object:
    """One create call through this provider's SDK, as a notebook makes it (without retries)."""
    module, client_class, create, _ = SDKS[provider]
    client = getattr(importlib.import_module(module), client_class)(max_retries=0, **options)
    return attrgetter(create)(client)(**body)


def check_python() -> Check:
    """Always ok: before 3.11, lessonlib fails on import (replay.py's datetime.UTC), before any check runs."""
    v = sys.version_info
    return Check("ok", "python", f"{v.major}.{v.minor}.{v.micro} ({sys.executable})")


def check_packages() -> Check:
    if not REQUIREMENTS.exists():
        return Check("fail", "packages", f"{REQUIREMENTS} is missing", "run the doctor from the course checkout")
    from packaging.markers import Marker

    wrong, missing, pins = [], [], 0
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        pin = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)\s*(?:;([^#]*))?", line)
        if not pin or (pin[3] and not Marker(pin[3]).evaluate()):
            continue  # comments, and pins for another Python or platform (the lock covers 3.11-3.13)
        pins += 1
        try:
            if version(pin[1]) != pin[2]:
                wrong.append(f"{pin[1]} {version(pin[1])} (wants {pin[2]})")
        except PackageNotFoundError:
            missing.append(pin[1])
    if not (wrong or missing):
        return Check("ok", "packages", f"all {pins} pins in requirements.txt match")
    detail = "; ".join(filter(None, [", ".join(wrong), missing and "missing: " + ", ".join(missing)]))
    return Check("fail", "packages", detail,
                 "run `make install` (or `pip install --no-deps -r requirements.txt` in the venv)")


def _in_kernel() -> bool:
    return getattr(ipython_shell(), "kernel", None) is not None


def check_kernel() -> Check:
    """Inside a kernel: which Python it is. From the shell: which Python the `python3` kernel will run."""
    if _in_kernel():
        if not (REPO_ROOT / "notebooks").is_dir():
            return Check("fail", "kernel", f"this kernel ({sys.executable}) runs an installed copy of lessonlib",
                         "pick the course's kernel, "
                         "or `pip install --no-deps -r requirements.txt` in the course folder")
        where = "the course's .venv" if Path(sys.prefix).resolve().is_relative_to(REPO_ROOT / ".venv") else "not .venv"
        return Check("ok", "kernel", f"this kernel runs {sys.executable} ({where}; lessonlib from {REPO_ROOT})")
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Check("fail", "kernel", "Jupyter is not installed in this Python", "run `make install`")
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return Check("fail", "kernel", "no `python3` kernel is installed", "`make install` brings one")
    python = spec.argv[0]
    if python in ("python", "python3", f"python3.{sys.version_info[1]}"):  # Jupyter starts it with its own Python
        return Check("ok", "kernel", f"the `python3` kernel runs the Python that starts Jupyter ({sys.executable})")
    try:
        probe = subprocess.run([python, "-c", "import lessonlib; print(lessonlib.__file__)"],
                               capture_output=True, text=True, timeout=60, check=False)
        ours = probe.returncode == 0 and Path(probe.stdout.strip()).resolve().is_relative_to(REPO_ROOT.resolve())
    except (OSError, subprocess.TimeoutExpired):
        ours = False
    if ours:
        return Check("ok", "kernel", f"the `python3` kernel runs {python}, which imports lessonlib from this checkout")
    return Check("fail", "kernel", f"the `python3` kernel ({spec.resource_dir}) runs {python}, without this lessonlib",
                 f"run `{sys.executable} -m ipykernel install --user --name python3`, or remove that kernelspec")


def check_env(s: Settings) -> Check:
    if s.env_file is None:
        odd = next((p for p in (Path.cwd() / ".env", REPO_ROOT / ".env") if p.is_symlink() or p.exists()), None)
        if odd:  # find_dotenv passes over it: a virtualenv called .env, or a link to a file since moved
            what = ("a folder" if odd.is_dir() else f"a link to {os.readlink(odd)}, which does not exist"
                    if odd.is_symlink() else "not a file")
            return Check("warn", ".env", f"{odd} is {what}, so no settings are read from it",
                         "move it away, then copy .env.example to .env for live or record")
        return Check("ok", ".env", "none found: fine for replay mode (copy .env.example to .env for live or record)")
    return _failed(s, ".env") or Check("ok", ".env", f"found at {s.env_file}")


def check_mode(s: Settings) -> Check:
    if failed := _failed(s, "mode"):
        return failed
    shown = f"{s.mode}, models {s.openai_model} / {s.anthropic_model}"
    if s.mode == "replay" and any(s.models[p.name] != p.default_model for p in PROVIDERS.values()):
        return Check("warn", "mode", f"{shown}: the cassettes were made with the default models, so replays will miss",
                     f"remove {' / '.join(p.model_env for p in PROVIDERS.values())} from .env for replay mode")
    return Check("ok", "mode", shown)


def _works_instead(s: Settings, provider: str) -> str | None:
    """Another provider that works, when this one's key is only left out: then its cells alone fail (issue 13)."""
    problem = s.key_problem(provider)
    if problem is None or problem.what not in (UNSET, PLACEHOLDER):
        return None
    return next((p.title for p in PROVIDERS.values() if p.name != provider and s.key_problem(p.name) is None), None)


def check_key(s: Settings, provider: str, needed: bool) -> Check:
    p, problem = PROVIDERS[provider], s.key_problem(provider)
    if problem is None:
        detail = "set, looks like a key" if s.keys[provider] else "not set (fine for a local server)"
        return Check("ok", p.key_env, detail + (f"; {p.base_url_env} points elsewhere" if s.local(provider) else ""))
    if not needed:
        later = "" if problem.what == UNSET else f" (for live mode: {problem})"
        return Check("ok", p.key_env, "not needed in replay mode" + later)
    what, other = problem.what.removeprefix("is "), _works_instead(s, provider)
    if other:
        return Check("warn", p.key_env, f"{what}: the {p.title} cells will fail until you set it (fine if you run "
                                        f"only {other} cells)", problem.fix)
    return Check("fail", p.key_env, what, problem.fix)


def check_settings(s: Settings) -> Check:
    cap = ("LESSON_BUDGET_USD unset (no spending cap)" if s.budget_usd is None
           else f"LESSON_BUDGET_USD={s.budget_usd:g} (the spending cap in live and record mode)")
    if s.budget_usd is not None and s.budget_file.is_file():  # what the course's kernels have spent so far
        try:
            cap += f": {Budget(s.budget_usd, s.budget_file).summary()}"
        except sqlite3.Error as exc:
            cap += f": its ledger {s.budget_file} cannot be read ({exc}); delete it to start a new count"
    return _failed(s, "settings") or Check("ok", "settings", f"LESSON_REPLAY_SPEED={s.speed:g} (1: as recorded), {cap}")


def check_cassettes(s: Settings) -> Check:
    names = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    kinds: Counter[str] = Counter()
    broken, interactions = [], 0
    for name in names:
        try:
            cassette = Cassette.load(s.cassette_dir / f"{name}.yaml")
        except CassetteError as exc:
            broken.append(exc.short)
            continue
        kinds[str(cassette.provenance.get("kind", "of unknown provenance"))] += 1
        interactions += len(cassette.interactions)
    if broken:
        return Check("fail", "cassettes", f"{len(broken)} of {len(names)} unusable in {s.cassette_dir}: "
                     + "; ".join(broken),
                     "`git checkout -- notebooks/cassettes/` restores them; `make record NOTEBOOKS=NN_name` re-records")
    made = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return Check("ok", "cassettes", f"{len(names)} notebooks, all cassettes load ({made}; {interactions} interactions)")


def check_tiktoken() -> Check:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))  # as setup() does
    import tiktoken
    import tiktoken.load

    def offline(blobpath: str) -> bytes:
        raise RuntimeError(f"not in TIKTOKEN_CACHE_DIR={os.environ['TIKTOKEN_CACHE_DIR']}, tiktoken would download it")

    original, tiktoken.load.read_file = tiktoken.load.read_file, offline  # so a cache miss fails here, offline
    try:
        for name in ("o200k_base", "cl100k_base"):
            enc = tiktoken.get_encoding(name)
            assert enc.decode(enc.encode("hello world")) == "hello world"
    except Exception as exc:  # noqa: BLE001 - whatever it is, the learner needs to see it
        return Check("fail", "tiktoken", f"{name}: {exc}",
                     "restore lessonlib/tiktoken_cache/ with git, and unset TIKTOKEN_CACHE_DIR")
    finally:
        tiktoken.load.read_file = original
    return Check("ok", "tiktoken", "o200k_base and cl100k_base load offline")


def _text(answer: dict) -> str | None:
    """The first text of a chat completion or of a message, as JSON."""
    if "choices" in answer:
        return answer["choices"][0]["message"]["content"]
    return next((b.get("text") for b in answer.get("content", []) if b.get("type") == "text"), None)


def check_replay(s: Settings | None = None) -> Check:
    """Notebook 01's first call to each provider, through its SDK, against a replay server on its cassette.

    The calls are the cassette's own requests (issue 13: a recorded cassette has other models, another order, and
    notebook 01's raw httpx2 call besides), so any recording of notebook 01 passes, not only the authored one."""
    fix = "restore notebooks/cassettes/01_setup.yaml with git; if it is intact, `make install` (an SDK may be broken)"
    try:
        server = ReplayServer((s or Settings.read()).cassette_dir / "01_setup.yaml", mode="replay", speed=0).start()
    except Exception as exc:  # noqa: BLE001
        why = exc.short if isinstance(exc, CassetteError) else f"{type(exc).__name__}: {exc}"
        return Check("fail", "replay", f"cannot start a replay server on {why}", fix)
    try:
        calls = {}
        for item in server.cassette.interactions:  # the first plain 200 answer of each provider's chat endpoint
            p = next((p.name for p in PROVIDERS.values() if p.endpoint == item.path), None)
            if (p and p not in calls and isinstance(item.body, dict) and not item.body.get("stream")
                    and int(item.response["status"]["code"]) == 200):
                calls[p] = (item.body, json.loads(item.response_body()))
        missing = [p.title for p in PROVIDERS.values() if p.name not in calls]
        if missing:
            return Check("fail", "replay", f"01_setup.yaml holds no plain {' or '.join(missing)} call to replay", fix)
        for p, (body, stored) in calls.items():
            options = {"base_url": getattr(server, f"{p}_base_url"), "api_key": "replay", "timeout": 10}
            if _text(_call(p, options, **body).model_dump()) != _text(stored):
                what = f"the {PROVIDERS[p].title} SDK read another text than the cassette holds"
                return Check("fail", "replay", what, fix)
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "replay", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", fix)
    finally:
        server.stop()
    sdks = " and ".join(f"{m} {version(m)}" for m, *_ in SDKS.values())
    return Check("ok", "replay", f"{sdks} replayed notebook 01's two calls")


def _scrub(text: object, s: Settings) -> str:
    """Providers' messages can quote a masked key (sk-proj-****abcd): hide every key-like piece."""
    text = scrub_text(" ".join(str(text).split()), tuple(s.keys.values()))
    return re.sub(r"sk-[\w\-*.]*|\*{3,}\w*", "[key hidden]", text)[:200]


def check_live(s: Settings, provider: str) -> Check:
    """One real call with 5 output tokens, straight to the provider (or to the server in *_BASE_URL)."""
    p, name = PROVIDERS[provider], f"live {provider}"
    if s.key_problem(provider):
        status = "warn" if _works_instead(s, provider) else "fail"  # as check_key (issue 13)
        return Check(status, name, "not called", f"fix {p.key_env} first (see above)")
    module, _, _, limit = SDKS[provider]
    model, sdk = s.models[provider], importlib.import_module(module)
    options = {"api_key": s.keys[provider] or "local", "base_url": s.upstreams[provider], "timeout": 30}
    started = time.perf_counter()
    try:
        reply = _call(provider, options, model=model, messages=[{"role": "user", "content": "Say OK."}], **{limit: 5})
    except sdk.APIError as exc:
        body = getattr(exc, "body", None)  # OpenAI's body is the error object; Anthropic's wraps it
        body = body.get("error", body) if isinstance(body, dict) else None
        said = body["message"] if isinstance(body, dict) and body.get("message") else getattr(exc, "message", exc)
        facts = {"key": p.key_env, "page": p.key_page, "model": model, "model_env": p.model_env,
                 "base_url_env": p.base_url_env, "where": scrub_url(s.upstreams[provider]),
                 "said": _scrub(said, s) if isinstance(exc, sdk.APIStatusError)
                 else f"{type(exc).__name__}: {_scrub(exc.__cause__ or exc, s)}",
                 "status": getattr(exc, "status_code", "?")}
        _, what, fix = next(e for e in LIVE_ERRORS if isinstance(exc, getattr(sdk, e[0])))
        return Check("fail", name, what.format(**facts), fix.format(**facts))
    if isinstance(reply, str):  # the SDKs hand back a body that is not JSON as text (a web UI's page, say)
        return Check("fail", name, f"{scrub_url(s.upstreams[provider])} answered with a page, not the API's JSON",
                     f"set {p.base_url_env} in .env to the API's address, not a web page's")
    used = "{} in, {} out".format(*usage_tokens(reply.usage)) if reply.usage else "no usage reported"
    return Check("ok", name, f"{model} answered in {time.perf_counter() - started:.1f} s ({used})")


def run_doctor(live: bool = False) -> int:
    """Print one line per check and a summary; return 0 when nothing failed, else 1 (the exit code)."""
    plain = not console_shows("✔✘—…")  # a console that cannot show them: ASCII only (a key's shape has …)
    marks = {"ok": "ok", "warn": "warn", "fail": "FAIL"} if plain else {"ok": "✔", "warn": "!", "fail": "✘"}
    dash = " -- " if plain else " — "
    s = Settings.read(find_env_file() or os.devnull)  # os.devnull: none found, so none is searched for again
    needed = live or s.mode in ("live", "record")
    checks = [("python", check_python), ("packages", check_packages), ("kernel", check_kernel),
              (".env", lambda: check_env(s)), ("mode", lambda: check_mode(s))]
    checks += [(PROVIDERS[p].key_env, lambda p=p: check_key(s, p, needed)) for p in PROVIDERS]
    checks += [("settings", lambda: check_settings(s)), ("cassettes", lambda: check_cassettes(s)),
               ("tiktoken", check_tiktoken), ("replay", lambda: check_replay(s))]
    checks += [(f"live {p}", lambda p=p: check_live(s, p)) for p in PROVIDERS if live]
    if learner_environ().get(SET_UP_MARK):  # started from a kernel after setup(): not the learner's environment
        checks.insert(0, ("environment", lambda: Check(
            "fail", "environment", "this process inherited the environment of a notebook kernel after "
            "lessonlib.setup() (replay URLs and placeholder keys), so the lines below are not about your set-up",
            "run `python -m lessonlib doctor` in a terminal, or in the notebook: "
            "`from lessonlib.doctor import run_doctor; run_doctor()`")))
    results: list[Check] = []
    for name, check in checks:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failing line, not a traceback
            result = Check("fail", name, f"the check crashed: {type(exc).__name__}: {_scrub(exc, s)}",
                           "please report it")
        results.append(result)
        text = f"{marks[result.status]} {result.name}: {result.detail}" + (dash + result.fix if result.fix else "")
        text = hide_keys(text)  # no key-shaped value is ever shown, whatever a check found
        print(text.replace("…", "...").encode("ascii", "replace").decode() if plain else text, flush=True)
    failed, warned = sum(c.status == "fail" for c in results), sum(c.status == "warn" for c in results)
    verdict = "all good" if not failed else f"fix the lines marked {marks['fail']}"
    print(f"doctor: {len(results)} checks, {failed} failed, {warned} warnings: {verdict}"
          + ("" if live else " (--live adds a real call to each provider)"))
    return 1 if failed else 0
