"""Defect 12 of issue 12, at notebook level: re-running a cell shows its lesson again.

`make test` checks this for every cell of every notebook: under nbval each cell runs twice in a row and
both runs must match the stored output (conftest.pytest_runtest_call; each execute request carries the
cell's id, as JupyterLab sends it, and lessonlib's replay server follows it). These tests prove that
check bites, in a nbval run of two probe notebooks:
- zz_rerun_replay asks the same question in two cells, recorded with two different answers: only a
  server that knows which cell runs gives the re-run of the first cell its own answer again;
- zz_rerun_counter has a cell whose re-run prints something else: the run must fail, saying so.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient
from probes import ROOT, run_probes

ASK = ("from openai import OpenAI\n"
       "answer = OpenAI().chat.completions.create(model='gpt-5.4-mini', messages=[{'role': 'user', 'content': 'same'}])\n"
       "print(answer.choices[0].message.content)")


def _answer(text: str) -> dict:
    chat = {"id": "chatcmpl-RERUN", "object": "chat.completion", "created": 1, "model": "gpt-5.4-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}}
    return {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                        "body": json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "same"}]})},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
                         "body": {"string": json.dumps(chat)}}}


def test_nbval_runs_every_cell_twice_with_its_cell_id_and_a_changed_re_run_fails(tmp_path):
    cassette = yaml.safe_dump({"provenance": {"kind": "authored"}, "interactions": [_answer("first"), _answer("second")]})
    notebooks = {
        "zz_rerun_replay": [("import lessonlib\ncourse = lessonlib.setup('zz_rerun_replay')", None),
                            (ASK, "first\n"), (ASK, "second\n")],
        "zz_rerun_counter": [("n = 0", ""), ("n += 1\nprint(n)", "1\n"),
                             ("print('a', flush=True)\nprint('b')", ["a\n", "b\n"])],
    }
    proc = run_probes(".pytest_probe_rerun", tmp_path, notebooks, {"zz_rerun_replay": cassette}, "-n", "0", "-rA")
    out = proc.stdout + proc.stderr
    passed = {line.split("::")[-1] for line in out.splitlines() if line.startswith("PASSED")}
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    # every cell of the replay probe passed twice: its re-run of cell 1 got "first" again, not "second"
    assert sum("zz_rerun_replay" in line for line in out.splitlines() if line.startswith("PASSED")) == 3, out[-3000:]
    assert {"Cell 0", "Cell 1", "Cell 2"} <= passed, out[-3000:]
    # the counter's first cell passes; its second prints 2 on the re-run, and the run names why; its third, stored
    # as two stream outputs, passes twice (nbval merges them in place: the re-run must compare with the stored ones)
    assert "PASSED .pytest_probe_rerun/zz_rerun_counter.ipynb::Cell 2" in out.splitlines(), out[-3000:]
    assert len(failed) == 1 and "zz_rerun_counter.ipynb::Cell 1" in failed[0], out[-3000:]
    assert "re-running this cell (as a learner may) did not show its lesson again" in out, out[-3000:]
    assert proc.returncode == 1, out[-3000:]


def _run_cells(name: str, picks: list[int], tmp_path) -> list[str]:
    """Run code cells ``picks`` of notebooks/<name>.ipynb in a fresh kernel, in that order, as a learner may; the
    text of each one's outputs (its usage report stays in tmp_path: the misses are on purpose)."""
    code = [c for c in nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code[i].source) for i in picks])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute(
        env={**os.environ, "LESSON_USAGE_DIR": str(tmp_path)})
    return [json.dumps(cell.outputs) for cell in nb.cells]


def test_a_cell_run_before_the_cells_it_builds_on_is_told_to_run_them_not_to_undo_an_edit(tmp_path):
    # 07's summary cell run before the conversation cell (skipped, or lost in a restart) missed the replay, and the
    # miss said only "undo your change to the cell", though the learner had changed nothing
    cells = [c.source for c in nbformat.read(ROOT / "notebooks" / "07_multi_turn.ipynb", as_version=4).cells
             if c.cell_type == "code"]
    summary = next(n for n, source in enumerate(cells) if source.startswith("history = conversation[1:]"))
    out = _run_cells("07_multi_turn", [0, 1, 2, summary], tmp_path)[-1]
    assert "Replay miss" in out and "if you changed nothing" in out, out[-2000:]
    assert "run the cells from the top, in order" in out, out[-2000:]


def test_a_re_run_of_the_set_up_cell_keeps_what_each_cell_got(monkeypatch, tmp_path, capsys):
    # Re-running the set-up cell mid-notebook started the cassette from the top: 09's retry cell, run again, got the
    # 529 meant for the cell above it (three attempts, not the lesson's two), and a cell not run yet got the first answer.
    from IPython.core.interactiveshell import InteractiveShell

    from lessonlib.config import _stop_active

    interactions = [_answer(text) for text in ("first", "second", "third")]
    (tmp_path / "zz_setup_again.yaml").write_text(yaml.safe_dump({"provenance": {"kind": "authored"},
                                                                   "interactions": interactions}))
    for name, value in {"LESSON_CASSETTE_DIR": str(tmp_path), "IPYTHONDIR": str(tmp_path / "ipython")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LESSON_USAGE_DIR", raising=False)
    set_up = "import lessonlib\ncourse = lessonlib.setup('zz_setup_again', env_file='/nonexistent/.env', quiet=True)"
    cells = {"set-up": set_up, "a": ASK, "b": ASK, "c": ASK}
    shell = InteractiveShell.instance()
    try:
        capsys.readouterr()
        for cell_id in ("set-up", "a", "b", "set-up", "b", "a", "c"):
            shell.run_cell(cells[cell_id], cell_id=cell_id)
        assert capsys.readouterr().out.split() == ["first", "second", "second", "first", "third"]
    finally:
        InteractiveShell.clear_instance()
        _stop_active()


def _ask(server, cell_id: str | None, begin: bool = True) -> str:
    from openai import OpenAI

    if begin:
        server.begin_cell(cell_id)
    answer = OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0).chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "same"}])
    return answer.choices[0].message.content


def test_a_cell_the_recordings_name_gets_its_own_in_any_order(tmp_path):
    # identical requests were answered in recorded order: a learner who skipped a cell (09's 429 demo, 04's first
    # stream) got the recording meant for the skipped cell, and the skipped one then got the next cell's
    from lessonlib.replay import ReplayServer

    cassette = tmp_path / "zz.yaml"
    recordings = [{"cell": cell, **_answer(text)} for cell, text in (("a", "a1"), ("b", "b1"), ("a", "a2"))]
    cassette.write_text(yaml.safe_dump({"provenance": {"kind": "authored"}, "interactions": recordings}))
    server = ReplayServer(cassette, speed=0).start()
    try:
        again = partial(_ask, server, None, begin=False)  # one more call in the same cell
        assert [_ask(server, "b"), _ask(server, "a"), again(), again()] == ["b1", "a1", "a2", "a2"]
        assert [_ask(server, "b"), _ask(server, "a"), again()] == ["b1", "a1", "a2"]  # re-runs, as before
        assert _ask(server, "mine") == "a2"  # a cell no recording names: the next unplayed (here the last repeats)
    finally:
        server.stop()


def test_after_a_restart_a_cell_that_ran_before_gets_its_own_recordings(tmp_path):
    # after a kernel restart the cassette started from the top: a learner who restarted and ran 04's third streaming
    # cell alone got the poem recorded for the first; now the kernel keeps which recordings each cell played
    from lessonlib.replay import ReplayServer

    cassette = tmp_path / "zz.yaml"
    cassette.write_text(yaml.safe_dump({"provenance": {"kind": "authored"},
                                        "interactions": [_answer(t) for t in ("first", "second", "third", "fourth")]}))
    cells = tmp_path / "kernel-1-zz.json"
    before = ReplayServer(cassette, speed=0, cells_file=cells).start()
    try:
        assert [_ask(before, c) for c in "abc"] == ["first", "second", "third"]
    finally:
        before.stop()
    after = ReplayServer(cassette, speed=0, cells_file=cells).start()  # the kernel, restarted
    try:
        assert [_ask(after, c) for c in "cab"] == ["third", "first", "second"]
        assert _ask(after, "new") == "fourth"  # a cell that never ran: the next unplayed, as before the restart
    finally:
        after.stop()
    # a cassette of another shape (re-recorded, edited) makes the kept cells count for nothing
    cassette.write_text(yaml.safe_dump({"provenance": {"kind": "authored"},
                                        "interactions": [_answer(t) for t in ("one", "two")]}))
    other = ReplayServer(cassette, speed=0, cells_file=cells).start()
    try:
        assert _ask(other, "c") == "one"
    finally:
        other.stop()


def _run(kc, code: str, cell_id: str) -> str:
    """Run ``code`` as JupyterLab runs a cell (its id in the request's metadata); what it printed."""
    msg = kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    msg["metadata"]["cellId"] = cell_id
    kc.shell_channel.send(msg)
    out = ""
    while True:
        reply = kc.get_iopub_msg(timeout=60)
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if reply["msg_type"] in ("stream", "error"):
            out += reply["content"].get("text") or reply["content"].get("evalue", "")
        if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
            return out.strip()


def test_a_learner_who_jumps_ahead_gets_that_cell_s_own_answer(tmp_path):
    # 04's raw-HTTP cell sends what its first streaming cell sends: run right after the set-up cell (a learner who
    # jumps to that section), it streamed the first cell's recording (another poem, other ids) and not its own
    from jupyter_client.manager import KernelManager

    cells = {c.id: c for c in nbformat.read(ROOT / "notebooks" / "04_streaming.ipynb", as_version=4).cells}
    set_up, raw_http = cells["0a83fdb0"], cells["e953ab74"]
    assert "httpx2.stream(" in raw_http.source and 'setup("04_streaming")' in set_up.source
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT / "notebooks"), env={**os.environ, "LESSON_MODE": "replay", "PYTHON_DOTENV_DISABLED": "1",
                                                     "LESSON_USAGE_DIR": str(tmp_path / "usage")})
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        assert _run(kc, set_up.source, set_up.id).startswith("replay mode")
        assert _run(kc, raw_http.source, raw_http.id) == "".join(o.text for o in raw_http.outputs).strip()
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def test_a_kernel_restart_in_jupyter_keeps_what_each_cell_replayed(tmp_path):
    # the whole path: setup() names the file by the kernel's connection file, which Jupyter keeps across a restart
    from jupyter_client.manager import KernelManager

    (tmp_path / "zz_restart.yaml").write_text(yaml.safe_dump(
        {"provenance": {"kind": "authored"}, "interactions": [_answer(t) for t in ("first", "second", "third")]}))
    set_up = "import lessonlib\ncourse = lessonlib.setup('zz_restart', env_file='/nonexistent/.env', quiet=True)"

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "LESSON_CASSETTE_DIR": str(tmp_path),
                                            "LESSON_USAGE_DIR": str(tmp_path / "usage")})
    try:
        answers = []
        for restarted in (False, True):
            if restarted:
                km.restart_kernel()
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=60)
            assert _run(kc, set_up, "set-up") == ""
            answers.append([_run(kc, ASK, cell) for cell in ("a", "b", "c") if not restarted or cell != "a"])
            kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert answers == [["first", "second", "third"], ["second", "third"]], answers


def test_the_files_of_kernels_that_ended_are_removed(tmp_path, monkeypatch):
    # each kernel leaves a file of what its cells replayed in the temp folder; Windows never empties that folder
    import ipykernel.connect

    from lessonlib import config

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ipykernel.connect, "get_connection_file", lambda: "/run/jupyter/kernel-new.json")
    folder = tmp_path / "lessonlib-replay"
    folder.mkdir()
    ended, running = folder / "kernel-old-04_streaming.json", folder / "kernel-busy-04_streaming.json"
    for path in (ended, running):
        path.write_text("{}")
    week_ago = time.time() - 8 * 86400
    os.utime(ended, (week_ago, week_ago))
    assert config._cells_file(Path("cassettes/04_streaming.yaml")) == folder / "kernel-new-04_streaming.json"
    assert not ended.exists() and running.exists()


def test_every_shipped_recording_names_a_code_cell_of_its_notebook():
    # replay gives a cell the recordings that name it; one naming no cell of its notebook falls back to recorded order
    from lessonlib.cassette import Cassette

    for cassette in sorted((ROOT / "notebooks" / "cassettes").glob("*.yaml")):
        nb = nbformat.read(ROOT / "notebooks" / f"{cassette.stem}.ipynb", as_version=4)
        code = {c.id for c in nb.cells if c.cell_type == "code"}
        stray = [i.index for i in Cassette.load(cassette).interactions if i.cell not in code]
        assert not stray, (f"{cassette.name}: interactions {stray} name no code cell of {cassette.stem}.ipynb; run "
                           f"tools/tag_cells.py {cassette.stem}, then tools/render_cassettes.py")
