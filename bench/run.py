"""Run the course's benchmarks and print one line per figure, with its goal and verdict.

    python bench/run.py              # all seven (about 20 minutes; P1 and P7 take most of it)
    python bench/run.py P2 P3        # a subset
    python bench/run.py P1 --p1-repeat 3 --p1-no-xdist

Every figure is a ratio measured in this one run on this machine (both sides side by side, medians of
repeats), so it holds on a loaded machine better than a raw time would; the machine's load average is
printed before and after. Tests never assert on time: this is for people, run by hand (`make bench`).
Results also go to bench/results/latest.json (git-ignored). What each one measures is in its module:

    P1  bench/p1_validation.py      `pytest notebooks/` vs a floor of the same kernels and imports
    P2  bench/replay_overhead.py    replay server vs httpx2.MockTransport, per SDK request
    P3  bench/p3_pacing.py          replayed SSE gaps vs recorded gaps at scale 1.0
    P4  bench/p4_async_batch.py     50 requests, Semaphore(10), 0.2 s latency vs the 1.0 s ideal
    P5  bench/p5_trimming.py        trim_messages vs the lesson's trim_conversation
    P6  bench/p6_token_estimate.py  count_messages vs usage.prompt_tokens of real OpenAI recordings
    P7  bench/p7_test_loop.py       `make test` here vs on 74638f6, fresh clones, back to back (~15 min)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, Result, load_average  # noqa: E402

ALL = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]


def run_one(key: str, args: argparse.Namespace) -> Result:
    if key == "P1":
        import p1_validation

        return p1_validation.measure(args.p1_repeat, not args.p1_no_xdist)
    if key == "P2":
        import replay_overhead

        return replay_overhead.measure(rounds=10)
    if key == "P3":
        import p3_pacing

        return p3_pacing.measure()
    if key == "P4":
        import p4_async_batch

        return p4_async_batch.measure()
    if key == "P5":
        import p5_trimming

        return p5_trimming.measure()
    if key == "P6":
        import p6_token_estimate

        return p6_token_estimate.measure()
    if key == "P7":
        import p7_test_loop

        return p7_test_loop.measure(args.p7_before)
    raise SystemExit(f"unknown benchmark {key!r}: choose from {' '.join(ALL)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", metavar="P#", help="which benchmarks (default: all)")
    parser.add_argument("--p1-repeat", type=int, default=1, help="P1 repeats (each ~4 min with xdist)")
    parser.add_argument("--p1-no-xdist", action="store_true", help="P1: skip the pytest-xdist runs")
    parser.add_argument("--p7-before", default="74638f6", help="P7: the commit to compare `make test` with")
    args = parser.parse_args(argv)
    keys = [k.upper() for k in args.only] or ALL
    for key in keys:
        if key not in ALL:
            parser.error(f"unknown benchmark {key!r}: choose from {' '.join(ALL)}")

    started = time.perf_counter()
    print(f"bench/run.py {' '.join(keys)} — {platform.python_version()}, {load_average()}", flush=True)
    results: list[Result] = []
    for key in keys:
        t = time.perf_counter()
        try:
            result = run_one(key, args)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            result = Result(key, "(crashed)", f"{type(exc).__name__}: {exc}"[:60], "-", None)
        results.append(result)
        print(result.line(), flush=True)
        for line in result.detail:
            print("    " + line, flush=True)
        print(f"    ({time.perf_counter() - t:.0f} s; {load_average()})", flush=True)

    print("\nsummary (figure, goal, verdict):")
    for result in results:
        print(result.line())
    print(f"total {time.perf_counter() - started:.0f} s; {load_average()}")

    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    record = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_after": load_average(),
        "results": [
            {
                "key": r.key,
                "title": r.title,
                "figure": r.figure,
                "goal": r.goal,
                "verdict": r.verdict,
                "detail": r.detail,
                "data": r.data,
            }
            for r in results
        ],
    }
    (out / "latest.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
