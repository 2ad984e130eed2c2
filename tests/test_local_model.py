"""A local model all the way through (issue 13): keys only for the providers a cell calls, the recording's models
kept and replayed, cassette readers that accept a recorded cassette, and cells that degrade in one line where a
local server lacks a provider-only field. No network: local fakes stand in for Ollama / llama-server."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import anthropic
import nbformat
import openai
import pytest
import yaml

import lessonlib
from lessonlib import doctor
from lessonlib.config import _stop_active
from lessonlib.replay import ReplayServer
from test_record_all import Upstream, upstream  # noqa: F401 - a fake provider that sends Keep-Alive, no request id

ROOT = Path(__file__).resolve().parent.parent
GOOD_OPENAI = "sk-proj-" + "A1b2C3d4" * 5
GOOD_ANTHROPIC = "sk-ant-api03-" + "Z9y8X7w6" * 5
ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                "LESSON_OPENAI_UPSTREAM", "LESSON_ANTHROPIC_UPSTREAM", "LESSON_USAGE_DIR", "LESSON_OPENAI_MODEL",
                "LESSON_ANTHROPIC_MODEL", "LESSON_BUDGET_USD", "LESSON_CASSETTE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is found from here
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(tmp_path))
    (tmp_path / "02_openai_chat.yaml").write_text("provenance: {kind: authored}\ninteractions: []\n")
    yield
    _stop_active()


def _setup(monkeypatch, capsys, name="02_openai_chat", **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    course = lessonlib.setup(name, env_file="/nonexistent/.env")
    return course, capsys.readouterr().out


# ---- item 3: a key is needed only by the provider a cell calls -------------------------------------------------

@pytest.mark.parametrize("env, provider, expected", [
    ({"LESSON_MODE": "live"}, "openai", "OPENAI_API_KEY is not set: add it to .env"),
    ({"LESSON_MODE": "record", "OPENAI_API_KEY": GOOD_OPENAI}, "anthropic", "ANTHROPIC_API_KEY is not set"),
    ({"LESSON_MODE": "live", "OPENAI_API_KEY": "sk-...", "ANTHROPIC_API_KEY": GOOD_ANTHROPIC}, "openai",
     "OPENAI_API_KEY in .env is still the placeholder"),
    ({"LESSON_MODE": "live", "OPENAI_API_KEY": f'"{GOOD_OPENAI}"', "ANTHROPIC_API_KEY": GOOD_ANTHROPIC}, "openai",
     "OPENAI_API_KEY contains spaces or quotes"),
    ({"LESSON_MODE": "live", "OPENAI_API_KEY": "hunter2hunter2", "ANTHROPIC_API_KEY": GOOD_ANTHROPIC}, "openai",
     "OPENAI_API_KEY does not look like a key"),
    ({"LESSON_MODE": "live", "OPENAI_API_KEY": GOOD_ANTHROPIC, "ANTHROPIC_API_KEY": GOOD_ANTHROPIC}, "openai",
     "OPENAI_API_KEY holds an Anthropic key"),
    ({"LESSON_MODE": "live", "OPENAI_API_KEY": GOOD_OPENAI, "ANTHROPIC_API_KEY": GOOD_OPENAI}, "anthropic",
     "ANTHROPIC_API_KEY holds an OpenAI key (sk-...): put it in OPENAI_API_KEY instead"),  # once "does not look like"
])
def test_a_key_problem_is_told_at_the_first_call_naming_the_key(monkeypatch, capsys, env, provider, expected):
    course, out = _setup(monkeypatch, capsys, **env)  # setup() no longer refuses
    title = "OpenAI" if provider == "openai" else "Anthropic"
    assert f"note: {title} calls will fail until this is fixed: {expected}" in out
    sdk = openai if provider == "openai" else anthropic
    with pytest.raises(sdk.AuthenticationError) as info:
        if provider == "openai":  # plain clients, as in every notebook
            openai.OpenAI(max_retries=0).chat.completions.create(model=course.openai_model, messages=ASK)
        else:
            anthropic.Anthropic(max_retries=0).messages.create(model=course.anthropic_model, max_tokens=5, messages=ASK)
    assert info.value.status_code == 401 and expected in str(info.value)
    for secret in (GOOD_OPENAI, GOOD_ANTHROPIC, "hunter2hunter2"):
        assert secret not in out + str(info.value), "a key was echoed"


@pytest.mark.parametrize("mode", ["live", "record"])
def test_only_a_local_openai_server_runs_openai_cells(monkeypatch, capsys, upstream, mode):
    """Notebook 01 section 6 with no key at all: OpenAI cells work, an Anthropic cell says which key it lacks."""
    course, out = _setup(monkeypatch, capsys, LESSON_MODE=mode, OPENAI_BASE_URL=upstream + "/v1",
                         LESSON_OPENAI_MODEL="gemma-3-270m")
    assert course.openai_model == "gemma-3-270m"
    assert "note: Anthropic calls will fail until this is fixed: ANTHROPIC_API_KEY is not set" in out
    assert "OpenAI" not in out.split("note:")[1], "nothing is wrong with OpenAI"
    if mode == "live":
        assert out.startswith("live mode: OpenAI calls go to a local server (OPENAI_BASE_URL); Anthropic calls go "
                              "to the provider")
    reply = openai.OpenAI().chat.completions.create(model=course.openai_model, messages=ASK)
    assert reply.choices[0].message.content == "Hi from upstream"
    with pytest.raises(anthropic.AuthenticationError, match="ANTHROPIC_API_KEY is not set"):
        anthropic.Anthropic(max_retries=0).messages.create(model=course.anthropic_model, max_tokens=5, messages=ASK)


@pytest.mark.parametrize("mode", ["live", "record"])
def test_a_local_anthropic_servers_auth_token_is_sent_not_a_placeholder(monkeypatch, capsys, upstream, mode):
    # setup() set the placeholder ANTHROPIC_API_KEY, and anthropic sends its Bearer in place of the learner's token
    _setup(monkeypatch, capsys, LESSON_MODE=mode, ANTHROPIC_BASE_URL=upstream, ANTHROPIC_AUTH_TOKEN="tok-local-1234")
    assert anthropic.Anthropic().auth_headers == {"Authorization": "Bearer tok-local-1234"}
    assert "ANTHROPIC_API_KEY" not in os.environ
    if mode == "record":  # and it is scrubbed from what is recorded, as a key is
        assert "tok-local-1234" in lessonlib.config._ACTIVE["server"].secrets


def test_live_banner_does_not_speak_of_billing_for_local_servers(monkeypatch, capsys, upstream):
    _, out = _setup(monkeypatch, capsys, LESSON_MODE="live", OPENAI_BASE_URL=upstream + "/v1",
                    ANTHROPIC_BASE_URL=upstream)
    assert out == "live mode: real calls to local servers (OPENAI_BASE_URL, ANTHROPIC_BASE_URL), not billed by a provider\n"
    _stop_active()
    _, out = _setup(monkeypatch, capsys, LESSON_MODE="live", OPENAI_BASE_URL="", ANTHROPIC_BASE_URL="",
                    OPENAI_API_KEY=GOOD_OPENAI, ANTHROPIC_API_KEY=GOOD_ANTHROPIC)
    assert out == "live mode: real calls to the providers, billed to your API keys\n"


def _doctor(monkeypatch, capsys, **env) -> tuple[int, str]:
    monkeypatch.setattr(doctor, "find_env_file", lambda: None)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LESSON_CASSETTE_DIR", raising=False)
    code = doctor.run_doctor(live=True)
    return code, capsys.readouterr().out


def test_doctor_live_warns_at_most_for_the_provider_without_a_key(monkeypatch, capsys, upstream):
    code, out = _doctor(monkeypatch, capsys, LESSON_MODE="live", OPENAI_BASE_URL=upstream + "/v1",
                        LESSON_OPENAI_MODEL="gemma-3-270m")
    rows = {row[2:].split(":")[0]: row for row in out.splitlines() if row[:1] in "✔!✘"}
    assert code == 0, out
    assert rows["OPENAI_API_KEY"].startswith("✔ OPENAI_API_KEY: not set (fine for a local server)")
    assert rows["ANTHROPIC_API_KEY"].startswith("! ANTHROPIC_API_KEY: not set: the Anthropic cells will fail until you set "
                                                "it (fine if you run only OpenAI cells)")
    assert rows["live openai"].startswith("✔ live openai: gemma-3-270m answered")
    assert rows["live anthropic"].startswith("! live anthropic: not called")
    assert "✘" not in out
    # with neither provider usable it is still a failure
    code, out = _doctor(monkeypatch, capsys, LESSON_MODE="live", OPENAI_BASE_URL="")
    assert code == 1 and "✘ OPENAI_API_KEY: not set" in out and "✘ ANTHROPIC_API_KEY: not set" in out


# ---- item 4: the upstream's own connection headers stay upstream -----------------------------------------------

@pytest.mark.parametrize("mode", ["record", "live"])
def test_hop_by_hop_headers_of_the_upstream_are_not_passed_on(tmp_path, upstream, mode):
    srv = ReplayServer(tmp_path / "x.yaml", mode=mode, upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
    try:
        raw = openai.OpenAI(base_url=srv.openai_base_url, api_key="local").chat.completions.with_raw_response.create(
            model="gemma-3-270m", messages=ASK)
    finally:
        srv.stop()
    assert raw.parse().choices[0].message.content == "Hi from upstream"
    assert "keep-alive" not in {k.lower() for k in raw.headers}, dict(raw.headers)


# ---- item 1: replay uses the models the recording was made with ------------------------------------------------

def _recorded_01(tmp_path: Path) -> Path:
    """Notebook 01's cassette as a local model's recording would have it: other models, three interactions (the raw
    httpx2 call first, the SDK's identical one, then Anthropic's), no note, a recorded provenance."""
    data = yaml.safe_load((ROOT / "notebooks" / "cassettes" / "01_setup.yaml").read_text())
    oai, claude = data["interactions"]
    for item, model in ((oai, "gemma-3-270m"), (claude, "gemma-3-270m-anthropic")):
        body = json.loads(item["request"]["body"])
        item["request"]["body"] = json.dumps({**body, "model": model}, indent=2)
    recorded = {"provenance": {"kind": "recorded", "recorded_at": "2026-12-01T10:00:00+00:00",
                               "models": {"openai": "gemma-3-270m", "anthropic": "gemma-3-270m-anthropic"}},
                "interactions": [claude, oai, oai]}
    folder = tmp_path / "recorded"
    folder.mkdir()
    (folder / "01_setup.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    return folder


def test_replay_uses_the_recordings_models_unless_the_learner_chose_others(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(_recorded_01(tmp_path)))
    course, _ = _setup(monkeypatch, capsys, name="01_setup", LESSON_MODE="replay")
    assert (course.openai_model, course.anthropic_model) == ("gemma-3-270m", "gemma-3-270m-anthropic")
    reply = openai.OpenAI().chat.completions.create(
        model=course.openai_model, max_completion_tokens=200,
        messages=[{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "In one sentence, what is an API key for?"}])
    assert reply.choices[0].message.content.startswith("An API key")
    _stop_active()
    course, _ = _setup(monkeypatch, capsys, name="01_setup", LESSON_MODE="replay", LESSON_OPENAI_MODEL="gpt-5.4")
    assert (course.openai_model, course.anthropic_model) == ("gpt-5.4", "gemma-3-270m-anthropic")


def test_the_07_1_check_calls_with_the_models_of_the_recording(monkeypatch, capsys, tmp_path):
    # the check sent the default model, not the recording's: the worked answer got "the request was not the lesson's"
    from lessonlib.exercises import run

    data = yaml.safe_load((ROOT / "notebooks" / "cassettes" / "07_multi_turn.yaml").read_text())
    for item in data["interactions"]:
        item["request"]["body"] = item["request"]["body"].replace('"gpt-6-luna"', '"gemma-3-270m"')
    data["provenance"] = {"kind": "recorded", "models": {"openai": "gemma-3-270m", "anthropic": "claude-haiku-5-5"}}
    (tmp_path / "07_multi_turn.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(tmp_path))
    _setup(monkeypatch, capsys, name="07_multi_turn", LESSON_MODE="replay", LESSON_REPLAY_SPEED="0")

    def chat_turn(client, model, history, user_message):  # the worked solution
        question = {"role": "user", "content": user_message}
        response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history + [question])
        history.extend([question, {"role": "assistant", "content": response.choices[0].message.content}])
        return response.choices[0].message.content

    result = run("07.1", chat_turn)
    assert result.passed, result.message


# ---- item 2: what reads a cassette works on a recorded one -----------------------------------------------------

def test_doctor_self_test_replays_a_recorded_notebook_01(monkeypatch, tmp_path):
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(_recorded_01(tmp_path)))
    result = doctor.check_replay()
    assert result.status == "ok", result


def _cell(notebook: str, marker: str) -> str:
    cells = [c.source for c in nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
             if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{notebook}: {len(cells)} cells contain {marker!r}"
    return cells[0]


def _run_cell(source: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - the notebook's own cell
    return out.getvalue()


def test_no_notebook_reads_what_only_authored_cassettes_have():
    """Notebook 01 once printed cassette["provenance"]["note"], which only authored cassettes carry (KeyError on a
    recording). The second edition cut that cell; no cell may read a provenance field by subscript again."""
    import re

    reads = re.compile(r"""provenance["']\]\s*\[|\["note"\]""")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for n, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code":
                assert not reads.search("".join(cell["source"])), f"{nb.name} code cell {n} reads a provenance field"


# ---- item 4: cells say in one line what a local server does not send ------------------------------------------

def test_notebook_01_raw_call_without_a_request_id(monkeypatch, upstream):
    monkeypatch.setenv("OPENAI_BASE_URL", upstream + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "no-key-set-see-lessonlib")  # what setup() sets when a local server needs none
    out = _run_cell(_cell("01_setup.ipynb", "raw = httpx2.post("),
                    {"course": SimpleNamespace(openai_model="gemma-3-270m"), "os": os})
    assert out.splitlines()[:2] == ["200 application/json", "x-request-id: (none: only OpenAI itself sends one)"]


def test_notebook_02_cells_with_an_unpriced_local_model():
    usage = SimpleNamespace(prompt_tokens=23, completion_tokens=40, total_tokens=63, completion_tokens_details=None)
    message = SimpleNamespace(role="assistant", refusal=None, content="...")
    response = SimpleNamespace(model="gemma-3-270m", usage=usage,
                               choices=[SimpleNamespace(finish_reason="stop", message=message)])
    ns = {"response": response, "course": SimpleNamespace(openai_model="gemma-3-270m")}
    out = _run_cell(_cell("02_openai_chat.ipynb", "details = response.usage.completion_tokens_details"), ns)
    assert out.splitlines()[-1] == "reasoning tokens: not reported by this server"
    out = _run_cell(_cell("02_openai_chat.ipynb", "price = price_for(response.model)"), ns)
    assert out == "gemma-3-270m: no price known (not in lessonlib/prices.py)\n"
    out = _run_cell(_cell("02_openai_chat.ipynb", "input_cost = usage.prompt_tokens"), ns)
    assert out == "23 tokens in, 40 out: no price known, so no cost\n"
    reply = SimpleNamespace(output_text="...", id="resp_1", status="completed", output=[SimpleNamespace(type="message")],
                            model="gemma-3-270m", usage=SimpleNamespace(input_tokens=23, output_tokens=40))
    ns["client"] = SimpleNamespace(responses=SimpleNamespace(create=lambda **kw: reply))
    out = _run_cell(_cell("02_openai_chat.ipynb", "reply = client.responses.create("), ns)
    assert out.splitlines()[-1] == "cost:         no price known"


def test_fidelity_checks_tell_the_api_of_a_local_servers_recording_by_its_path(tmp_path):
    """A recording from llama-server has loopback URIs: /v1/messages is still Anthropic's API (the checks may then
    rightly flag the local server's own fields; CONTRIBUTING.md says how to read that)."""
    import wirecheck

    path = _recorded_01(tmp_path) / "01_setup.yaml"
    data = yaml.safe_load(path.read_text())
    for item in data["interactions"]:  # (two of them are one YAML node: set each path once)
        item["request"]["uri"] = "http://127.0.0.1:8080" + urlsplit(item["request"]["uri"]).path
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert [ex.provider for ex in wirecheck.exchanges(path)] == ["anthropic", "openai", "openai"]
    assert not wirecheck.request_problems(wirecheck.exchanges(path)[0])


def test_re_running_the_set_up_cell_in_record_mode_keeps_what_was_recorded(monkeypatch, capsys, upstream, tmp_path):
    """Set up, call, set up again, call: the cassette holds both calls, not only the second (issue 13)."""
    env = dict(LESSON_MODE="record", OPENAI_BASE_URL=upstream + "/v1", LESSON_OPENAI_MODEL="gemma-3-270m",
               ANTHROPIC_API_KEY=GOOD_ANTHROPIC)
    course, _ = _setup(monkeypatch, capsys, **env)
    openai.OpenAI().chat.completions.create(model=course.openai_model, messages=ASK)
    course, _ = _setup(monkeypatch, capsys, **env)  # the learner re-runs the set-up cell
    openai.OpenAI().chat.completions.create(model=course.openai_model, messages=[{"role": "user", "content": "again"}])
    _stop_active()  # what the kernel does when it shuts down
    saved = yaml.safe_load((tmp_path / "02_openai_chat.yaml").read_text())
    sent = [json.loads(i["request"]["body"])["messages"][0]["content"] for i in saved["interactions"]]
    assert sent == ["hi", "again"]
