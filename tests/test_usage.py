"""Replay hygiene, checked after the notebooks ran (this test is ordered last by conftest.py):

6. running a notebook plays every interaction of its cassette at least once, and makes no request
   its cassette cannot answer, except the misses a notebook provokes on purpose (ALLOWED_MISSES);
8. replay never touches the network: the socket guard (conftest sets LESSON_SOCKET_GUARD=1) was
   installed in every notebook's kernel.

How it knows: with LESSON_USAGE_DIR set (conftest: .pytest_usage/<the session's pid>/), every
replay server writes ``<notebook>.<pid>.json`` after each request: the indexes played, the misses,
whether the socket guard was on and whether it ran in a Jupyter kernel. Only kernels' reports
count, so unit tests that start a replay server in-process do not hide an unused recording.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Replay misses a notebook provokes on purpose: (text the miss message contains, why).
ALLOWED_MISSES = {
    "01_setup": [("In one sentence, what is a webhook?",
                  "the cell that shows what a replay miss looks like (tagged raises-exception, replay-only)")],
}


def _code_cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def _notebooks_run_whole(items) -> list[str]:
    """Notebooks every code cell of which was selected in this session (nbval: one item per code cell)."""
    selected: dict[Path, int] = defaultdict(int)
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            selected[path] += 1
    return sorted(p.stem for p, n in selected.items() if n == len(_code_cells(p)))


def _reports(name: str) -> list[dict]:
    usage_dir = Path(os.environ["LESSON_USAGE_DIR"])
    reports = [json.loads(p.read_text()) for p in sorted(usage_dir.glob(f"{name}.*.json"))]
    return [r for r in reports if r.get("kernel")]


def usage_problems(name: str, reports: list[dict]) -> list[str]:
    if not reports:
        return [f"{name}: no usage report from its kernel (did the set-up cell run `lessonlib.setup({name!r})`?)"]
    problems = []
    count = reports[0]["count"]
    used = set().union(*(r["used"] for r in reports))
    unused = sorted(set(range(count)) - used)
    if unused:
        problems.append(
            f"{name}: cassettes/{name}.yaml interaction(s) {unused} never played by the notebook "
            f"(remove them from tools/specs/{name}.yaml and re-render, or use them)")
    allowed = ALLOWED_MISSES.get(name, [])
    for report in reports:
        for miss in report["misses"]:
            if not any(text in miss for text, _ in allowed):
                first_lines = " / ".join(miss.splitlines()[:5])
                problems.append(f"{name}: unexpected replay miss: {first_lines}")
    if not all(r.get("socket_guard") for r in reports):
        problems.append(f"{name}: the socket guard was not installed in its kernel (LESSON_SOCKET_GUARD=1)")
    return problems


@pytest.mark.run_last
def test_every_recording_is_played_and_nothing_else_is_asked(request):
    if hasattr(request.config, "workerinput"):
        pytest.skip("under pytest-xdist the controller runs this check once every worker is done (conftest.py)")
    ran = _notebooks_run_whole(request.session.items)
    if not ran:
        pytest.skip("no notebook ran in this session (e.g. `pytest tests/`): run `pytest` (the README's "
                    "test command) or `pytest notebooks/NN_name.ipynb tests/test_usage.py`")
    problems = [p for name in ran for p in usage_problems(name, _reports(name))]
    assert not problems, "\n".join(problems)


def test_allowed_misses_are_provoked_by_cells_tagged_raises_exception():
    for name, entries in ALLOWED_MISSES.items():
        cells = _code_cells(NOTEBOOKS / f"{name}.ipynb")
        for text, why in entries:
            tagged = [c for c in cells if text in "".join(c["source"])
                      and "raises-exception" in c.get("metadata", {}).get("tags", [])]
            assert tagged, f"{name}: no cell tagged raises-exception sends {text!r} ({why})"


def test_usage_problems_name_unused_indexes_misses_and_a_missing_guard():
    report = {"count": 4, "used": [0, 2], "misses": ["Replay miss: cassettes/x.yaml has no recording ..."],
              "socket_guard": False, "kernel": True}
    problems = usage_problems("05_tool_use", [report, dict(report, used=[1], misses=[])])
    assert any("interaction(s) [3] never played" in p for p in problems)
    assert any("unexpected replay miss" in p for p in problems)
    assert any("socket guard was not installed" in p for p in problems)
    assert usage_problems("05_tool_use", []) and "no usage report" in usage_problems("05_tool_use", [])[0]
    ok = {"count": 2, "used": [0, 1], "socket_guard": True, "kernel": True,
          "misses": ["Replay miss ... sent: 'In one sentence, what is a webhook?'"]}
    assert usage_problems("01_setup", [ok]) == []


def test_the_replay_server_reports_usage_and_the_guard(tmp_path, monkeypatch):
    """The report the kernels write: indexes played, misses, socket_guard (and kernel: false here)."""
    import openai

    from lessonlib._testhooks import install_socket_guard
    from lessonlib.replay import ReplayServer

    install_socket_guard()  # conftest turns it on for the run; idempotent
    cassette = NOTEBOOKS / "cassettes" / "01_setup.yaml"
    report_path = tmp_path / "01_setup.123.json"
    server = ReplayServer(cassette, speed=0.0, usage_report=report_path).start()
    try:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
        report = json.loads(report_path.read_text())
        count = len(server.cassette.interactions)  # 2 authored; a recording of 01 has 3 (issue 13)
        assert report["count"] == count >= 2 and report["used"] == [] and len(report["misses"]) == 1
        assert report["socket_guard"] is True and report["kernel"] is False
    finally:
        server.stop()
