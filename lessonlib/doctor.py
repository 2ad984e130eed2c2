"""``python -m lessonlib doctor [--live]``: check this machine's set-up, one line per check.

From a notebook cell: ``from lessonlib.doctor import run_doctor; run_doctor()``. A failing line says
what is wrong and how to fix it; the exit code is 1 when any check failed. Keys are checked for their
shape only and never printed, not even in part. ``--live`` (``run_doctor(live=True)``) adds one tiny
real call to each provider (5 output tokens). Taught in: 01_setup (workshop notes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import config
from .config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL, REPO_ROOT, TIKTOKEN_CACHE, Settings
from .redact import hide_keys, scrub_url
from .replay import DEFAULT_UPSTREAMS

__all__ = ["REQUIREMENTS", "run_doctor"]

# LESSON_REQUIREMENTS: another lock to check against (make canary points it at the canary's own).
REQUIREMENTS = Path(os.environ.get("LESSON_REQUIREMENTS") or REPO_ROOT / "requirements.txt")
NOTEBOOKS = REPO_ROOT / "notebooks"
PROVIDERS = ("openai", "anthropic")
DEFAULT_MODELS = {"openai": DEFAULT_OPENAI_MODEL, "anthropic": DEFAULT_ANTHROPIC_MODEL}
KEY_PAGES = {"openai": "platform.openai.com/api-keys", "anthropic": "console.anthropic.com/settings/keys"}
# What a failed live call means and what to do, by SDK exception (the same names in both SDKs); first match wins.
LIVE_ERRORS = (
    ("AuthenticationError", "the provider rejected {key} (401)", "create a new key at {page} and put it in .env"),
    ("PermissionDeniedError", "this key may not use {model} (403): {said}",
     "check the key's project, organisation or region"),
    ("NotFoundError", "model {model!r} not found for this key (404): {said}",
     "set LESSON_{P}_MODEL in .env to a model your account can use"),
    ("RateLimitError", "rate limited or out of credit (429): {said}", "wait a minute, or check your plan and billing"),
    ("APIConnectionError", "cannot reach {where}: {said}", "check your network or proxy, or {P}_BASE_URL in .env"),
    ("APIStatusError", "HTTP {status}: {said}", "try again later; if it persists, see the provider's status page"),
)


@dataclass
class Check:
    status: str  # "ok", "warn" (does not fail the run) or "fail"
    name: str
    detail: str
    fix: str = ""


def _env(name: str) -> str:
    """The learner's own setting: in a kernel, what setup() replaced (replay URL, placeholder key) is undone."""
    return (config.learner_environ().get(name) or "").strip()


_FOUND: dict[str, Path | None] = {}  # the .env this doctor run reads (find_env_file)


def _settings() -> Settings:
    return Settings.read(_FOUND.get("env") or os.devnull, environ=config.learner_environ())


def _cassette_dir() -> Path:
    return _settings().cassette_dir


def _local(provider: str) -> bool:
    """True when the SDK is pointed at another server (Ollama, vLLM, a test fake) instead of the provider."""
    return _env(f"{provider.upper()}_BASE_URL").rstrip("/") not in ("", DEFAULT_UPSTREAMS[provider])


def check_python() -> Check:
    v = sys.version_info
    if v >= (3, 11):
        return Check("ok", "python", f"{v.major}.{v.minor}.{v.micro} ({sys.executable})")
    return Check("fail", "python", f"{v.major}.{v.minor} is too old, the SDKs need 3.11+",
                 "install Python 3.11+, then `make install`")


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
            have = version(pin[1])
        except PackageNotFoundError:
            missing.append(pin[1])
            continue
        if have != pin[2]:
            wrong.append(f"{pin[1]} {have} (wants {pin[2]})")
    if not (wrong or missing):
        return Check("ok", "packages", f"all {pins} pins in requirements.txt match")
    detail = "; ".join(filter(None, [", ".join(wrong), missing and "missing: " + ", ".join(missing)]))
    return Check("fail", "packages", detail, "run `make install` (or `pip install --no-deps -r requirements.txt` in the venv)")


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def check_kernel() -> Check:
    """Inside a kernel: which Python it is. From the shell: which Python the `python3` kernel will run."""
    if _in_kernel():
        if not (REPO_ROOT / "notebooks").is_dir():
            return Check("fail", "kernel", f"this kernel ({sys.executable}) runs an installed copy of lessonlib",
                         "pick the course's kernel, or `pip install --no-deps -r requirements.txt` in the course folder")
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


def find_env_file() -> Path | None:
    """The .env a notebook's setup() reads (from the working folder up, else the repo's), loaded as setup() does."""
    return Settings.read().env_file


def check_env(env_file: Path | None) -> Check:
    if env_file is None:
        return Check("ok", ".env", "none found: fine for replay mode (copy .env.example to .env for live or record)")
    problem = next((p for p in _settings().problems if p.setting == ".env"), None)
    if problem:
        return Check("fail", ".env", problem.what, problem.fix)
    return Check("ok", ".env", f"found at {env_file}")


def _problems(*names: str) -> list[config.LessonSetupError]:
    return [p for p in _settings().problems if p.setting in names]


def check_mode() -> Check:
    slips = [p for p in _settings().problems if p.what and "looks like an API key" in p.what]
    if slips:
        return Check("fail", "mode", "; ".join(p.what for p in slips), slips[0].fix)
    problem = _problems("LESSON_MODE")
    if problem:
        return Check("fail", "mode", problem[0].what, problem[0].fix)
    s = _settings()
    models = {"openai": s.openai_model, "anthropic": s.anthropic_model}
    shown = f"{s.mode}, models {models['openai']} / {models['anthropic']}"
    if s.mode == "replay" and models != DEFAULT_MODELS:
        return Check("warn", "mode", f"{shown}: the cassettes were made with the default models, so replays will miss",
                     "remove LESSON_OPENAI_MODEL / LESSON_ANTHROPIC_MODEL from .env for replay mode")
    return Check("ok", "mode", shown)


def check_key(provider: str, needed: bool) -> Check:
    name = f"{provider.upper()}_API_KEY"
    problem = config.check_key(name, _env(name) or None, local_upstream=_local(provider))  # never echoes the key
    if problem is None:
        detail = "set, looks like a key" if _env(name) else "not set (fine for a local server)"
        elsewhere = f"; {provider.upper()}_BASE_URL points elsewhere" if _local(provider) else ""
        return Check("ok", name, detail + elsewhere)
    if not needed:
        later = "" if problem.what == "is not set" else f" (for live mode: {problem})"
        return Check("ok", name, "not needed in replay mode" + later)
    what, how = problem.what.removeprefix("is "), problem.fix or f"get one at {KEY_PAGES[provider]}"
    if _only_unfilled(problem.what) and _usable(_other(provider)):  # issue 13: keys are needed only by cells that call
        return Check("warn", name, f"{what}: the {_title(provider)} cells will fail until you set it (fine if you "
                                   f"run only {_title(_other(provider))} cells)", how)
    return Check("fail", name, what, how)


def _other(provider: str) -> str:
    return "anthropic" if provider == "openai" else "openai"


def _title(provider: str) -> str:
    return "OpenAI" if provider == "openai" else "Anthropic"


def _usable(provider: str) -> bool:
    """Whether live calls to this provider can work: a key that looks fine, or a local server that needs none."""
    name = f"{provider.upper()}_API_KEY"
    return config.check_key(name, _env(name) or None, local_upstream=_local(provider)) is None


def _only_unfilled(problem: object) -> bool:
    """A key left out (unset, or still .env.example's placeholder), not one mistyped: a warning when the other
    provider works, since setup() reports it only when a cell calls that provider (issue 13)."""
    problem = str(problem)
    return "is not set" in problem or "placeholder" in problem


def check_settings() -> Check:
    problems = _problems("LESSON_REPLAY_SPEED", "LESSON_BUDGET_USD")
    if problems:
        return Check("fail", "settings", " ".join(p.what + "." for p in problems).rstrip("."),
                     "; ".join(p.fix for p in problems))
    values = [f"{name}={_env(name)}" if _env(name) else f"{name} {unset}"
              for name, unset in (("LESSON_REPLAY_SPEED", "1 (as recorded)"), ("LESSON_BUDGET_USD", "unset (no spending cap)"))]
    return Check("ok", "settings", ", ".join(values))


def check_cassettes() -> Check:
    from .cassette import Cassette, CassetteError

    folder, names = _cassette_dir(), sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    kinds: dict[str, int] = {}
    broken, interactions = [], 0
    for name in names:
        path = folder / f"{name}.yaml"
        try:
            cassette = Cassette.load(path)
        except CassetteError as exc:
            broken.append(exc.short)
            continue
        kind = str(cassette.provenance.get("kind", "of unknown provenance"))
        kinds[kind] = kinds.get(kind, 0) + 1
        interactions += len(cassette.interactions)
    if broken:
        return Check("fail", "cassettes", f"{len(broken)} of {len(names)} unusable in {folder}: " + "; ".join(broken),
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


def check_replay() -> Check:
    """Notebook 01's first OpenAI and first Anthropic call, through both SDKs, against a replay server on its cassette.

    The calls are the cassette's own requests (issue 13: a recorded cassette has other models, another order, and
    notebook 01's raw httpx2 call besides), so any recording of notebook 01 passes, not only the authored one."""
    import anthropic
    import openai

    from .cassette import CassetteError
    from .replay import ReplayServer

    fix = "restore notebooks/cassettes/01_setup.yaml with git; if it is intact, `make install` (an SDK may be broken)"
    try:
        server = ReplayServer(_cassette_dir() / "01_setup.yaml", mode="replay", speed=0).start()
    except Exception as exc:  # noqa: BLE001
        why = exc.short if isinstance(exc, CassetteError) else f"{type(exc).__name__}: {exc}"
        return Check("fail", "replay", f"cannot start a replay server on {why}", fix)
    try:
        calls = {}
        for item in server.cassette.interactions:  # the first plain 200 answer of each provider's chat endpoint
            sdk = {"/v1/chat/completions": "OpenAI", "/v1/messages": "Anthropic"}.get(item.path)
            if (sdk and sdk not in calls and isinstance(item.body, dict) and not item.body.get("stream")
                    and int(item.response["status"]["code"]) == 200):
                calls[sdk] = (item.body, json.loads(item.response_body()))
        missing = [sdk for sdk in ("OpenAI", "Anthropic") if sdk not in calls]
        if missing:
            return Check("fail", "replay", f"01_setup.yaml holds no plain {' or '.join(missing)} call to replay", fix)
        (oai_body, oai_stored), (claude_body, claude_stored) = calls["OpenAI"], calls["Anthropic"]
        oai = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0, timeout=10)
        reply = oai.chat.completions.create(**oai_body)
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="replay", max_retries=0, timeout=10)
        message = claude.messages.create(**claude_body)
        first_text = next((b.text for b in message.content if b.type == "text"), None)
        stored_text = next((b.get("text") for b in claude_stored.get("content", []) if b.get("type") == "text"), None)
        for sdk, got, want in (
            ("OpenAI", reply.choices[0].message.content, oai_stored["choices"][0]["message"]["content"]),
            ("Anthropic", first_text, stored_text),
        ):
            if got != want:
                return Check("fail", "replay", f"the {sdk} SDK read another text than the cassette holds", fix)
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "replay", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", fix)
    finally:
        server.stop()
    return Check("ok", "replay", f"openai {openai.__version__} and anthropic {anthropic.__version__} "
                                 "replayed notebook 01's two calls")


def _scrub(text: object) -> str:
    """Providers' messages can quote a masked key (sk-proj-****abcd): hide every key-like piece."""
    from .redact import scrub_text

    text = scrub_text(" ".join(str(text).split()), tuple(_env(f"{p.upper()}_API_KEY") for p in PROVIDERS))
    return re.sub(r"sk-[\w\-*.]*|\*{3,}\w*", "[key hidden]", text)[:200]


def _said(exc: Exception) -> str:
    """The provider's own error message (OpenAI's body is the error object; Anthropic's wraps it)."""
    body = getattr(exc, "body", None)
    body = body.get("error", body) if isinstance(body, dict) else None
    return _scrub(body["message"] if isinstance(body, dict) and body.get("message") else getattr(exc, "message", exc))


def check_live(provider: str) -> Check:
    """One real call with 5 output tokens, straight to the provider (or to the server in *_BASE_URL)."""
    import anthropic
    import openai

    name, key, P = f"live {provider}", f"{provider.upper()}_API_KEY", provider.upper()
    problem = config.check_key(key, _env(key) or None, local_upstream=_local(provider))
    if problem:
        status = "warn" if _only_unfilled(problem) and _usable(_other(provider)) else "fail"  # as check_key (issue 13)
        return Check(status, name, "not called", f"fix {key} first (see above)")
    model, base_url = _env(f"LESSON_{P}_MODEL") or DEFAULT_MODELS[provider], _env(f"{P}_BASE_URL") or None
    sdk = openai if provider == "openai" else anthropic
    options = {"api_key": _env(key) or "local", "base_url": base_url, "max_retries": 0, "timeout": 30}
    say_ok = [{"role": "user", "content": "Say OK."}]
    started = time.perf_counter()
    try:
        if provider == "openai":
            usage = openai.OpenAI(**options).chat.completions.create(model=model, max_completion_tokens=5,
                                                                     messages=say_ok).usage
            used = f"{usage.prompt_tokens} in, {usage.completion_tokens} out" if usage else "no usage reported"
        else:
            usage = anthropic.Anthropic(**options).messages.create(model=model, max_tokens=5, messages=say_ok).usage
            used = f"{usage.input_tokens} in, {usage.output_tokens} out"
    except sdk.APIError as exc:
        status = isinstance(exc, sdk.APIStatusError)
        facts = {"key": key, "page": KEY_PAGES[provider], "model": model, "P": P,
                 "said": _said(exc) if status else f"{type(exc).__name__}: {_scrub(exc.__cause__ or exc)}",
                 "where": scrub_url(base_url or DEFAULT_UPSTREAMS[provider]), "status": getattr(exc, "status_code", "?")}
        for kind, what, fix in LIVE_ERRORS:
            if isinstance(exc, getattr(sdk, kind)):
                return Check("fail", name, what.format(**facts), fix.format(**facts))
        raise
    return Check("ok", name, f"{model} answered in {time.perf_counter() - started:.1f} s ({used})")


def run_doctor(live: bool = False) -> int:
    """Print one line per check and a summary; return 0 when nothing failed, else 1 (the exit code)."""
    marks, dash = {"ok": "✔", "warn": "!", "fail": "✘"}, " — "
    try:
        "✔✘—".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        marks, dash = {"ok": "ok", "warn": "warn", "fail": "FAIL"}, " -- "
    results: list[Check] = []

    def run(name: str, check: Callable[[], Check]) -> None:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failing line, not a traceback
            result = Check("fail", name, f"the check crashed: {type(exc).__name__}: {_scrub(exc)}", "please report it")
        results.append(result)
        text = f"{marks[result.status]} {result.name}: {result.detail}" + (dash + result.fix if result.fix else "")
        print(hide_keys(text), flush=True)  # no key-shaped value is ever shown, whatever a check found

    run("python", check_python)
    run("packages", check_packages)
    run("kernel", check_kernel)
    env_file = _FOUND["env"] = find_env_file()
    run(".env", lambda: check_env(env_file))
    run("mode", check_mode)
    needed = live or _settings().mode in ("live", "record")
    for provider in PROVIDERS:
        run(f"{provider.upper()}_API_KEY", lambda p=provider: check_key(p, needed))
    for name, check in (("settings", check_settings), ("cassettes", check_cassettes), ("tiktoken", check_tiktoken),
                        ("replay", check_replay)):
        run(name, check)
    for provider in PROVIDERS if live else ():
        run(f"live {provider}", lambda p=provider: check_live(p))
    failed, warned = sum(c.status == "fail" for c in results), sum(c.status == "warn" for c in results)
    verdict = "all good" if not failed else f"fix the lines marked {marks['fail']}"
    print(f"doctor: {len(results)} checks, {failed} failed, {warned} warnings: {verdict}"
          + ("" if live else " (--live adds a real call to each provider)"))
    return 1 if failed else 0
