"""Defect 12 of issue 12, at notebook level: re-running a cell shows its lesson again.

The replay server learns which cell runs from IPython's pre_run_cell event (JupyterLab sends the cell id);
a re-run of a cell gets the answers of its first run, and later cells keep theirs. These tests run
notebooks with nbclient, sending cell ids as JupyterLab does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_each_cell_twice(name: str) -> list[tuple[int, str, str]]:
    """Run notebook ``name`` with nbclient, each code cell twice in a row (with its cell id, as JupyterLab
    sends it); return (cell index, first outputs, second outputs) for every cell whose outputs differ."""
    import re

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    timing = re.compile(r"\b\d+(\.\d+)?\s?(s|ms|seconds)\b|\b\d+(\.\d+)?\s?×|0x[0-9a-f]{6,16}|127\.0\.0\.1:\d+")

    def shown(cell) -> str:
        """Outputs without what differs between two runs anyway: timings, ports, addresses; the order in which
        two concurrent streams interleave (04); and the second log handler a re-run of 09's set-up cell adds."""
        outs = [o.get("text") or o.get("evalue") or json.dumps(o.get("data", {}).get("text/plain", "")) for o in cell.outputs]
        text = re.sub(r"attempt \d+", "attempt N", re.sub(r"[OA]{20,}", "OA…", timing.sub("…", "".join(outs))))
        lines = text.splitlines()
        return "\n".join(line for n, line in enumerate(lines) if n == 0 or line != lines[n - 1])

    differ = []
    with client.setup_kernel():
        send, current = client.kc.session.msg, [None]

        def msg(msg_type, content=None, *args, **kwargs):
            out = send(msg_type, content, *args, **kwargs)
            if msg_type == "execute_request":
                out["metadata"]["cellId"] = current[0]
            return out

        client.kc.session.msg = msg
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            current[0] = cell.get("id")
            client.execute_cell(cell, index)
            first = shown(cell)
            client.execute_cell(cell, index)
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                continue  # its output varies by design (a progress bar, two streams interleaving); nbval skips it too
            if shown(cell) != first:
                differ.append((index, first[:300], shown(cell)[:300]))
    return differ


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
def test_12_each_cell_run_twice_in_a_row_shows_its_lesson_again(name):
    assert run_each_cell_twice(name) == []
