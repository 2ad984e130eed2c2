"""Write into each spec which notebook cell makes each call: ``cell: <id>`` on every interaction.

    python tools/tag_cells.py                       # every notebook
    python tools/tag_cells.py 09_error_handling     # some
    python tools/render_cassettes.py                # then render the cassettes again

It runs the notebook top to bottom in replay mode, as tools/store_outputs.py does: the cells send no ids, so
the server plays the recordings in the order they were authored, and after each cell this notes which ones it
played. With the ids in the cassette, replay gives every cell its own recordings in whatever order a learner
runs the cells (record mode writes them by itself). Run it after adding, removing or moving an interaction.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient
from store_outputs import DROPPED, NOTEBOOKS, TEST_ENV

SPECS = Path(__file__).resolve().parent / "specs"
PROBE = ("import json, lessonlib.config as c\n"
         "print('played:', json.dumps(sorted(c._ACTIVE['server'].used) if 'server' in c._ACTIVE else []))")


def cells_of(name: str) -> dict[int, str]:
    """Interaction index -> the id of the first cell that played it, for a run of the notebook from the top."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = [x for c in cells for x in (c, nbformat.v4.new_code_cell(PROBE))]
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    owner: dict[int, str] = {}
    for cell, probe in zip(nb.cells[::2], nb.cells[1::2]):
        text = "".join(o.get("text", "") for o in probe.outputs)
        played = json.loads(re.search(r"played: (\[.*\])", text)[1])
        for index in played:
            owner.setdefault(index, cell.id)
    return owner


def with_cells(text: str, owner: dict[int, str]) -> str:
    """A spec's text with ``cell: <id>`` first in interaction n for each n in ``owner`` (an earlier id replaced;
    an interaction no cell played loses its id). Only those lines change, so comments and layout stay."""
    lines = text.splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines) if line.startswith("interactions:"))
    indent = re.match(r"( *)- ", next(line for line in lines[start + 1:] if line.lstrip().startswith("- ")))[1]
    index = 0
    for n in range(start + 1, len(lines)):
        if not lines[n].startswith(f"{indent}- "):
            continue
        rest = re.sub(r"^cell: \S+\n?", "", lines[n][len(indent) + 2:])  # an earlier run's id goes
        if not rest.strip():  # the id had a line of its own: the item goes on with the next line
            lines[n + 1] = lines[n + 1][len(indent) + 2:] if n + 1 < len(lines) else ""
            rest, lines[n + 1] = lines[n + 1], ""
        if index in owner:
            rest = f"cell: {owner[index]}\n{indent}  {rest}"
        lines[n] = f"{indent}- {rest}"
        index += 1
    return "".join(lines)


def tag(name: str) -> None:
    path = SPECS / f"{name}.yaml"
    owner = cells_of(name)
    text = with_cells(path.read_text(encoding="utf-8"), owner)
    path.write_text(text, encoding="utf-8")
    count = len(yaml.safe_load(text)["interactions"])
    unplayed = sorted(set(range(count)) - set(owner))
    print(f"{path.name}: {len(owner)} of {count} interactions tagged"
          + (f"; never played: {unplayed}" if unplayed else ""))


def main(names: list[str]) -> int:
    os.environ.update(TEST_ENV)
    for var in DROPPED:
        os.environ.pop(var, None)
    for name in names or [p.stem for p in sorted(SPECS.glob("*.yaml"))]:
        tag(name.removesuffix(".ipynb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
