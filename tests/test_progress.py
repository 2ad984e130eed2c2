"""python -m lessonlib progress reads solved exercises from saved notebook outputs."""

import json
import subprocess
import sys

from lessonlib.exercises import EXERCISES
from lessonlib.exercises.progress import print_progress, progress


def _nb(path, lines):
    cells = [{"cell_type": "code", "metadata": {}, "source": "check(...)", "execution_count": 1,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": [line + "\n"]}]} for line in lines]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_progress_reads_passes_and_failures(tmp_path):
    _nb(tmp_path / "01_setup.ipynb", ["✅ 01.1 passed (which keys are set)", "❌ 01.2 not yet (point a client): hint"])
    state = progress(tmp_path)
    assert state["01.1"] == "passed" and state["01.2"] == "not yet"
    assert all(v == "not run" for k, v in state.items() if not k.startswith("01."))


def test_a_pass_after_what_the_answer_printed_on_the_same_line_counts(tmp_path):
    # collect_text(stream) printing each chunk with end="", as 04's loop does: the check's line follows the text
    _nb(tmp_path / "04_streaming.ipynb", ["APIs hum softly✅ 04.1 passed (Collect the text of an OpenAI stream)"])
    assert progress(tmp_path)["04.1"] == "passed"


def test_a_pass_in_a_copy_of_a_notebook_counts_whatever_the_copy_is_called(tmp_path):
    # JupyterLab's Duplicate makes "01_setup-Copy1.ipynb", read before "01_setup.ipynb": the original's older
    # "not yet" once undid the pass, and a copy named "01_setup_mine.ipynb" did not; the name decided.
    for copy in ("01_setup-Copy1.ipynb", "01_setup_mine.ipynb"):
        for path in tmp_path.glob("*.ipynb"):
            path.unlink()
        _nb(tmp_path / "01_setup.ipynb", ["❌ 01.1 not yet (which keys are set): key_status returned None"])
        _nb(tmp_path / copy, ["✅ 01.1 passed (which keys are set)"])
        assert progress(tmp_path)["01.1"] == "passed", copy


def test_a_check_of_a_mistyped_id_is_not_counted_as_an_exercise(tmp_path, capsys):
    _nb(tmp_path / "01_setup.ipynb", ["❌ 01.9 not yet: there is no exercise '01.9'; check the id in the cell above."])
    state = progress(tmp_path)
    assert "01.9" not in state  # it once said "exercises solved: 0 of 32" and listed 01.9 under notebook 01
    print_progress(tmp_path)
    assert f"exercises solved: 0 of {len(EXERCISES)}\n" in capsys.readouterr().out


def test_shipped_notebooks_are_unsolved_and_the_command_runs():
    state = progress()
    assert state and "passed" not in state.values(), "stored outputs must be the unsolved state"
    out = subprocess.run([sys.executable, "-m", "lessonlib", "progress"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("exercises solved: 0 of")


def test_a_file_that_is_json_but_no_notebook_is_skipped_not_a_crash(tmp_path):
    # "[]" or a notebook whose cells are not mappings once raised AttributeError out of `python -m lessonlib progress`
    (tmp_path / "02_bad.ipynb").write_text("[]")
    (tmp_path / "03_bad.ipynb").write_text(json.dumps({"cells": ["not a cell"]}))
    (tmp_path / "05_bad.ipynb").write_text(json.dumps({"cells": [{"outputs": [7]}]}))
    _nb(tmp_path / "01_setup.ipynb", ["✅ 01.1 passed (which keys are set)"])
    assert progress(tmp_path)["01.1"] == "passed"


def test_a_console_that_is_not_utf8_gets_the_list(tmp_path):
    # print_progress once ended in UnicodeEncodeError there: ASCII at once, cp1252 (Git Bash on Windows) once ✅ showed
    import contextlib
    import io

    _nb(tmp_path / "01_setup.ipynb", ["✅ 01.1 passed (which keys are set)"])
    for encoding in ("ascii", "cp1252"):
        buffer = io.BytesIO()
        console = io.TextIOWrapper(buffer, encoding=encoding)
        with contextlib.redirect_stdout(console):
            print_progress(tmp_path)
        console.flush()
        assert "  notebook 01: 01.1+ 01.2-\n" in buffer.getvalue().decode(encoding), encoding
