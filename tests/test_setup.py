"""lessonlib.setup(): modes, keys, model ids and bad inputs, each answered by one clear sentence."""

from __future__ import annotations

import os
import socket
from typing import get_args

import pytest

import lessonlib
from lessonlib.config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL, LessonSetupError, Settings, _stop_active

GOOD_OPENAI = "sk-proj-" + "A1b2C3d4" * 5
GOOD_ANTHROPIC = "sk-ant-api03-" + "Z9y8X7w6" * 5


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "LESSON_REPLAY_SPEED",
                "LESSON_OPENAI_UPSTREAM", "LESSON_ANTHROPIC_UPSTREAM", "LESSON_USAGE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is found from here

    yield
    _stop_active()


def setup_error(monkeypatch, name: str = "01_setup", **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(LessonSetupError) as info:
        lessonlib.setup(name, env_file=str(monkeypatch_path(monkeypatch)))
    message = str(info.value)
    for secret in env.values():
        if secret.startswith("sk-") and len(secret) > 12:
            assert secret not in message, "a key was echoed in an error message"
    return message


def monkeypatch_path(monkeypatch):
    return "/nonexistent/.env"


def test_replay_is_the_default_and_needs_no_key(monkeypatch, capsys):
    monkeypatch.delenv("LESSON_MODE", raising=False)
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env")
    out = capsys.readouterr().out.strip()
    assert out.startswith("replay mode: answers come from cassettes/01_setup.yaml (no API key needed")
    assert course.mode == "replay" and course.server is not None
    assert course.openai_model == DEFAULT_OPENAI_MODEL and course.anthropic_model == DEFAULT_ANTHROPIC_MODEL


def test_model_ids_come_from_env(monkeypatch):
    monkeypatch.setenv("LESSON_OPENAI_MODEL", "gpt-5.4")
    monkeypatch.setenv("LESSON_ANTHROPIC_MODEL", "claude-haiku-5-5")
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    assert (course.openai_model, course.anthropic_model) == ("gpt-5.4", "claude-haiku-5-5")


def test_env_file_is_loaded(monkeypatch, tmp_path):
    monkeypatch.delenv("LESSON_MODE", raising=False)
    env = tmp_path / ".env"
    env.write_text("LESSON_MODE=banana\n")
    with pytest.raises(LessonSetupError, match="LESSON_MODE='banana' is not a mode"):
        lessonlib.setup("01_setup", env_file=str(env))


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"LESSON_MODE": "banana"}, "is not a mode: use replay"),
        # Key problems no longer stop setup(): they are told at the provider's first call (issue 13), see
        # tests/test_local_model.py::test_a_key_problem_is_told_at_the_first_call_naming_the_key.
        ({"LESSON_MODE": "replay", "LESSON_REPLAY_SPEED": "fast"}, "is not a number"),
        ({"LESSON_MODE": "replay", "LESSON_REPLAY_SPEED": "-1"}, "must be 0 or more"),
    ],
)
def test_bad_settings_say_what_to_fix(monkeypatch, env, expected):
    message = setup_error(monkeypatch, **env)
    assert expected in message
    assert "\n" not in message  # one sentence, not a stack of internals


def test_missing_cassette_names_the_file(monkeypatch):
    monkeypatch.setenv("LESSON_MODE", "replay")
    message = setup_error(monkeypatch, name="99_no_such_notebook")
    assert "99_no_such_notebook.yaml does not exist" in message and "git checkout" in message


def test_a_re_run_for_a_missing_or_broken_cassette_leaves_the_running_set_up(monkeypatch, tmp_path):
    # setup("04_streming") after a working set-up: it once stopped the server first and gave the environment back,
    # so the next OpenAI() went to the provider with the key from .env, in replay mode
    import os

    monkeypatch.setenv("LESSON_MODE", "replay")
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_OPENAI)
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    url = os.environ["OPENAI_BASE_URL"]
    with pytest.raises(LessonSetupError, match="does not exist"):
        lessonlib.setup("99_no_such_notebook", env_file="/nonexistent/.env", quiet=True)
    (tmp_path / "broken.yaml").write_text("interactions: [ {unclosed\n")
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(tmp_path))
    with pytest.raises(LessonSetupError, match="is not valid YAML"):
        lessonlib.setup("broken", env_file="/nonexistent/.env", quiet=True)
    assert os.environ["OPENAI_BASE_URL"] == url and os.environ["OPENAI_API_KEY"] != GOOD_OPENAI
    assert course.server.port  # still serving


def test_corrupt_cassette_names_the_file(monkeypatch, tmp_path):
    (tmp_path / "broken.yaml").write_text("interactions: [ {unclosed\n")
    monkeypatch.setenv("LESSON_CASSETTE_DIR", str(tmp_path))
    message = setup_error(monkeypatch, name="broken", LESSON_MODE="replay")
    assert "broken.yaml is not valid YAML" in message


def test_live_mode_with_keys_points_sdks_at_the_providers(monkeypatch):
    monkeypatch.setenv("LESSON_MODE", "live")
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_OPENAI)
    monkeypatch.setenv("ANTHROPIC_API_KEY", GOOD_ANTHROPIC)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    import os

    assert course.server is None and "OPENAI_BASE_URL" not in os.environ


def test_an_emptied_base_url_line_means_the_provider_for_the_sdks_too(monkeypatch, tmp_path):
    # `# OPENAI_BASE_URL=http://localhost:11434/v1` uncommented and its URL deleted (or blank): lessonlib reads it as
    # unset, but both SDKs take an empty *_BASE_URL as the base URL "" and fail with "Connection error."
    import os

    import anthropic
    import openai

    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_MODE"):
        monkeypatch.setenv(var, "placeholder")  # so that monkeypatch removes what .env loads
        monkeypatch.delenv(var)
    env = tmp_path / ".env"
    env.write_text(f"LESSON_MODE=live\nOPENAI_API_KEY={GOOD_OPENAI}\nANTHROPIC_API_KEY={GOOD_ANTHROPIC}\n"
                   "OPENAI_BASE_URL=\nANTHROPIC_BASE_URL=\" \"\n")
    course = lessonlib.setup("01_setup", env_file=str(env), quiet=True)
    assert course.server is None and course.local == ()
    assert str(openai.OpenAI().base_url) == "https://api.openai.com/v1/"
    assert str(anthropic.Anthropic().base_url) == "https://api.anthropic.com"
    _stop_active()
    assert os.environ["OPENAI_BASE_URL"] == ""  # the learner's environment is given back as it was


def test_a_line_fixed_in_env_counts_at_a_re_run_of_the_set_up_cell(monkeypatch, tmp_path, capsys):
    # the value .env had at the first set-up stayed in os.environ: a key pasted over the placeholder was still "the
    # placeholder from .env.example", and a fixed LESSON_REPLAY_SPEED=fast still "not a number", until a restart
    for var in ("LESSON_MODE", "LESSON_REPLAY_SPEED", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(var, "placeholder")  # so that monkeypatch removes what .env loads
        monkeypatch.delenv(var)
    env = tmp_path / ".env"
    env.write_text(f"LESSON_MODE=live\nOPENAI_API_KEY=<your-openai-key>\nANTHROPIC_API_KEY={GOOD_ANTHROPIC}\n")
    lessonlib.setup("01_setup", env_file=str(env))
    assert "OPENAI_API_KEY in .env is still the placeholder" in capsys.readouterr().out
    pasted = "sk-proj-FAKE" + "k3yV4lu3" * 5  # made up: not a key
    env.write_text(f"LESSON_MODE=live\nOPENAI_API_KEY={pasted}\nANTHROPIC_API_KEY={GOOD_ANTHROPIC}\n")
    lessonlib.setup("01_setup", env_file=str(env))
    assert "note:" not in capsys.readouterr().out and os.environ["OPENAI_API_KEY"] == pasted
    env.write_text("LESSON_REPLAY_SPEED=fast\n")  # a slip, then its fix; the lines taken out go too
    with pytest.raises(LessonSetupError, match="not a number"):
        lessonlib.setup("01_setup", env_file=str(env))
    env.write_text("LESSON_REPLAY_SPEED=0\n")
    course = lessonlib.setup("01_setup", env_file=str(env), quiet=True)
    assert (course.mode, course.server.scale, Settings.read(env).keys) == ("replay", 0, {"openai": "", "anthropic": ""})


def test_python_dotenv_disabled_keeps_env_out_as_load_dotenv_does(monkeypatch, tmp_path):
    # make record's replay pass sets PYTHON_DOTENV_DISABLED=1 so a maintainer's .env (keys, models) stays out of the
    # stored outputs; dotenv_values, unlike load_dotenv, does not look at it
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    monkeypatch.setenv("LESSON_OPENAI_MODEL", "placeholder")  # so that monkeypatch removes it, should .env load it
    monkeypatch.delenv("LESSON_OPENAI_MODEL")
    (tmp_path / ".env").write_text("LESSON_OPENAI_MODEL=from-the-maintainers-env\n")
    assert Settings.read(tmp_path / ".env").openai_model == DEFAULT_OPENAI_MODEL
    assert "LESSON_OPENAI_MODEL" not in os.environ


def test_a_base_url_the_learner_sets_in_a_cell_is_theirs_at_the_next_set_up(monkeypatch):
    # capped live mode points OPENAI_BASE_URL at the course's server; `os.environ["OPENAI_BASE_URL"] = <Ollama>` in a
    # cell, then the set-up cell again: it once put back the value from before the first set-up, so the calls went to
    # api.openai.com (billed) and not to the learner's local server
    import os

    from lessonlib import budget

    monkeypatch.setattr(budget, "_CURRENT", {})
    for var, value in {"LESSON_MODE": "live", "LESSON_BUDGET_USD": "1", "OPENAI_API_KEY": GOOD_OPENAI,
                       "ANTHROPIC_API_KEY": GOOD_ANTHROPIC, "OPENAI_BASE_URL": "-", "ANTHROPIC_BASE_URL": "-"}.items():
        monkeypatch.setenv(var, value)  # the base URLs: so that monkeypatch removes what the test sets
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    assert lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True).local == ()
    os.environ["OPENAI_BASE_URL"] = "http://localhost:11434/v1"
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    assert course.local == ("openai",) and course.server.upstreams["openai"] == "http://localhost:11434/v1"
    _stop_active()
    assert os.environ["OPENAI_BASE_URL"] == "http://localhost:11434/v1" and "ANTHROPIC_BASE_URL" not in os.environ


def test_live_mode_against_a_local_server_needs_no_key(monkeypatch):
    monkeypatch.setenv("LESSON_MODE", "live")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", GOOD_ANTHROPIC)
    lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    import os

    assert os.environ["OPENAI_BASE_URL"] == "http://localhost:11434/v1"


def test_socket_guard_blocks_non_loopback(monkeypatch):
    from lessonlib._testhooks import install_socket_guard

    install_socket_guard()  # the test run turns it on (conftest); idempotent
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(ConnectionRefusedError, match="must not connect to 10.1.2.3"):
            sock.connect(("10.1.2.3", 443))


def test_default_models_are_current_in_the_installed_sdks():
    from anthropic._data.deprecated_models import DEPRECATED_MODELS
    from anthropic.types.model_param import ModelParam
    from openai.types.shared.chat_model import ChatModel

    anthropic_ids = set(get_args(get_args(ModelParam)[0])) if get_args(ModelParam) else set()
    anthropic_ids |= {a for arg in get_args(ModelParam) for a in get_args(arg)}
    assert DEFAULT_OPENAI_MODEL in get_args(ChatModel)
    assert DEFAULT_ANTHROPIC_MODEL in anthropic_ids, f"{DEFAULT_ANTHROPIC_MODEL} is not in anthropic's Model list"
    assert DEFAULT_ANTHROPIC_MODEL not in DEPRECATED_MODELS


# ---- lessonlib.display ---------------------------------------------------------------------------------------


def test_show_json_shows_sdk_objects_inside_a_list_or_dict_as_json(capsys):
    from anthropic.types import Message

    from lessonlib.display import show_json

    message = Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-5-5",
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1}})
    show_json(message.content)  # a list of content blocks, as a learner looks at them
    show_json({"usage": message.usage})
    out = capsys.readouterr().out
    assert out == ('[\n  {\n    "text": "Hi",\n    "type": "text"\n  }\n]\n'
                   '{\n  "usage": {\n    "input_tokens": 3,\n    "output_tokens": 1\n  }\n}\n')


def test_show_json_shows_a_set_in_one_order(capsys):
    from lessonlib.display import show_json

    show_json({"tags": {"weather", "tool", "city", "unit"}})  # str(set) once printed another order per process
    assert capsys.readouterr().out == '{\n  "tags": [\n    "city",\n    "tool",\n    "unit",\n    "weather"\n  ]\n}\n'


def test_a_relative_cassette_folder_is_read_from_the_env_files_folder(monkeypatch, tmp_path):
    # a kernel works in notebooks/, the doctor in the checkout: a relative LESSON_CASSETTE_DIR once named two folders
    (tmp_path / ".env").write_text("LESSON_CASSETTE_DIR=my_cassettes\n")
    monkeypatch.delenv("LESSON_CASSETTE_DIR", raising=False)
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        assert Settings.read(tmp_path / ".env").cassette_dir == tmp_path / "my_cassettes"
    finally:
        os.environ.pop("LESSON_CASSETTE_DIR", None)  # load_dotenv put it there


def test_full_tracebacks_asked_for_before_a_re_run_of_setup_are_shown(monkeypatch, tmp_path):
    # A short traceback's note says "LESSON_FULL_TRACEBACKS=1 shows them": set, then the set-up cell re-run.
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("LESSON_MODE", "replay")
    monkeypatch.delenv("LESSON_FULL_TRACEBACKS", raising=False)
    shell = InteractiveShell.instance()
    try:
        lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
        assert LessonSetupError in shell.custom_exceptions  # short tracebacks
        monkeypatch.setenv("LESSON_FULL_TRACEBACKS", "1")
        lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
        assert shell.custom_exceptions == ()
    finally:
        _stop_active()
        InteractiveShell.clear_instance()


def test_clients_made_before_a_re_run_of_the_set_up_cell_keep_working(monkeypatch, capfd):
    # set-up cell, `client = OpenAI()`, a call; then the set-up cell again and the call's cell again: the client's
    # kept-alive connection reached the stopped server ("AssertionError: server not started" in the cell), a new
    # connection its closed port, and the cell failed with "Connection error."
    import json

    import openai
    import yaml

    monkeypatch.setenv("LESSON_REPLAY_SPEED", "0")
    course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    ask = json.loads(yaml.safe_load(course.cassette.read_text())["interactions"][0]["request"]["body"])
    client = openai.OpenAI(max_retries=0)
    first = client.chat.completions.create(**ask).choices[0].message.content
    lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    assert client.chat.completions.create(**ask).choices[0].message.content == first  # the same connection
    lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=True)
    client = openai.OpenAI(max_retries=0, base_url=client.base_url)  # same URL, a new connection
    assert client.chat.completions.create(**ask).choices[0].message.content == first
    assert "Traceback" not in capfd.readouterr().err


def test_setup_takes_the_notebook_file_name_too():
    course = lessonlib.setup("01_setup.ipynb", env_file="/nonexistent/.env", quiet=True)
    assert course.name == "01_setup" and course.cassette.name == "01_setup.yaml"  # it once said: does not exist



def _run_in_ipython(monkeypatch, tmp_path, capsys, *cells: str) -> tuple[str, dict]:
    """What the cells print, run one after another in a real IPython with the course's error display; and the
    cells' namespace."""
    import re

    from IPython.core.interactiveshell import InteractiveShell

    from lessonlib.display import install_error_display

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("colors", "nocolor")
        install_error_display()
        capsys.readouterr()
        for cell in cells:
            shell.run_cell(cell)
        return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out), dict(shell.user_ns)
    finally:
        InteractiveShell.clear_instance()


def test_a_connection_error_shows_the_transport_errors_by_their_messages_not_their_frames(monkeypatch, tmp_path,
                                                                                          capsys):
    # The SDKs `raise APIConnectionError(...) from err`: the chained httpx2/httpcore2 errors once came with ~30
    # library frames under the short traceback.
    out, ns = _run_in_ipython(monkeypatch, tmp_path, capsys, "import openai\nclient = openai.OpenAI(api_key='x', "
                              "base_url='http://127.0.0.1:9/v1', max_retries=0)",
                              "try:\n    client.models.list()\nexcept openai.APIConnectionError as err:\n"
                              "    saved, frames = err, err.__cause__.__traceback__\n    raise")
    assert "ConnectError: [Errno 111] Connection refused" in out and "APIConnectionError: Connection error." in out
    assert "site-packages" not in out and "----> 2     client.models.list()" in out
    assert ns["saved"].__cause__.__traceback__ is ns["frames"]  # what 09 inspects is left as it was


def test_an_error_raised_again_has_one_note(monkeypatch, tmp_path, capsys):
    # Each raise adds a frame, so the note's count changes: the notes once piled up, one per time it was shown.
    out, ns = _run_in_ipython(monkeypatch, tmp_path, capsys, "from lessonlib.errors import LessonSetupError\n"
                              "err = LessonSetupError('x')\nerr.add_note('my note')", "raise err", "raise err")
    assert out.count("[lessonlib: ") == 2 and "[lessonlib: 1 frames" in out and "[lessonlib: 2 frames" in out
    assert ns["err"].__notes__ == ["my note", "[lessonlib: 2 frames inside installed libraries hidden; "
                                   "LESSON_FULL_TRACEBACKS=1 shows them]"]
