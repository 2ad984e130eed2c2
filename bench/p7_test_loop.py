"""P7: the maintainer's test loop, `make test`, against the same command on an earlier commit, back to back.

    python bench/p7_test_loop.py                     # this commit vs 74638f6 (issue 14's "today"), once each
    python bench/p7_test_loop.py --before REF --repeat 2

Both sides are fresh clones of this repository (HEAD and ``--before``) in a temporary folder, each with its own
`make install` (not timed). Then `make test` runs in each, one after the other (alternating the order when
repeated), timed as a whole process: wall seconds, and CPU seconds of the process and everything it waited for
(pytest, its workers, kernels, JupyterLab, Chromium). The clones have no ../shared beside them, so the llama-server
end-to-end test skips, as it does in CI. Each run takes several minutes; expect 10-15 minutes in all.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Result, load_average, median  # noqa: E402

GOAL = 0.5
BEFORE = "74638f6"  # main when issue 14 was filed


def _clone(ref: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "-q", ref], check=True)
    subprocess.run(["make", "-C", str(into), "install"], check=True, stdout=subprocess.DEVNULL)
    return into


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_make_test(clone: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LESSON_", "PYTEST_"))}
    env["LESSON_SKIP_REAL_UPSTREAM"] = "1"
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(["make", "-C", str(clone), "test"], env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    summary = next((line for line in reversed(proc.stdout.splitlines()) if " in " in line and "passed" in line), "")
    return {"wall": wall, "cpu": cpu, "returncode": proc.returncode, "summary": summary.strip("= ")}


def measure(before: str = BEFORE, repeat: int = 1) -> Result:
    work = Path(tempfile.mkdtemp(prefix="lessonbench-p7-"))
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        clones = {"before": _clone(before, work / "before"), "after": _clone("HEAD", work / "after")}
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(repeat):
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                runs[side].append(timed_make_test(clones[side]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = {side: median([x["wall"] for x in xs]) for side, xs in runs.items()}
    cpu = {side: median([x["cpu"] for x in xs]) for side, xs in runs.items()}
    ratio = wall["after"] / wall["before"]
    failed = [f"{side}: exit {x['returncode']}" for side, xs in runs.items() for x in xs if x["returncode"]]
    detail = [f"before ({before}): {wall['before']:.0f} s wall, {cpu['before']:.0f} CPU-s ({runs['before'][-1]['summary']})",
              f"after ({head}): {wall['after']:.0f} s wall, {cpu['after']:.0f} CPU-s ({runs['after'][-1]['summary']})",
              f"median of {repeat}; {load_average()}"]
    if failed:
        detail.append("FAILED RUNS: " + "; ".join(failed))
    return Result("P7", "make test wall time", f"{ratio:.2f}x ({wall['after']:.0f} s vs {wall['before']:.0f} s)",
                  f"<= {GOAL}x {before}", ratio <= GOAL and not failed, detail, {"runs": runs})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = measure(args.before, args.repeat)
    print(result.line())
    for line in result.detail:
        print("    " + line)
