"""P1: how long validating the course takes, against a floor measured in the same run.

    python bench/p1_validation.py                     # serial and pytest-xdist, once each
    python bench/p1_validation.py --repeat 3          # medians of 3
    python bench/p1_validation.py --xdist-stability 10   # run `-n 2 --dist loadfile` 10 times, count failures

*Real*: the test command over every notebook, ``python -m pytest notebooks/`` (pyproject's nbval options:
strict output comparison, sanitizers, replay mode through conftest.py), each cell run once
(LESSON_NBVAL_RUN_TWICE=0: the re-run pass that `make test` adds is part of P7, not of this ratio).

*Floor*: the same pytest command over temporary notebooks (bench/results/floor-PID/, git-ignored), one per
real notebook and with the same name and kernel, whose only cell holds every import statement found in
that notebook's code cells plus ``lessonlib.setup(name)``: the same kernels started, the same modules
imported, the same replay server started, no lesson cells. Serial and ``-n 2 --dist loadfile`` runs are
measured back to back; with ``--repeat`` they alternate and the medians are reported. Per-notebook
seconds come from ``--junitxml``. Each run gets its own LESSON_USAGE_DIR, so a benchmark never touches
.pytest_usage/ (conftest.py clears that folder at the start of a session).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, ROOT, Result, load_average, median  # noqa: E402

GOAL = 1.3
NOTEBOOKS = ROOT / "notebooks"
XDIST = ["-n", "2", "--dist", "loadfile"]


def notebook_imports(path: Path) -> list[str]:
    """Every import statement in a notebook's code cells, unparsed one per line, in first-seen order."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    seen: dict[str, None] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and node.module == "__future__"
            ):
                seen[ast.unparse(node)] = None
    return list(seen)


def write_floor(out: Path) -> list[Path]:
    """One floor notebook per real notebook: its imports and lessonlib.setup, nothing else."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for real in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(real, as_version=4)
        lines = notebook_imports(real) + ["import lessonlib", f"course = lessonlib.setup({real.stem!r}, quiet=True)"]
        floor = nbformat.v4.new_notebook(
            metadata={k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
        )
        floor.cells = [nbformat.v4.new_code_cell("\n".join(lines))]
        target = out / real.name
        nbformat.write(floor, target)
        written.append(target)
    return written


def run_pytest(target: Path, extra: list[str]) -> dict:
    """Run the test command on ``target``; wall seconds, outcome and per-notebook seconds."""
    usage = Path(tempfile.mkdtemp(prefix="lessonbench-usage-"))
    junit = usage / "junit.xml"
    # One pass per cell, as before issue 14: `make test` also re-runs every cell (conftest.py), which P7 times.
    env = dict(os.environ, LESSON_USAGE_DIR=str(usage), LESSON_NBVAL_RUN_TWICE="0")
    cmd = [sys.executable, "-m", "pytest", str(target.relative_to(ROOT)), "-q", *extra, f"--junitxml={junit}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = next(
        (line for line in reversed(proc.stdout.splitlines()) if re.search(r"\d+ (passed|failed|error)", line)), ""
    )
    per_notebook: dict[str, float] = defaultdict(float)
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            found = re.search(r"([^./:]+)\.ipynb", case.get("classname", "") + " " + case.get("file", ""))
            per_notebook[found.group(1) if found else "?"] += float(case.get("time") or 0)
    died = proc.stdout.count("Kernel died") + proc.stderr.count("Kernel died")
    shutil.rmtree(usage, ignore_errors=True)
    return {
        "cmd": " ".join(["pytest", str(target.relative_to(ROOT)), *extra]),
        "wall": wall,
        "returncode": proc.returncode,
        "summary": summary.strip("= ").strip(),
        "per_notebook": dict(per_notebook),
        "kernel_died": died,
        "tail": proc.stdout[-3000:] if proc.returncode else "",
    }


def measure(repeat: int = 1, xdist: bool = True) -> Result:
    import importlib.util

    xdist_missing = xdist and importlib.util.find_spec("xdist") is None
    xdist = xdist and not xdist_missing
    floor_dir = BENCH / "results" / f"floor-{os.getpid()}"
    write_floor(floor_dir)
    real_dir = NOTEBOOKS
    runs: dict[str, list[dict]] = defaultdict(list)
    try:
        for r in range(repeat):
            # The floor plays no recording, so the usage check across workers (conftest.py) is off for it.
            floor_opts = ["-p", "no:usage-across-workers"]
            plan = [("floor", floor_dir, ["-n", "0"]), ("real", real_dir, ["-n", "0"])]  # pyproject says -n 4
            if xdist:
                plan += [("floor -n2", floor_dir, XDIST + floor_opts), ("real -n2", real_dir, XDIST)]
            if r % 2:
                plan.reverse()
            for name, target, extra in plan:
                runs[name].append(run_pytest(target, extra))
    finally:
        shutil.rmtree(floor_dir, ignore_errors=True)

    wall = {name: median([x["wall"] for x in xs]) for name, xs in runs.items()}
    ratio = wall["real"] / wall["floor"]
    failures = [
        f"{name}: {x['summary'] or 'exit ' + str(x['returncode'])}"
        for name, xs in runs.items()
        for x in xs
        if x["returncode"] != 0
    ]
    detail = [
        f"serial: `pytest notebooks/` {wall['real']:.1f} s vs floor {wall['floor']:.1f} s = {ratio:.2f}x "
        f"(median of {repeat}; {runs['real'][-1]['summary']})",
    ]
    if xdist_missing:
        detail.append("pytest-xdist is not installed (it is not in requirements.txt): xdist runs skipped")
    if xdist:
        xr = wall["real -n2"] / wall["floor -n2"]
        detail.append(
            f"pytest-xdist `-n 2 --dist loadfile`: {wall['real -n2']:.1f} s vs floor {wall['floor -n2']:.1f} s "
            f"= {xr:.2f}x; "
            f"{wall['real'] / wall['real -n2']:.2f}x faster than serial; vs the serial floor "
            f"{wall['real -n2'] / wall['floor']:.2f}x ({runs['real -n2'][-1]['summary']})"
        )
    # where the time goes: per notebook, real minus floor (serial runs, last repeat)
    real_nb, floor_nb = runs["real"][-1]["per_notebook"], runs["floor"][-1]["per_notebook"]
    excess = sorted(((real_nb.get(k, 0) - floor_nb.get(k, 0), k) for k in real_nb), reverse=True)
    detail.append(
        "per notebook, real vs floor seconds (pytest's own timing, serial), largest excess first: "
        + ", ".join(f"{k} {real_nb[k]:.1f}/{floor_nb.get(k, 0):.1f}" for _, k in excess)
    )
    paced = _paced_seconds()
    if paced:
        detail.append(
            "recorded time the cassettes make the server wait (latency + stream pacing, once per "
            "interaction; pacing: required cassettes replay it even at LESSON_REPLAY_SPEED=0): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in paced.items())
        )
    if failures:
        detail.append("FAILED RUNS: " + "; ".join(failures))
    return Result(
        key="P1",
        title="course validation wall time",
        figure=f"{ratio:.2f}x floor ({wall['real']:.0f} s vs {wall['floor']:.0f} s)",
        goal=f"<= {GOAL}x",
        passed=ratio <= GOAL and not failures,
        detail=detail,
        data={
            "wall": wall,
            "runs": {k: [{kk: vv for kk, vv in x.items() if kk != "tail"} for x in xs] for k, xs in runs.items()},
        },
    )


def _paced_seconds() -> dict[str, float]:
    """Seconds of recorded latency, delay and stream pacing per cassette that replays them in tests
    (``pacing: required``, or a ``delay``, which is never scaled)."""
    from lessonlib.cassette import Cassette

    out = {}
    for path in sorted((NOTEBOOKS / "cassettes").glob("*.yaml")):
        try:
            cassette = Cassette.load(path)
        except Exception:  # noqa: BLE001 - someone else's cassette mid-edit: skip it
            continue
        total = 0.0
        for item in cassette.interactions:
            resp = item.response
            total += float(resp.get("delay") or 0)
            if cassette.pacing_required:
                times = resp.get("event_times") or [0]
                total += float(resp.get("latency") or 0) + float(times[-1])
        if total >= 0.5:
            out[path.stem] = round(total, 1)
    return out


def stability(n: int) -> None:
    """Run the notebooks under `-n 2 --dist loadfile` n times and count failed runs and dead kernels."""
    died = failed = 0
    for i in range(n):
        run = run_pytest(NOTEBOOKS, XDIST)
        died += run["kernel_died"]
        failed += run["returncode"] != 0
        print(
            f"run {i + 1}/{n}: {run['wall']:.1f} s, {run['summary']}, "
            f"kernel died x{run['kernel_died']}  ({load_average()})",
            flush=True,
        )
        if run["returncode"]:
            print(run["tail"], flush=True)
    print(f"{failed} of {n} runs failed; 'Kernel died' seen {died} times")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-xdist", action="store_true")
    parser.add_argument("--xdist-stability", type=int, metavar="N")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    print(load_average(), flush=True)
    if args.xdist_stability:
        stability(args.xdist_stability)
        return 0
    result = measure(args.repeat, not args.no_xdist)
    print(result.line())
    for line in result.detail:
        print("    " + line)
    print(load_average())
    if args.json:
        args.json.write_text(json.dumps(result.data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
