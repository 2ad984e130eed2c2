"""``python -m lessonlib progress``: which exercises are solved, read from the saved notebooks.

A check cell's saved output says "✅ NN.k passed" or "❌ NN.k not yet"; this reads those lines from
every ``notebooks/NN_*.ipynb`` on disk (save your notebook first). Taught in: 01_setup.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from lessonlib.display import console_shows

from . import EXERCISES, FAIL_MARK, PASS_MARK, _load_all

# not only at a line's start: an answer that prints with end="" (04's stream loop) leaves the check's line after it
_LINE = re.compile(rf"(?:{PASS_MARK}|{FAIL_MARK}) (\d\d\.\d+) (passed|not yet)")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def progress(folder: Path = NOTEBOOKS) -> dict[str, str]:
    """Exercise id -> "passed" / "not yet" / "not run", from the notebooks' saved outputs."""
    _load_all()
    state = {ex_id: "not run" for ex_id in EXERCISES}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        try:
            texts = ["".join(output.get("text", "")) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
                     for output in cell.get("outputs", [])]  # an output's text: a list of lines, or one string
        except (OSError, ValueError, LookupError, TypeError, AttributeError):  # unreadable, or JSON but no notebook
            continue
        for ex_id, verdict in _LINE.findall("\n".join(texts)):
            # not a mistyped id's "❌ 01.9 not yet: there is no exercise '01.9'"; and a pass in one copy of a
            # notebook (JupyterLab's "01_setup-Copy1.ipynb") is not undone by another's older "not yet"
            if ex_id in state and state[ex_id] != "passed":
                state[ex_id] = verdict
    return state


def print_progress(folder: Path = NOTEBOOKS) -> int:
    state = progress(folder)
    solved = sum(v == "passed" for v in state.values())
    # a console that cannot show the marks (ASCII; Git Bash on Windows: cp1252) gets + and -
    done, todo = (PASS_MARK, "·") if console_shows(PASS_MARK + "·") else ("+", "-")
    print(f"exercises solved: {solved} of {len(state)}")
    for nb, ids in itertools.groupby(sorted(state), key=lambda ex_id: ex_id.split(".")[0]):
        marks = " ".join(f"{i}{done if state[i] == 'passed' else todo}" for i in ids)
        print(f"  notebook {nb}: {marks}")
    if solved < len(state):
        print("Solve an exercise, run its check cell and save the notebook; this list reads the saved outputs.")
    return 0
