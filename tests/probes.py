"""Probe notebooks, for tests that must watch a whole pytest run of notebooks pass or fail.

The probes are written into a git-ignored folder inside the repository (so the repository's conftest.py
applies, as it does to notebooks/) and run by pytest in a subprocess, with their cassettes in a temporary
folder. Used by tests/test_rerun.py and tests/test_usage_xdist.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Cell = tuple[str, "str | list[str] | None"]  # (source, stored stdout); a list: that many stream outputs


def write_notebook(path: Path, cells: list[Cell]) -> None:
    """A notebook of code cells stored as if run once, top to bottom. A cell whose stored stdout is None is
    tagged nbval-ignore-output (its output is not compared: a set-up banner, say)."""
    code = []
    for n, (source, out) in enumerate(cells, 1):
        texts = [] if out is None else [out] if isinstance(out, str) else out
        code.append({"cell_type": "code", "execution_count": n, "id": f"cell-{n}", "source": source,
                     "metadata": {"tags": ["nbval-ignore-output"]} if out is None else {},
                     "outputs": [{"name": "stdout", "output_type": "stream", "text": t} for t in texts if t]})
    nb = {"cells": code, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


def run_probes(folder: str, tmp_path: Path, notebooks: dict[str, list[Cell]], cassettes: dict[str, str],
               *pytest_args: str) -> subprocess.CompletedProcess:
    """Write ``notebooks`` into ROOT/``folder`` and ``cassettes`` (name -> YAML text) into tmp_path, run pytest
    on the folder with ``pytest_args`` (the repository's own pytest options apply too), then remove it."""
    probe = ROOT / folder
    shutil.rmtree(probe, ignore_errors=True)
    probe.mkdir()
    try:
        (tmp_path / "cassettes").mkdir()
        for name, text in cassettes.items():
            (tmp_path / "cassettes" / f"{name}.yaml").write_text(text, encoding="utf-8")
        for name, cells in notebooks.items():
            write_notebook(probe / f"{name}.ipynb", cells)
        env = {**os.environ, "LESSON_CASSETTE_DIR": str(tmp_path / "cassettes"), "LESSON_USAGE_DIR": str(tmp_path / "usage")}
        env.pop("LESSON_NBVAL_RUN_TWICE", None)
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args, str(probe)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
