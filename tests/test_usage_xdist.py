"""The usage check also bites under pytest-xdist, where the controller runs it (conftest.UsageAcrossWorkers).

A probe notebook plays one interaction of a cassette that holds several, in a pytest run with two
workers and without tests/test_usage.py: only the controller's check can fail that run, and it must.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from probes import run_probes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from render_cassettes import render_spec  # noqa: E402

pytest.importorskip("xdist", reason="pytest-xdist is not installed (it is in requirements.txt)")

CELLS = [
    ("import lessonlib\ncourse = lessonlib.setup('zz_usage_probe')", None),
    ("from openai import OpenAI\n\nanswer = OpenAI().chat.completions.create(\n    model='gpt-5.4-mini', max_completion_tokens=300,\n"
     "    messages=[{'role': 'system', 'content': 'You are a helpful assistant.'},\n"
     "              {'role': 'user', 'content': 'Explain HTTP status codes in three sentences.'}])", None),
]


def test_an_unplayed_interaction_fails_a_two_worker_run(tmp_path):
    rendered = render_spec(ROOT / "tests" / "fixtures" / "basic_spec.yaml", tmp_path)
    proc = run_probes(".pytest_probe", tmp_path, {"zz_usage_probe": CELLS}, {"zz_usage_probe": rendered.read_text()},
                      "-n", "2", "--dist", "loadfile")
    out = proc.stdout + proc.stderr
    assert "2 passed" in out, out[-3000:]  # both cells ran fine ...
    assert proc.returncode == 1, out[-3000:]  # ... and the run still fails,
    assert "usage check across workers" in out and "never played by the notebook" in out, out[-3000:]
