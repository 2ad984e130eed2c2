"""Re-record cassettes from the real APIs, then store fresh replay-mode outputs in the notebooks.

    make record                          # every notebook (keys in .env, LESSON_MODE=record)
    make record NOTEBOOKS=04_streaming   # just one

For each notebook: run it top to bottom in record mode (every request goes to the provider and is
written, scrubbed, over notebooks/cassettes/NAME.yaml when the kernel shuts down), then run it again
in replay mode and save its outputs, so `make test` compares against what was just recorded.
Authored failures (entries marked `fault: true`, e.g. a 429 or a timeout) are kept: no provider can
be asked to produce them on demand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def run(path: Path, mode: str, save: bool) -> None:
    os.environ["LESSON_MODE"] = mode
    os.environ.setdefault("LESSON_REPLAY_SPEED", "0")
    nb = nbformat.read(path, as_version=4)
    if mode == "record":  # cells that show a replay miss on purpose would be recorded as a hit
        nb.cells = [c for c in nb.cells if "replay-only" not in c.get("metadata", {}).get("tags", [])]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # cells tagged raises-exception may raise; any other error stops here
    if save:
        nbformat.write(nb, path)


def main(names: list[str]) -> int:
    if os.environ.get("LESSON_MODE") != "record":
        print("run this as `make record` (it sets LESSON_MODE=record); your keys must be in .env")
        return 2
    paths = [NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in names] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"recording {path.name} ...", flush=True)
        try:
            run(path, "record", save=False)
            run(path, "replay", save=True)
        except CellExecutionError as exc:
            print(f"{path.name} failed while recording; its old cassette is untouched unless the kernel exited cleanly.\n{exc}")
            return 1
        print(f"  cassettes/{path.stem}.yaml recorded, outputs stored")
    print("done: review `git diff notebooks/`, then run `make test`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
