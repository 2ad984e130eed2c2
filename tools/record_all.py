"""Re-record cassettes from the real APIs, then store fresh replay-mode outputs in the notebooks.

    make record                                    # every notebook (keys in .env, LESSON_MODE=record)
    make record NOTEBOOKS="01_setup 04_streaming"  # some

For each notebook, two passes, each in a fresh kernel:

1. record: run it top to bottom in record mode, into a temporary cassette folder (LESSON_CASSETTE_DIR), which
   starts as a copy of the notebook's cassette so that authored failures (entries marked `fault: true`: a 429,
   a timeout, which no provider produces on demand) are replayed and kept. Cells tagged `replay-only` are skipped.
2. replay: run it again in replay mode against the new cassette, in the environment the tests use
   (tools/store_outputs.py: no keys, no model or base-URL overrides, no .env), so the stored outputs are the ones
   a clean checkout replays. The models the recording used are kept in the cassette (`provenance.models`) and
   replay uses them.

Only when both passes completed are the cassette and the notebook replaced, together: both are written to
temporary files beside their targets, then both renamed over them. Otherwise both stay as they were, and what was
recorded is kept as `notebooks/cassettes/NAME.partial.yaml` (git-ignored). One notebook's failure never stops the
others. The report says, per notebook, recorded or failed with the cell and the error; the exit code is 0 only
when every notebook asked for was recorded.

`--notebooks DIR` records the notebooks of another folder (its cassettes in DIR/cassettes); the tests use it.
`LESSON_RECORD_CELL_TIMEOUT` (seconds, default 600) bounds each cell.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from store_outputs import DROPPED, TEST_ENV, send_cell_ids, tidy_outputs  # noqa: E402 - test env and stored outputs, once

from lessonlib.cassette import Cassette, CassetteError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# Besides what store_outputs drops: what only the record pass may see. PYTHON_DOTENV_DISABLED keeps a maintainer's
# .env (keys, models) out of the replay pass: notebook 01 prints whether a key is set, a clean checkout says not.
REPLAY_DROPPED = (*DROPPED, "LESSON_OPENAI_UPSTREAM", "LESSON_ANTHROPIC_UPSTREAM", "LESSON_REPLAY_CAPTURE",
                  "LESSON_USAGE_DIR", "LESSON_CASSETTE_DIR", "ANTHROPIC_AUTH_TOKEN")


@dataclass
class Failure(Exception):
    """Where a pass stopped: the cell (index in the notebook file, first line) and the error, one line each."""

    cell: int | None
    source: str
    error: str
    where: str = ""  # instead of the cell, when no cell stopped it

    def __str__(self) -> str:
        where = self.where or (f"at cell {self.cell} (`{self.source}`)" if self.cell is not None
                               else "before any cell ran")
        return f"{where}: {self.error}"


def _first_line(text: str, limit: int = 160) -> str:
    line = next((x for x in str(text).strip().splitlines() if x.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _test_cell_timeout() -> int:
    """make test's limit per cell (--nbval-cell-timeout in pyproject.toml's addopts)."""
    import tomllib

    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    found = re.search(r"--nbval-cell-timeout=(\d+)", addopts)
    return int(found[1]) if found else 600  # none set: nbval waits as long as the record pass


# The replay pass gets make test's limit: a notebook that paces its replay as recorded (pacing: required) replays a
# slow recording (a local model on a busy machine) as slowly, and make test would then time out on it.
REPLAY_CELL_TIMEOUT = _test_cell_timeout()


def execute(path: Path, env: dict[str, str], *, skip_replay_only: bool,
            timeout: int | None = None) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel with exactly `env`; raise Failure naming the cell that stopped it.
    ``timeout``: seconds a cell may take (default LESSON_RECORD_CELL_TIMEOUT, else 600)."""
    nb = nbformat.read(path, as_version=4)
    original = list(range(len(nb.cells)))
    if skip_replay_only:  # cells that show a replay miss on purpose would be recorded as a hit
        kept = [(i, c) for i, c in enumerate(nb.cells) if "replay-only" not in c.get("metadata", {}).get("tags", [])]
        original, nb.cells = [i for i, _ in kept], [c for _, c in kept]
    current: list[int] = []
    limit = timeout or int(env.get("LESSON_RECORD_CELL_TIMEOUT") or 600)

    def started(cell: nbformat.NotebookNode, cell_index: int) -> None:
        current.append(cell_index)
        send_cell_ids(client.kc.session)  # as JupyterLab does: record mode writes each recording's cell id
        client.kc.session.cell_id = cell.get("id")

    client = NotebookClient(nb, timeout=limit, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_start=started)

    def failure(error: str) -> Failure:
        if not current:
            return Failure(None, "", error)
        return Failure(original[current[-1]], _first_line(nb.cells[current[-1]].source), error)

    try:
        try:
            client.execute(env=env, cwd=str(path.parent))  # cells tagged raises-exception may raise; no other
        finally:  # Ctrl-C: nbclient's own SIGINT handler shut the kernel down (its only trace is this future)
            if getattr(client, "_async_cleanup_kernel_future", None) is not None:
                raise KeyboardInterrupt
    except CellExecutionError as exc:
        if exc.ename == "KeyboardInterrupt":  # the kernel got the terminal's SIGINT first
            raise KeyboardInterrupt from None
        raise failure(_first_line(f"{exc.ename}: {exc.evalue}", 300)) from None
    except CellTimeoutError:
        why = ("make test's limit per cell, --nbval-cell-timeout in pyproject.toml: replay keeps this notebook's "
               "recorded pace, so record again when the provider answers faster" if timeout
               else "LESSON_RECORD_CELL_TIMEOUT")
        raise failure(f"the cell did not finish within {client.timeout} s ({why})") from None
    except DeadKernelError as exc:
        raise failure(f"the kernel died: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a kernel that cannot start, a broken notebook file
        raise failure(f"{type(exc).__name__}: {_first_line(exc, 300)}") from None
    tidy_outputs(nb)  # stored exactly as store_outputs stores them
    return nb


def _this_lessonlib(env: dict[str, str]) -> dict[str, str]:
    """Kernels import lessonlib from this checkout, whichever checkout the venv was installed from."""
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def record_env(cassette_dir: Path) -> dict[str, str]:
    env = _this_lessonlib(dict(os.environ, LESSON_MODE="record", LESSON_CASSETTE_DIR=str(cassette_dir)))
    env.setdefault("LESSON_REPLAY_SPEED", "0")  # authored faults answer at once
    env.pop("LESSON_USAGE_DIR", None)
    return env


def replay_env(cassette_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in REPLAY_DROPPED}
    env.update(TEST_ENV, PYTHON_DOTENV_DISABLED="1", LESSON_CASSETTE_DIR=str(cassette_dir))
    return _this_lessonlib(env)


def _without_model(body: object) -> str:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "model"}
    return json.dumps(body, sort_keys=True)


def carry_notes(new: Cassette, old: Cassette | None) -> None:
    """Give each recorded interaction the `note` of the authored one it re-recorded (same endpoint and body but
    for the model; the k-th such recording gets the k-th note): exercise checks find their streams by note."""
    if old is None:
        return
    notes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for item in old.interactions:
        notes[(item.method, item.path, _without_model(item.body))].append(item.raw.get("note"))
    taken: dict[tuple[str, str, str], int] = defaultdict(int)
    for item in new.interactions:
        key = (item.method, item.path, _without_model(item.body))
        n = taken[key]
        taken[key] += 1
        if "note" not in item.raw and n < len(notes[key]) and notes[key][n] is not None:
            item.raw = {"note": notes[key][n], **item.raw}


def _n(count: int, what: str) -> str:
    return f"{count} {what}" + ("" if count == 1 else "s")


def _temp_beside(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def replace_together(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary file over its target, after all of them were fully written."""
    for tmp, target in pairs:
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)


@dataclass
class Result:
    name: str
    ok: bool
    line: str


def record_one(nb_path: Path) -> Result:
    name, cassettes = nb_path.stem, nb_path.parent / "cassettes"
    cassette, partial = cassettes / f"{name}.yaml", cassettes / f"{name}.partial.yaml"
    rel = lambda p: os.path.relpath(p, nb_path.parent)  # noqa: E731 - paths as the maintainer sees them
    try:
        old = Cassette.load(cassette) if cassette.exists() else None
    except CassetteError as exc:
        return Result(name, False, f"✘ {name}: not recorded, its cassette does not load: {_first_line(exc)}")
    work = Path(tempfile.mkdtemp(prefix=f"lesson-record-{name}-"))
    try:
        if cassette.exists():
            shutil.copy2(cassette, work / cassette.name)  # its authored faults are replayed and kept
        stage, started = "record", time.perf_counter()
        try:
            execute(nb_path, record_env(work), skip_replay_only=True)
            recording = _recording(work, name)
            if recording is None:
                raise Failure(None, "", "no call reached a provider, so there is nothing to record",
                              "when every cell had run")
            carry_notes(recording, old)
            recording.save(work / f"{name}.yaml")  # what the replay pass reads
            stage = "replay"
            nb = execute(nb_path, replay_env(work), skip_replay_only=False, timeout=REPLAY_CELL_TIMEOUT)
        except Failure as failure:
            kept = _keep_partial(work, name, partial)
            what = {"record": "recording", "replay": "replaying the new recording"}[stage]
            tail = (f"; what was recorded ({_n(kept, 'interaction')}) is kept in {rel(partial)}" if kept
                    else "; nothing was recorded")
            return Result(name, False, f"✘ {name}: failed while {what}, {failure}\n"
                                       f"    {rel(cassette)} and {nb_path.name} are unchanged{tail}")
        tmp_cassette, tmp_nb = _temp_beside(cassette), _temp_beside(nb_path)
        try:
            recording.save(tmp_cassette)
            nbformat.write(nb, str(tmp_nb))
            replace_together([(tmp_cassette, cassette), (tmp_nb, nb_path)])
        finally:
            tmp_cassette.unlink(missing_ok=True)
            tmp_nb.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)  # an older failed attempt's leftovers
        faults = sum(bool(i.response.get("fault")) for i in recording.interactions)
        models = recording.provenance.get("models") or {}
        return Result(name, True, f"✔ {name}: recorded ({_n(len(recording.interactions), 'interaction')}, "
                                  f"{_n(faults, 'authored fault')} kept; models {models.get('openai')} / {models.get('anthropic')}) in "
                                  f"{time.perf_counter() - started:.0f} s; {rel(cassette)} and {nb_path.name} replaced")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _recording(work: Path, name: str) -> Cassette | None:
    """The finished recording of a record pass (the kernel moved it over the copy when it shut down)."""
    try:
        found = Cassette.load(work / f"{name}.yaml") if (work / f"{name}.yaml").exists() else None
    except CassetteError:
        return None
    if found is None or found.provenance.get("kind") != "recorded" or (work / f"{name}.recording.yaml").exists():
        return None
    return found


def _keep_partial(work: Path, name: str, partial: Path) -> int:
    """Move whatever the failed attempt recorded beside the cassette; how many interactions it holds (0: none)."""
    for candidate in (work / f"{name}.recording.yaml", work / f"{name}.yaml"):
        try:
            found = Cassette.load(candidate) if candidate.exists() else None
        except CassetteError:
            continue
        if found is not None and found.provenance.get("kind") == "recorded" and found.interactions:
            tmp = _temp_beside(partial)
            shutil.copyfile(candidate, tmp)
            replace_together([(tmp, partial)])
            return len(found.interactions)
    return 0


def main(argv: list[str]) -> int:
    folder = NOTEBOOKS
    if argv[:1] == ["--notebooks"]:
        folder, argv = Path(argv[1]).resolve(), argv[2:]
    if os.environ.get("LESSON_MODE") != "record":
        print("run this as `make record` (it sets LESSON_MODE=record); your keys must be in .env")
        return 2
    names = [n.removesuffix(".ipynb") for arg in argv for n in arg.split()]
    paths = [folder / f"{n}.ipynb" for n in names] or sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        print(f"no such notebook in {folder}: {', '.join(missing)}")
        return 2
    print(f"make record: {len(paths)} notebook(s), each recorded, then replayed as a clean checkout would", flush=True)
    results = []
    for path in paths:
        print(f"  {path.stem} ...", flush=True)
        try:
            results.append(record_one(path))
        except KeyboardInterrupt:
            print(f"✘ {path.stem}: interrupted (Ctrl-C); cassettes/{path.stem}.yaml and {path.name} are unchanged, "
                  f"the notebooks after it were not run", flush=True)
            return 130
        print(results[-1].line, flush=True)
    done = sum(r.ok for r in results)
    failed = ", ".join(r.name for r in results if not r.ok)
    review = "review `git diff notebooks/`, then run `make test`"
    print(f"\nrecorded {done} of {len(results)}" + (f": {review}" if not failed else f"; not recorded: {failed}")
          + (f" (for the recorded ones, {review})" if failed and done else ""))
    return 0 if done == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
