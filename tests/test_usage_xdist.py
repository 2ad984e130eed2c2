"""The usage check also bites under pytest-xdist, where the controller runs it (conftest.UsageAcrossWorkers).

A probe notebook plays one interaction of a cassette that holds several, in a pytest run with two
workers and without tests/test_usage.py: only the controller's check can fail that run, and it must.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from render_cassettes import render_spec  # noqa: E402

pytest.importorskip("xdist", reason="pytest-xdist is not installed (it is in requirements.txt)")

CELLS = [
    "import lessonlib\ncourse = lessonlib.setup('zz_usage_probe')",
    "from openai import OpenAI\n\nanswer = OpenAI().chat.completions.create(\n    model='gpt-5.4-mini', max_completion_tokens=300,\n"
    "    messages=[{'role': 'system', 'content': 'You are a helpful assistant.'},\n"
    "              {'role': 'user', 'content': 'Explain HTTP status codes in three sentences.'}])",
]


def probe_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "outputs": [], "source": src,
              "metadata": {"tags": ["nbval-ignore-output"]}} for i, src in enumerate(CELLS)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


def test_an_unplayed_interaction_fails_a_two_worker_run(tmp_path):
    probe_dir = ROOT / ".pytest_probe"  # inside the repo, so the repo's conftest.py applies; git-ignored
    shutil.rmtree(probe_dir, ignore_errors=True)
    probe_dir.mkdir()
    try:
        cassettes = tmp_path / "cassettes"
        cassettes.mkdir()
        rendered = render_spec(ROOT / "tests" / "fixtures" / "basic_spec.yaml", tmp_path)
        shutil.copy(rendered, cassettes / "zz_usage_probe.yaml")
        probe_notebook(probe_dir / "zz_usage_probe.ipynb")
        env = {**os.environ, "LESSON_CASSETTE_DIR": str(cassettes), "LESSON_USAGE_DIR": str(tmp_path / "usage")}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider",
             str(probe_dir / "zz_usage_probe.ipynb")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    out = proc.stdout + proc.stderr
    assert "2 passed" in out, out[-3000:]  # both cells ran fine ...
    assert proc.returncode == 1, out[-3000:]  # ... and the run still fails,
    assert "usage check across workers" in out and "never played by the notebook" in out, out[-3000:]
