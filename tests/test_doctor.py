"""python -m lessonlib doctor: a healthy set-up passes; each broken one names what to fix; no key is ever shown."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from lessonlib import doctor
from lessonlib.config import CASSETTE_DIR

ROOT = Path(__file__).resolve().parent.parent
# Random-looking bodies, so a leaked piece of a key cannot hide among ordinary words.
GOOD_OPENAI = "sk-proj-FAKEQx7Vb2Lm9Tz4Wk1Np8Rs5Yh3Jd6F"  # made up: not a key
GOOD_ANTHROPIC = "sk-ant-api03-FAKEHu4Zr8Xe2Mv6Bq1Lt9Ws3Kn7Dp5Y"  # made up: not a key
SECRETS = [GOOD_OPENAI, GOOD_ANTHROPIC]


def assert_no_key_in(out: str, keys: list[str] = SECRETS) -> None:
    """Not the key, and no 6-character piece of its secret part (a prefix or a masked tail) either."""
    for key in keys:
        secret = key.split("-")[-1]
        pieces = {secret[i : i + 6] for i in range(len(secret) - 5)}
        leaked = [p for p in pieces if p in out]
        assert key not in out and not leaked, f"doctor output shows part of a key: {leaked}"


@pytest.fixture()
def run(monkeypatch, capsys):
    """Run the doctor in this process with a clean, replay-mode environment and no .env."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_CASSETTE_DIR",
                "LESSON_BUDGET_USD", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LESSON_MODE", "replay")
    monkeypatch.setattr(doctor, "find_env_file", lambda: None)

    def _run(live: bool = False, **env: str) -> tuple[int, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = doctor.run_doctor(live=live)
        out = capsys.readouterr().out
        assert_no_key_in(out)
        return code, out

    return _run


def line(out: str, name: str) -> str:
    found = [row for row in out.splitlines() if row[2:].startswith(f"{name}:")]
    assert found, f"no line for {name!r} in:\n{out}"
    return found[0]


def test_healthy_setup_passes_from_the_command_line(tmp_path):
    unset = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LESSON_CASSETTE_DIR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run([sys.executable, "-m", "lessonlib", "doctor"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert all(row.startswith(("✔", "!")) for row in rows[:-1]), proc.stdout
    for name in ("python", "packages", "kernel", ".env", "mode", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "settings",
                 "cassettes", "tiktoken", "replay"):
        line(proc.stdout, name)
    assert rows[-1].startswith("doctor: 11 checks, 0 failed")
    assert "authored" in line(proc.stdout, "cassettes")


def test_healthy_setup_passes_in_process(run):
    code, out = run()
    assert code == 0, out
    assert "replayed notebook 01's two calls" in line(out, "replay")


def test_env_file_is_found_and_read(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LESSON_BUDGET_USD=lots\n")
    monkeypatch.setenv("LESSON_BUDGET_USD", "placeholder")  # so monkeypatch removes what .env loads
    monkeypatch.delenv("LESSON_BUDGET_USD")
    code = doctor.run_doctor()
    out = capsys.readouterr().out
    assert code == 1
    assert str(tmp_path / ".env") in line(out, ".env")
    assert line(out, "settings").startswith("✘ settings: LESSON_BUDGET_USD='lots' is not a number")


@pytest.mark.parametrize("kind", ["folder", "broken link"])
def test_an_env_that_is_a_folder_or_a_broken_link_is_named(run, monkeypatch, tmp_path, kind):
    # a virtualenv called .env, or a link to a moved file, was passed over: "none found ... copy .env.example to .env"
    monkeypatch.chdir(tmp_path)
    if kind == "folder":
        (tmp_path / ".env" / "bin").mkdir(parents=True)
    else:
        (tmp_path / ".env").symlink_to(tmp_path / "moved" / "course.env")
    code, out = run()
    assert code == 0, out
    what = "a folder" if kind == "folder" else f"a link to {tmp_path / 'moved' / 'course.env'}, which does not exist"
    assert line(out, ".env") == (f"! .env: {tmp_path / '.env'} is {what}, so no settings are read from it — "
                                 "move it away, then copy .env.example to .env for live or record")


def test_malformed_key_in_live_mode(run):
    code, out = run(LESSON_MODE="live", OPENAI_API_KEY="hunter2hunter2", ANTHROPIC_API_KEY=GOOD_ANTHROPIC)
    assert code == 1
    assert line(out, "OPENAI_API_KEY").startswith("✘ OPENAI_API_KEY: does not look like a key")
    assert line(out, "ANTHROPIC_API_KEY").startswith("✔")
    assert "hunter2" not in out
    assert out.strip().splitlines()[-1].startswith("doctor: 11 checks, 1 failed")


def test_keys_are_optional_in_replay_mode_but_required_for_live_calls(run):
    code, out = run(OPENAI_API_KEY="sk-...", ANTHROPIC_API_KEY=f"'{GOOD_ANTHROPIC}'")
    assert code == 0 and "not needed in replay mode" in line(out, "OPENAI_API_KEY")
    code, out = run(live=True)
    assert code == 1
    assert "still the placeholder" in line(out, "OPENAI_API_KEY")
    assert line(out, "ANTHROPIC_API_KEY").startswith("✘ ANTHROPIC_API_KEY: contains spaces or quotes")
    assert line(out, "live openai") == "✘ live openai: not called — fix OPENAI_API_KEY first (see above)"


def test_unknown_mode(run):
    code, out = run(LESSON_MODE="banana")
    assert code == 1
    assert line(out, "mode").startswith(
        "✘ mode: LESSON_MODE='banana' is not a mode — set LESSON_MODE=replay, live or record")


def _cassette_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "cassettes"
    shutil.copytree(CASSETTE_DIR, folder)
    return folder


def test_missing_cassette(run, tmp_path):
    folder = _cassette_copy(tmp_path)
    (folder / "04_streaming.yaml").unlink()
    code, out = run(LESSON_CASSETTE_DIR=str(folder))
    assert code == 1
    row = line(out, "cassettes")
    assert row.startswith("✘ cassettes: 1 of ") and "04_streaming.yaml does not exist" in row and "git checkout" in row


def test_corrupt_cassette(run, tmp_path):
    folder = _cassette_copy(tmp_path)
    (folder / "05_tool_use.yaml").write_text("interactions: [ {unclosed\n")
    (folder / "01_setup.yaml").write_text("provenance: {kind: authored}\n")  # valid YAML, not a cassette
    code, out = run(LESSON_CASSETTE_DIR=str(folder))
    assert code == 1
    row = line(out, "cassettes")
    assert "2 of " in row and "05_tool_use.yaml is not valid YAML at line" in row
    assert "01_setup.yaml has no `interactions:`" in row
    assert line(out, "replay").startswith("✘ replay: cannot start a replay server")


def test_version_mismatch(run, monkeypatch, tmp_path):
    reqs = tmp_path / "requirements.txt"
    import anthropic
    import openai

    # A universal lock: a pin for another Python or platform (the marker is false here) must be skipped.
    reqs.write_text(f"# pins\nopenai==0.0.1\nanthropic=={anthropic.__version__}\nno-such-package-xyz==1.0\n"
                    "pywinpty==3.1.2 ; sys_platform == 'win32'\nnumpy==0.0.1 ; python_full_version < '3.0'\n")
    monkeypatch.setattr(doctor, "REQUIREMENTS", reqs)
    code, out = run()
    assert code == 1
    row = line(out, "packages")
    assert row.startswith(f"✘ packages: openai {openai.__version__} (wants 0.0.1); missing: no-such-package-xyz")
    assert "pip install --no-deps -r requirements.txt" in row and "anthropic" not in row
    assert "pywinpty" not in row and "numpy" not in row


def test_bad_settings(run):
    code, out = run(LESSON_REPLAY_SPEED="fast", LESSON_BUDGET_USD="-1")
    assert code == 1
    row = line(out, "settings")
    assert "LESSON_REPLAY_SPEED='fast' is not a number" in row and "LESSON_BUDGET_USD must be 0 or more" in row


def test_the_settings_line_says_what_the_course_has_spent(run, tmp_path):
    # the cap's ledger is shared by every kernel; an instructor asks the doctor how much is left
    from lessonlib.budget import Budget
    from lessonlib.providers import PROVIDERS

    ledger = tmp_path / "ledger.sqlite"
    ask = json.dumps({"model": "gpt-5.4-mini", "max_completion_tokens": 10_000, "messages": []}).encode()
    bill = json.dumps({"model": "gpt-5.4-mini", "usage": {"prompt_tokens": 0, "completion_tokens": 10_000}}).encode()
    budget = Budget(0.5, ledger)
    budget.settle(budget.reserve(ask), ask, bill, PROVIDERS["openai"])
    code, out = run(LESSON_BUDGET_USD="0.5", LESSON_BUDGET_FILE=str(ledger))
    assert code == 0 and line(out, "settings").endswith(
        f"LESSON_BUDGET_USD=0.5 (the spending cap in live and record mode): spent about $0.0450 of $0.50 on 1 calls "
        f"in every notebook (delete {ledger} to start a new count)"), line(out, "settings")
    ledger.write_text("not a ledger")
    assert "cannot be read (file is not a database); delete it" in line(run()[1], "settings")


# ---- --live against a local fake provider -----------------------------------------------------------

class FakeProvider(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions and /v1/messages with a minimal valid body, or with the error in `status`."""

    protocol_version = "HTTP/1.1"
    status: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        provider = "openai" if self.path.endswith("/chat/completions") else "anthropic"
        code = FakeProvider.status.get(provider, 200)
        if code != 200:
            # Real 401s quote a masked key; the doctor must not pass it on.
            masked = f"Incorrect API key provided: sk-proj-****{GOOD_OPENAI[-4:]}"
            text = masked if code == 401 else f"model: {request['model']}"
            body = ({"error": {"message": text, "type": "invalid_request_error", "code": None}} if provider == "openai"
                    else {"type": "error", "error": {"type": "not_found_error", "message": text}})
        elif provider == "openai":
            assert request["max_completion_tokens"] <= 5
            body = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": request["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
        else:
            assert request["max_tokens"] <= 5
            body = {"id": "msg_x", "type": "message", "role": "assistant", "model": request["model"],
                    "content": [{"type": "text", "text": "OK"}], "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 2}}
        data, kind = json.dumps(body).encode(), "application/json"
        if code == "page":  # a web UI's address in *_BASE_URL: 200 with a page, which the SDKs return as text
            data, code, kind = b"<!doctype html><title>Open WebUI</title>", 200, "text/html"
        self.send_response(code)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def provider():
    FakeProvider.status = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield {"OPENAI_BASE_URL": url + "/v1", "ANTHROPIC_BASE_URL": url,
           "OPENAI_API_KEY": GOOD_OPENAI, "ANTHROPIC_API_KEY": GOOD_ANTHROPIC}
    httpd.shutdown()
    httpd.server_close()


def test_live_calls_against_a_local_provider(run, provider):
    code, out = run(live=True, LESSON_MODE="live", **provider)
    assert code == 0, out
    assert line(out, "live openai").startswith("✔ live openai: gpt-6-luna answered in")
    assert line(out, "live anthropic").endswith("(10 in, 2 out)")
    assert out.strip().splitlines()[-1] == "doctor: 13 checks, 0 failed, 0 warnings: all good"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("status, expected", [
    (401, "✘ live openai: the provider rejected OPENAI_API_KEY (401) — create a new key"),
    (403, "✘ live openai: this key may not use gpt-6-luna (403)"),
    (404, "✘ live openai: model 'gpt-6-luna' not found for this key (404): model: gpt-6-luna"
          " — set LESSON_OPENAI_MODEL"),
    (429, "✘ live openai: rate limited or out of credit (429)"),
    (500, "✘ live openai: HTTP 500"),
    ("down", "✘ live openai: cannot reach http://127.0.0.1:"),
    # a 200 page once crashed the check ("AttributeError: 'str' object has no attribute 'usage' — please report it")
    ("page", "✘ live openai: http://127.0.0.1:"),
])
def test_live_errors_say_what_to_do(run, provider, status, expected):
    if status == "down":
        provider["OPENAI_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v1"
    else:
        FakeProvider.status = {"openai": status}
    code, out = run(live=True, **provider)
    assert code == 1
    assert line(out, "live openai").startswith(expected), out
    if status == "page":
        assert line(out, "live openai").endswith("answered with a page, not the API's JSON — set OPENAI_BASE_URL "
                                                 "in .env to the API's address, not a web page's"), out
    assert line(out, "live anthropic").startswith("✔")
    assert "****" not in out


def test_inside_a_kernel_it_names_the_kernels_python(run, monkeypatch):
    monkeypatch.setattr(doctor, "_in_kernel", lambda: True)
    code, out = run()
    assert code == 0
    assert line(out, "kernel").startswith(f"✔ kernel: this kernel runs {sys.executable} (")


def test_plain_ascii_console(run):
    import contextlib
    import io

    buffer = io.BytesIO()
    console = io.TextIOWrapper(buffer, encoding="ascii")
    with contextlib.redirect_stdout(console):  # restored before the fixtures' own capture is torn down
        code = doctor.run_doctor()
    console.flush()
    out = buffer.getvalue().decode("ascii")
    assert code == 0 and out.splitlines()[0].startswith("ok python: ")


def test_a_console_that_is_not_utf8_gets_every_line_even_a_keys_shape(run, monkeypatch):
    # a line showing a key's shape (sk-proj-…(40 chars)) once ended the doctor with UnicodeEncodeError on latin-1
    import contextlib
    import io

    monkeypatch.setenv("LESSON_OPENAI_MODEL", GOOD_OPENAI)
    buffer = io.BytesIO()
    console = io.TextIOWrapper(buffer, encoding="latin-1")
    with contextlib.redirect_stdout(console):
        code = doctor.run_doctor()
    console.flush()
    out = buffer.getvalue().decode("latin-1")
    assert_no_key_in(out)
    assert code == 1 and "FAIL mode: " in out and "sk-proj-...(" in out and out.rstrip().endswith("provider)")


def test_a_doctor_started_from_a_set_up_kernel_says_it_sees_the_kernels_environment(run, tmp_path):
    """`!python -m lessonlib doctor` in a notebook after setup() inherits the replay URLs and placeholder keys; it
    once reported them as the learner's own set-up (a key "still the placeholder")."""
    import lessonlib
    from lessonlib.config import _stop_active

    lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    try:
        code, out = run()  # run_doctor() in the kernel itself reads the learner's own environment
        assert code == 0 and "environment:" not in out, out
        proc = subprocess.run([sys.executable, "-m", "lessonlib", "doctor"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, check=False, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    finally:
        _stop_active()
    assert proc.returncode == 1, proc.stdout
    assert "inherited the environment of a notebook kernel" in line(proc.stdout, "environment")
    assert "LESSON_SET_UP_IN_KERNEL" not in os.environ  # setup()'s changes are undone with the rest


@pytest.mark.parametrize("argv", [["doctor", "--Live"], ["doctor", "live"], ["progress", "--all"],
                                  ["doctor", "--live", "--verbose"]])
def test_an_unknown_option_is_named_with_the_usage_not_ignored(argv, monkeypatch, capsys):
    # `doctor --Live` once ran the doctor without its live calls and said "all good"; `doctor --help` ran it too
    from lessonlib.__main__ import main

    monkeypatch.setattr(doctor, "run_doctor", lambda live=False: pytest.fail("the doctor ran"))
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"unknown option {argv[-1]!r} for {argv[0]}\n\nusage: python -m lessonlib COMMAND")
    assert main([argv[0], "--help"]) == 0 and capsys.readouterr().out.startswith("usage: ")
