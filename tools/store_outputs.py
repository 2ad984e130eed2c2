"""Re-execute notebooks in replay mode and store their outputs: what `make test` (nbval) then compares.

    python tools/store_outputs.py                    # every notebook
    python tools/store_outputs.py 02_openai_chat     # some

Use it after a change to a notebook, a cassette, lessonlib or an SDK pin. It runs each notebook the way
the tests do (replay mode, instant pacing except cassettes marked `pacing: required`, no model or
base-URL overrides from your shell or .env), stops at the first cell that raises unless the cell is
tagged raises-exception, and writes the notebook only when every cell ran. Per-cell execution timestamps
are dropped so that a re-run changes only what the cells print, and consecutive pieces of one stream are
stored as one output (a cell that prints, sleeps and prints again would otherwise store two, which renders
as two blocks on GitHub; nbval compares streams merged anyway).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEST_ENV = {"LESSON_MODE": "replay", "LESSON_REPLAY_SPEED": "0", "MPLBACKEND": "agg",
            "TIKTOKEN_CACHE_DIR": str(ROOT / "lessonlib" / "tiktoken_cache"), "LESSON_SOCKET_GUARD": "1"}
DROPPED = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL",
           "LESSON_FULL_TRACEBACKS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LESSON_BUDGET_USD")


def tidy_outputs(nb: nbformat.NotebookNode) -> None:
    """What a notebook stores after a run: no execution timestamps (a re-run changes only what cells print), and
    consecutive pieces of one stream as one output (a cell that prints, pauses and prints again)."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        merged = []
        for out in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if last is not None and out.output_type == last.output_type == "stream" and out.name == last.name:
                last.text += out.text
            else:
                merged.append(out)
        if cell.cell_type == "code":
            cell.outputs = merged


def send_cell_ids(session: object) -> None:
    """Make a kernel client's execute requests carry ``session.cell_id`` as ``metadata.cellId``, as JupyterLab's
    do: lessonlib's replay server follows it (and record mode writes it into the recording). Used by
    tools/record_all.py and conftest.py; this tool itself runs in recorded order, without ids."""
    if hasattr(session, "cell_id"):
        return  # done for this session already
    send = session.msg

    def msg(msg_type: str, content: dict | None = None, *args: object, **kwargs: object) -> dict:
        out = send(msg_type, content, *args, **kwargs)
        if msg_type == "execute_request" and session.cell_id:
            out["metadata"]["cellId"] = session.cell_id
        return out

    session.msg = msg
    session.cell_id = None


def store(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    tidy_outputs(nb)
    nbformat.write(nb, path)


def main(names: list[str]) -> int:
    os.environ.update(TEST_ENV)
    for var in DROPPED:
        os.environ.pop(var, None)
    paths = [NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in names] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    failed = 0
    for path in paths:
        t0 = time.perf_counter()
        try:
            store(path)
            print(f"✔ {path.name}: outputs stored ({time.perf_counter() - t0:.0f} s)", flush=True)
        except CellExecutionError as exc:
            failed += 1
            print(f"✘ {path.name}: not written, a cell failed:\n{str(exc)[-1500:]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
