"""`make record` (tools/record_all.py) against a local fake upstream: per-notebook report, one failure never stops
the others, cassette and notebook replaced together only when both passes completed, stored outputs as a clean
checkout replays them, models kept in the cassette, authored faults kept, no key written anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import record_all  # noqa: E402

OPENAI_KEY = "sk-proj-RECORDALLfake0123456789abcdefghijkl"
ANTHROPIC_KEY = "sk-ant-api03-RECORDALLfake0123456789abcdefghijkl"
ASK = [{"role": "user", "content": "hi"}]


class Upstream(BaseHTTPRequestHandler):
    """Plays both providers with plain JSON; a question containing "slow" is answered after 3 s."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if "slow" in json.dumps(request["messages"]):
            time.sleep(3)
        if self.path.endswith("/chat/completions"):
            body = {"id": "chatcmpl-FAKE01", "object": "chat.completion", "created": 1764000000,
                    "model": request["model"], "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                    "message": {"role": "assistant", "content": "Hi from upstream", "refusal": None}}],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}}
        else:
            body = {"id": "msg_01FAKE", "type": "message", "role": "assistant", "model": request["model"],
                    "content": [{"type": "text", "text": "Hi from Claude"}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 4}}
        data = json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("keep-alive", "timeout=5, max=100")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture()
def upstream():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))


SETUP = 'import lessonlib, os\ncourse = lessonlib.setup("{name}")'
OPENAI_CALL = ("from openai import OpenAI\n"
               "r = OpenAI().chat.completions.create(model=course.openai_model, messages={ask!r})\n"
               "print(r.choices[0].message.content)")
KEYS = ("import os\nfrom dotenv import load_dotenv\nload_dotenv()  # as notebook 01 does, before setup()\n"
        "print('OPENAI_API_KEY:', 'set' if os.getenv('OPENAI_API_KEY') else 'not set')\n"
        "print('LESSON_OPENAI_MODEL:', os.getenv('LESSON_OPENAI_MODEL'))")
MODELS = "print('models:', course.openai_model, course.anthropic_model)"
ANTHROPIC_CALL = ("import anthropic\n"
                  "m = anthropic.Anthropic().messages.create(model=course.anthropic_model, max_tokens=20, messages={ask!r})\n"
                  "print(m.content[0].text)")
SLOW_CALL = ("OpenAI(timeout=1, max_retries=0).chat.completions.create(model=course.openai_model, "
             "messages=[{'role': 'user', 'content': 'a slow one'}])")


def _fault(model: str) -> dict:
    return {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                        "body": json.dumps({"model": model, "messages": ASK})},
            "response": {"status": {"code": 429, "message": "Too Many Requests"}, "fault": True,
                         "headers": {"content-type": ["application/json"], "retry-after": ["0"]},
                         "body": {"string": json.dumps({"error": {"message": "slow down", "type": "requests",
                                                                   "param": None, "code": "rate_limit_exceeded"}})}}}


@pytest.fixture()
def course_copy(tmp_path):
    """A course folder with two notebooks: 98_ok records; 99_fail stops at its third cell with a timeout."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "cassettes").mkdir(parents=True)
    _notebook(notebooks / "98_ok.ipynb", KEYS, SETUP.format(name="98_ok"), OPENAI_CALL.format(ask=ASK), MODELS,
              ANTHROPIC_CALL.format(ask=ASK))
    (notebooks / "cassettes" / "98_ok.yaml").write_text(
        yaml.safe_dump({"provenance": {"kind": "authored", "note": "AUTHORED"}, "interactions": [_fault("local-model")]}))
    _notebook(notebooks / "99_fail.ipynb", SETUP.format(name="99_fail"), OPENAI_CALL.format(ask=ASK), SLOW_CALL,
              "print('never reached')")
    (notebooks / "cassettes" / "99_fail.yaml").write_text("provenance: {kind: authored, note: AUTHORED}\ninteractions: []\n")
    # A maintainer's .env: the record pass may read it, the replay pass must not (a clean checkout has none).
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={OPENAI_KEY}\nLESSON_OPENAI_MODEL=local-model\n")
    return tmp_path


def _record(folder: Path, upstream: str, *names: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LESSON_MODE="record", OPENAI_API_KEY=OPENAI_KEY, ANTHROPIC_API_KEY=ANTHROPIC_KEY,
               LESSON_OPENAI_UPSTREAM=upstream + "/v1", LESSON_ANTHROPIC_UPSTREAM=upstream,
               LESSON_OPENAI_MODEL="local-model", LESSON_ANTHROPIC_MODEL="local-claude")
    for var in ("LESSON_USAGE_DIR", "LESSON_CASSETTE_DIR", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(var, None)
    return subprocess.run([sys.executable, str(ROOT / "tools" / "record_all.py"), "--notebooks",
                           str(folder / "notebooks"), *names], env=env, capture_output=True, text=True, timeout=300)


def _outputs(nb: nbformat.NotebookNode) -> list[str]:
    return ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in nb.cells]


def test_one_failure_never_stops_the_others_and_leaves_its_files_untouched(course_copy, upstream):
    notebooks = course_copy / "notebooks"
    fail_files = [notebooks / "99_fail.ipynb", notebooks / "cassettes" / "99_fail.yaml"]
    before = {p: p.read_bytes() for p in fail_files}
    proc = _record(course_copy, upstream, "99_fail", "98_ok")  # the failing one first: 98_ok must still run
    out = proc.stdout
    print(out)  # the report, shown when the test fails
    assert proc.returncode == 1, proc.stdout + proc.stderr

    # the report: per notebook, why, where, and where the partial recording is
    assert ("✘ 99_fail: failed while recording, at cell 2 (`OpenAI(timeout=1, max_retries=0).chat.completions"
            in out), out
    assert "APITimeoutError: Request timed out." in out
    assert ("cassettes/99_fail.yaml and 99_fail.ipynb are unchanged; what was recorded (2 interactions) is kept in "
            "cassettes/99_fail.partial.yaml") in out
    assert "✔ 98_ok: recorded (3 interactions, 1 authored fault kept; models local-model / local-claude)" in out
    assert "\nrecorded 1 of 2; not recorded: 99_fail (for the recorded ones, review `git diff" in out
    assert {p: p.read_bytes() for p in fail_files} == before, "a failed recording must not touch its cassette or notebook"
    partial = yaml.safe_load((notebooks / "cassettes" / "99_fail.partial.yaml").read_text())
    # the call the SDK gave up on was still answered upstream, and recorded: the partial holds both calls
    assert partial["provenance"]["kind"] == "recorded" and len(partial["interactions"]) == 2
    leftovers = [p.name for p in notebooks.rglob("*") if p.name.endswith(".tmp") or ".recording." in p.name]
    assert not leftovers

    # 98_ok: cassette and notebook replaced together; authored fault kept, models recorded
    data = yaml.safe_load((notebooks / "cassettes" / "98_ok.yaml").read_text())
    assert data["provenance"]["kind"] == "recorded"
    assert data["provenance"]["models"] == {"openai": "local-model", "anthropic": "local-claude"}
    assert [i["response"]["status"]["code"] for i in data["interactions"]] == [429, 200, 200]
    assert data["interactions"][0]["response"]["fault"] is True
    nb = nbformat.read(notebooks / "98_ok.ipynb", as_version=4)
    # each names the cell that made it (the fault: the cell it was played to), so replay gives every cell its own
    assert [i.get("cell") for i in data["interactions"]] == [nb.cells[2].id, nb.cells[2].id, nb.cells[4].id]
    outs = _outputs(nb)
    # what a clean checkout prints: no key, no model setting (the recorder's and the .env's stayed out) ...
    assert outs[0] == "OPENAI_API_KEY: not set\nLESSON_OPENAI_MODEL: None\n"
    assert outs[1].startswith("replay mode: answers come from cassettes/98_ok.yaml")  # stored from the replay pass
    assert outs[2] == "Hi from upstream\n" and outs[4] == "Hi from Claude\n"
    assert outs[3] == "models: local-model local-claude\n"  # ... and the models the recording was made with
    assert all("execution" not in c.metadata for c in nb.cells)

    # a clean replay of the stored notebook prints exactly what was stored
    again = record_all.execute(notebooks / "98_ok.ipynb", record_all.replay_env(notebooks / "cassettes"),
                               skip_replay_only=False)
    assert _outputs(again) == outs

    # no piece of either key, in any file
    for path in course_copy.rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(errors="replace")
            for key in (OPENAI_KEY, ANTHROPIC_KEY):
                assert not any(key[i:i + 12] in text for i in range(len(key) - 11)), f"{path} holds part of a key"


def test_stored_outputs_are_merged_per_stream_as_store_outputs_stores_them(tmp_path, upstream):
    """A cell that prints, pauses and prints again (a stream shown as it arrives, notebook 04) is stored as one
    output per stream, as tools/store_outputs.py stores it, not one per piece the kernel sent."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "cassettes").mkdir(parents=True)
    _notebook(notebooks / "97_pieces.ipynb", SETUP.format(name="97_pieces"), OPENAI_CALL.format(ask=ASK),
              "import time\nfor word in r.choices[0].message.content.split():\n"
              "    print(word, end=' ', flush=True)\n    time.sleep(0.3)\nprint()")
    proc = _record(tmp_path, upstream, "97_pieces")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cell = nbformat.read(notebooks / "97_pieces.ipynb", as_version=4).cells[2]
    assert [(o.output_type, o.name, o.text) for o in cell.outputs] == [("stream", "stdout", "Hi from upstream \n")]


def test_ctrl_c_stops_the_whole_run_and_leaves_every_file_as_it_was(tmp_path, upstream):
    """Ctrl-C (SIGINT to the terminal's process group: the recorder and its kernel) during a notebook stops
    `make record` there: nbclient's own SIGINT handler shuts the kernel down, which once read as that notebook
    failing (`AssertionError:`) and the next notebooks were recorded anyway, with the maintainer's keys."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "cassettes").mkdir(parents=True)
    _notebook(notebooks / "95_long.ipynb", SETUP.format(name="95_long"), OPENAI_CALL.format(ask=ASK),
              "import time\nprint('waiting', flush=True)\ntime.sleep(60)")
    _notebook(notebooks / "96_next.ipynb", SETUP.format(name="96_next"), OPENAI_CALL.format(ask=ASK))
    (notebooks / "cassettes" / "95_long.yaml").write_text("provenance: {kind: authored, note: A}\ninteractions: []\n")
    before = {p: p.read_bytes() for p in notebooks.rglob("*") if p.is_file()}
    env = dict(os.environ, LESSON_MODE="record", OPENAI_API_KEY=OPENAI_KEY, ANTHROPIC_API_KEY=ANTHROPIC_KEY,
               LESSON_OPENAI_UPSTREAM=upstream + "/v1", LESSON_ANTHROPIC_UPSTREAM=upstream,
               LESSON_OPENAI_MODEL="local-model", LESSON_ANTHROPIC_MODEL="local-claude")
    for var in ("LESSON_USAGE_DIR", "LESSON_CASSETTE_DIR", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "record_all.py"), "--notebooks", str(notebooks)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(Path(tempfile.gettempdir()).glob(
                "lesson-record-95_long-*/95_long.recording.yaml")):
            time.sleep(0.2)  # the record pass has made its call and sits in the long cell
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "✘ 95_long: interrupted (Ctrl-C); cassettes/95_long.yaml and 95_long.ipynb are unchanged" in out, out
    assert "96_next" not in out and "AssertionError" not in out, out
    assert {p: p.read_bytes() for p in notebooks.rglob("*") if p.is_file()} == before


def test_a_notebook_that_calls_no_provider_is_not_said_to_stop_before_its_first_cell(tmp_path, upstream):
    notebooks = tmp_path / "notebooks"
    (notebooks / "cassettes").mkdir(parents=True)
    _notebook(notebooks / "94_quiet.ipynb", SETUP.format(name="94_quiet"), "print('no call here')")
    proc = _record(tmp_path, upstream, "94_quiet")
    assert proc.returncode == 1
    assert ("✘ 94_quiet: failed while recording, when every cell had run: no call reached a provider, so there is "
            "nothing to record\n    cassettes/94_quiet.yaml and 94_quiet.ipynb are unchanged; nothing was recorded"
            in proc.stdout), proc.stdout


def test_refuses_outside_record_mode_and_unknown_notebooks(course_copy):
    env = {k: v for k, v in os.environ.items() if k != "LESSON_MODE"}
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "record_all.py")], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "make record" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "record_all.py"), "--notebooks",
                           str(course_copy / "notebooks"), "42_nope"], env=dict(env, LESSON_MODE="record"),
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "42_nope.ipynb" in proc.stdout


def test_notes_of_the_authored_cassette_follow_its_re_recording(tmp_path):
    from lessonlib.cassette import Cassette, Interaction

    def item(i, model, note=None, content="poem"):
        raw = {"request": {"method": "POST", "uri": "/v1/chat/completions"}, "response": {"status": {"code": 200}}}
        if note:
            raw["note"] = note
        return Interaction(i, "POST", "/v1/chat/completions", {"model": model, "messages": [content]}, raw)

    old = Cassette(tmp_path / "a.yaml", [item(0, "gpt", "first"), item(1, "gpt", "second"), item(2, "gpt", "other", "x")])
    new = Cassette(tmp_path / "b.yaml", [item(0, "gemma"), item(1, "gemma", content="x"), item(2, "gemma")])
    record_all.carry_notes(new, old)
    assert [i.raw.get("note") for i in new.interactions] == ["first", "other", "second"]


# --- the canary (tools/canary.py, `make canary`) -----------------------------------------------------------

def test_canary_never_reports_an_earlier_runs_results(tmp_path, monkeypatch, capsys):
    """pytest that stops before writing its report (a conftest that no longer imports on the new SDKs) is
    'could not run', not the junit.xml an earlier canary run left in .canary/ ("Nothing changed")."""
    import canary

    monkeypatch.setattr(canary, "WORK", tmp_path)
    (tmp_path / "junit.xml").write_text('<testsuites><testsuite><testcase classname="tests.test_a" name="test_x"/>'
                                        "</testsuite></testsuites>")  # the earlier run: all passed
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'ImportError while loading conftest' >&2\nexit 4\n")
    python.chmod(0o755)
    monkeypatch.setattr(canary, "resolve", lambda wanted: ROOT / "requirements.txt")
    monkeypatch.setattr(canary, "install", lambda lock: python)
    assert canary.main([]) == 2
    out = capsys.readouterr().out
    assert "pytest wrote no report" in out and "Nothing changed" not in out


def test_canary_reports_a_test_file_that_no_longer_imports_and_still_runs_the_rest(tmp_path, monkeypatch):
    """A test module importing a name the new SDK dropped is a collection error: pytest alone stops there and runs
    nothing else, and its junit testcase has no classname. The canary keeps running the rest and names the file."""
    import canary

    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_ok.py").write_text("def test_ok():\n    assert 1 == 2\n")
    (tests / "test_broken.py").write_text("from openai.types import NoSuchName\n\n\ndef test_b():\n    pass\n")
    monkeypatch.setattr(canary, "ROOT", tmp_path)
    monkeypatch.setattr(canary, "WORK", tmp_path / ".canary")
    (tmp_path / ".canary").mkdir()
    total, groups = canary.failures(canary.run_tests(Path(sys.executable)))
    assert sorted(groups) == ["tests/test_broken.py", "tests/test_ok.py"], groups
    assert "NoSuchName" in groups["tests/test_broken.py"][0][1]


# --- make cassettes (tools/render_cassettes.py) -------------------------------------------------------------

def _render_error(tmp_path: Path, spec: str) -> str:
    import render_cassettes

    path = tmp_path / "77_spec.yaml"
    path.write_text(spec)
    with pytest.raises(SystemExit) as exc:
        render_cassettes.render_spec(path, tmp_path)
    assert not (tmp_path / "77_x.yaml").exists()
    return str(exc.value)


REQUEST = "    request: {model: gpt-6-luna, messages: [{role: user, content: hi}]}\n"


def test_a_spec_with_a_misspelt_provider_names_the_provider(tmp_path):
    message = _render_error(tmp_path, "notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST
                            + "    reply: {text: hi}\n  - provider: OpenAI\n" + REQUEST + "    reply: {text: hi}\n")
    assert message == "77_spec.yaml: interaction #1: provider 'OpenAI' is not one of openai, anthropic"


@pytest.mark.parametrize("spec, where", [
    ("", "a spec is a mapping with `notebook:`"),
    ("notebook: 77_x\n", "a spec is a mapping with `notebook:`"),
    ("notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: hi\n", "interaction #0 has a value"),
    ("notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + "    error: {status: '42x', message: m}\n",
     "interaction #0 has a value"),
    ("notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: {text: hi}\n    latency: fast\n",
     "interaction #0 has a value"),
    # tokens_per_second: 0 (as LESSON_REPLAY_SPEED=0 means instant) raised a bare ZeroDivisionError
    ("notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: {text: hi}\n"
     "    tokens_per_second: 0\n", "interaction #0 has a value"),
    # a copied interaction without its own `- provider:` line replaced the one above it, silently
    ("notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: {text: hi}\n" + REQUEST
     + "    reply: {text: again}\n", "the key 'request' is in one mapping twice"),
    # a `pacing: true` was ignored, so the lesson about time replayed instantly under make test
    ("notebook: 77_x\npacing: true\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: {text: hi}\n",
     "77_spec.yaml: pacing: True; the only value is `required`"),
])
def test_a_spec_with_a_value_of_the_wrong_kind_says_where_without_a_traceback(tmp_path, spec, where):
    assert where in _render_error(tmp_path, spec)


@pytest.mark.parametrize("extra, said", [
    ("    reply: {text: hi}\n    delay: 2s\n", "interaction #0 renders response.delay '2s', not a number of seconds"),
    ("    error: {status: 429, message: m, headers: {retry after: '1'}}\n",
     "interaction #0 renders response.headers with a name 'retry after' that is not a header name"),
    ("    raw: {status: 700, body: {}}\n", "interaction #0 renders response.status.code 700, not an HTTP status"),
])
def test_a_spec_that_renders_a_cassette_that_cannot_load_is_refused(tmp_path, extra, said):
    # make cassettes said "rendered" and wrote it; setup() then refused the cassette, advising to restore it with git
    message = _render_error(tmp_path, "notebook: 77_x\ninteractions:\n  - provider: openai\n" + REQUEST + extra)
    assert message.startswith("77_spec.yaml: ") and said in message and message.endswith("; fix the spec")


def test_a_copied_spec_never_overwrites_another_notebooks_cassette(tmp_path, monkeypatch):
    """A new spec started as a copy of another (11_batches.yaml still saying `notebook: 10_async`) once
    re-rendered 10_async's cassette from the copy, silently, under `make cassettes`."""
    import render_cassettes

    monkeypatch.setattr(render_cassettes, "OUT", tmp_path / "cassettes")
    (tmp_path / "cassettes").mkdir()
    (tmp_path / "cassettes" / "10_async.yaml").write_text("the real one\n")
    spec = tmp_path / "11_batches.yaml"
    spec.write_text("notebook: 10_async\ninteractions:\n  - provider: openai\n" + REQUEST + "    reply: {text: hi}\n")
    with pytest.raises(SystemExit, match="11_batches.yaml: `notebook: 10_async` would overwrite cassettes/10_async"):
        render_cassettes.render_spec(spec, render_cassettes.OUT)
    assert (tmp_path / "cassettes" / "10_async.yaml").read_text() == "the real one\n"


def test_the_replay_pass_gets_make_tests_limit_per_cell(tmp_path, upstream, monkeypatch):
    # a paced notebook (pacing: required) replays as slowly as it was recorded: make record said "recorded" for a
    # recording from a slow local model, and make test then timed out on it (its cells get 120 s, the record pass 600)
    assert record_all.REPLAY_CELL_TIMEOUT == 120  # make test's --nbval-cell-timeout, read from pyproject.toml
    notebooks = tmp_path / "notebooks"
    (notebooks / "cassettes").mkdir(parents=True)
    _notebook(notebooks / "97_paced.ipynb", SETUP.format(name="97_paced"), OPENAI_CALL.format(ask=ASK))
    (notebooks / "cassettes" / "97_paced.yaml").write_text("provenance: {kind: authored}\ninteractions: []\n")
    for name, value in {"LESSON_MODE": "record", "OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                        "LESSON_OPENAI_UPSTREAM": upstream + "/v1", "LESSON_ANTHROPIC_UPSTREAM": upstream}.items():
        monkeypatch.setenv(name, value)
    for name in ("LESSON_USAGE_DIR", "LESSON_CASSETTE_DIR", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    limits, real = [], record_all.execute
    monkeypatch.setattr(record_all, "execute", lambda *a, timeout=None, **k: limits.append(timeout) or real(*a, **k))
    assert record_all.record_one(notebooks / "97_paced.ipynb").ok
    assert limits == [None, 120]  # the record pass: LESSON_RECORD_CELL_TIMEOUT or 600; the replay pass: make test's

    # and a cell over that limit says which limit it is (a sleep stands for a slow paced stream)
    _notebook(notebooks / "96_slow.ipynb", "import time\ntime.sleep(60)")
    with pytest.raises(record_all.Failure, match=r"at cell 0 .*did not finish within 2 s \(make test's limit per "
                       r"cell, --nbval-cell-timeout in pyproject.toml: replay keeps this notebook's recorded pace"):
        real(notebooks / "96_slow.ipynb", dict(os.environ), skip_replay_only=False, timeout=2)
