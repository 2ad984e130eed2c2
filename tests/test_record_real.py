"""`make record` end to end against a real server this project did not write (issue 13).

llama.cpp's llama-server with Gemma 3 270M (../shared/tools/real-upstream; `make record-e2e` builds it, about 7
minutes once per machine) answers OpenAI /v1/chat/completions and Anthropic /v1/messages, streams included. In a
throw-away copy of this checkout (its committed files plus the working tree's changes, no .env, no .venv: the venv
is reused by path), with fake keys:

1. `make record NOTEBOOKS="01_setup 04_streaming"` exits 0 with both notebooks recorded;
2. a clean clone of that copy passes strict nbval on the two notebooks (and tests/test_usage.py: every recorded
   interaction is played), and `python -m lessonlib doctor` is green;
3. no piece of either fake key was written to any file of the copy.

Skipped, saying why, when the server is not built. LESSON_SKIP_REAL_UPSTREAM=1 skips it too (it takes minutes).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = Path(os.environ.get("REAL_UPSTREAM") or ROOT.parent / "shared" / "tools" / "real-upstream")
WORK = Path(os.environ.get("TMPDIR") or "/tmp") / "real-upstream"
SERVER, MODEL = WORK / "build" / "bin" / "llama-server", WORK / "gemma-3-270m-q4_k_m.gguf"
NOTEBOOKS = ("01_setup", "04_streaming")
# Fake keys, shaped like real ones (llama-server accepts any key), made afresh each run so that no file holds them.
KEYS = {"OPENAI_API_KEY": "sk-proj-" + secrets.token_hex(20), "ANTHROPIC_API_KEY": "sk-ant-api03-" + secrets.token_hex(20)}
VENV_BIN = Path(sys.executable).parent

why_not = ("set LESSON_SKIP_REAL_UPSTREAM=1" if os.environ.get("LESSON_SKIP_REAL_UPSTREAM") == "1" else
           f"{TOOL} is missing" if not TOOL.exists() else
           f"llama-server is not built ({SERVER} or {MODEL} missing): `make record-e2e` builds it (about 7 min)"
           if not (SERVER.exists() and MODEL.exists()) else "")
pytestmark = pytest.mark.skipif(bool(why_not), reason=why_not or "-")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    port = _free_port()
    # SLOTS=2: notebook 04 runs an OpenAI and an Anthropic stream at once. LLAMA_ARG_N_PREDICT caps every answer at
    # 48 tokens (llama-server clamps max_tokens to it): on a loaded 2-core machine 200 tokens can take longer than
    # notebook 01's 60 s raw-call timeout, and the text is junk anyway; what is tested is the wire, not the prose.
    env = dict(os.environ, SLOTS="2", LLAMA_ARG_N_PREDICT="48")
    subprocess.run([str(TOOL), "start", str(port)], env=env, check=True, timeout=120, capture_output=True)
    yield f"http://127.0.0.1:{port}"
    subprocess.run([str(TOOL), "stop", str(port)], timeout=30, check=False, capture_output=True)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _copy_of_this_checkout(dest: Path) -> Path:
    """A git clone of this checkout with its working tree's changes (modified, deleted and untracked files)."""
    _git("clone", "-q", str(ROOT), str(dest), cwd=ROOT.parent)
    changed = _git("ls-files", "--modified", "--others", "--exclude-standard", cwd=ROOT).splitlines()
    for rel in changed:
        src, target = ROOT / rel, dest / rel
        if src.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        else:
            target.unlink(missing_ok=True)
    return dest


def _clean_env(folder: Path) -> dict[str, str]:
    """The environment a learner's clean checkout has: no keys, no course settings; its own lessonlib first.
    LESSON_REQUIREMENTS stays: it names the lock of the venv that runs (make canary's), not a learner's setting."""
    env = {k: v for k, v in os.environ.items() if k == "LESSON_REQUIREMENTS"
           or not k.startswith(("LESSON_", "OPENAI_", "ANTHROPIC_")) and k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(PYTHONPATH=str(folder), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def _pieces(key: str, size: int = 8) -> set[str]:
    secret = key.split("-")[-1]
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def test_make_record_against_llama_server_then_a_clean_copy_replays_it(tmp_path, llama_server):
    course = _copy_of_this_checkout(tmp_path / "course")
    env = dict(_clean_env(course), **KEYS, LESSON_OPENAI_UPSTREAM=f"{llama_server}/v1",
               LESSON_ANTHROPIC_UPSTREAM=llama_server, LESSON_OPENAI_MODEL="gemma-3-270m",
               LESSON_ANTHROPIC_MODEL="gemma-3-270m")
    venv = VENV_BIN.parent
    # -o: the venv is this checkout's, installed already; make must not reinstall it from the copy
    proc = subprocess.run(["make", "-o", f"{venv}/bin/.installed", "record", f"VENV={venv}",
                           f"NOTEBOOKS={' '.join(NOTEBOOKS)}"], cwd=course, env=env, capture_output=True, text=True,
                          timeout=3600)
    report = proc.stdout + proc.stderr
    print(report)  # the make record report, shown with -s or when the test fails
    assert proc.returncode == 0, report
    for name in NOTEBOOKS:
        assert f"✔ {name}: recorded" in report and f"cassettes/{name}.yaml and {name}.ipynb replaced" in report
    assert f"recorded {len(NOTEBOOKS)} of {len(NOTEBOOKS)}" in report

    # a clean clone: what a learner gets once these recordings are committed
    _git("add", "-A", cwd=course)
    _git("-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "commit", "-qm", "recorded", cwd=course)
    clean = tmp_path / "clean"
    _git("clone", "-q", str(course), str(clean), cwd=tmp_path)
    env = _clean_env(clean)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           *[f"notebooks/{n}.ipynb" for n in NOTEBOOKS], "tests/test_usage.py",
                           # each real recording names the cell that made it, so every cell replays its own
                           "tests/test_rerun.py::test_every_shipped_recording_names_a_code_cell_of_its_notebook"],
                          cwd=clean, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-m", "lessonlib", "doctor"], cwd=clean, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✔ replay:" in proc.stdout and "2 recorded" in proc.stdout, proc.stdout
    where = subprocess.run([sys.executable, "-c", "import lessonlib; print(lessonlib.__file__)"], cwd=clean, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(clean), "the clean copy must test its own lessonlib"

    # no piece of either fake key anywhere in the copy (the .git folders hold compressed objects: their
    # working trees say what they hold)
    pieces = set().union(*(_pieces(k) for k in KEYS.values()))
    for folder in (course, clean):
        for path in folder.rglob("*"):
            if ".git" in path.relative_to(folder).parts or not path.is_file():
                continue
            text = path.read_bytes().decode("utf-8", "replace")
            leaked = sorted(p for p in pieces if p in text)
            assert not leaked, f"{path} holds part of a fake key: {leaked}"
