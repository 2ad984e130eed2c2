"""P3: does a replayed stream keep its recorded pace?

The streams of notebooks/cassettes/04_streaming.yaml (the streaming lesson: 4 OpenAI and 4 Anthropic
streams of 74-111 SSE events, recorded at ~60-80 tokens/s) are replayed by ``ReplayServer`` at
``LESSON_REPLAY_SPEED=1`` (server scale 1.0) and read at the raw SSE level with ``httpx2.stream``:
each event is timestamped when the blank line that ends it arrives (``iter_raw``), so the figure
times the server and the socket, not SDK object construction.

For every stream, gap *i* is the time between events *i-1* and *i*: replayed (client clock) vs
recorded (``event_times``). Reported: the median over all gaps of |replayed - recorded| / recorded
(the goal statistic), its 90th percentile, the error of each stream's total duration (first to last
event), and the time to the first event vs the recorded ``latency`` + first event time.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Result, median  # noqa: E402

GOAL = 0.10
CASSETTE = ROOT / "notebooks" / "cassettes" / "04_streaming.yaml"


def _read_stream(client, url: str, body: dict, headers: dict[str, str]) -> tuple[float, list[float]]:
    """POST ``body``; return (seconds to response headers, arrival time of each SSE event), both
    measured from just before the request is sent."""
    arrivals: list[float] = []
    buffer = b""
    t0 = time.perf_counter()
    with client.stream("POST", url, content=json.dumps(body).encode(), headers=headers, timeout=60) as r:
        headers_at = time.perf_counter() - t0
        assert r.status_code == 200, r.read()
        for chunk in r.iter_raw():
            now = time.perf_counter() - t0
            buffer += chunk
            while True:
                cut = buffer.find(b"\n\n")
                if cut < 0:
                    break
                if buffer[:cut].strip():
                    arrivals.append(now)
                buffer = buffer[cut + 2 :]
    return headers_at, arrivals


def measure(repeats: int = 1, cassette: Path = CASSETTE) -> Result:
    from lessonlib.cassette import Cassette
    from lessonlib.replay import ReplayServer

    streams = [
        i
        for i in Cassette.load(cassette).interactions
        if i.response.get("event_times") and isinstance(i.body, dict) and i.body.get("stream")
    ]
    rel_errors: list[float] = []
    recorded_gaps: list[float] = []
    duration_errors: list[float] = []
    first_errors: list[float] = []
    header_errors: list[float] = []
    progressive = True
    worst = ""
    import httpx2

    client = httpx2.Client()  # one client: building one loads TLS certificates (~40 ms), not our cost
    for _ in range(repeats):
        server = ReplayServer(cassette, speed=1.0).start()  # a fresh server replays each group in order
        try:
            assert server.scale == 1.0
            for item in streams:
                provider = "anthropic" if item.path.startswith("/v1/messages") else "openai"
                base = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url[: -len("/v1")]
                headers = {"content-type": "application/json"}
                before = set(server.used)
                headers_at, got = _read_stream(client, base + item.path, item.body, headers)
                assert set(server.used) - before == {item.index}, "the server replayed another interaction"
                want = [float(t) for t in item.response["event_times"]]
                assert len(got) == len(want), (len(got), len(want))
                for n in range(1, len(want)):
                    recorded, replayed = want[n] - want[n - 1], got[n] - got[n - 1]
                    if recorded > 0:
                        recorded_gaps.append(recorded)
                        rel_errors.append(abs(replayed - recorded) / recorded)
                rec_total, rep_total = want[-1] - want[0], got[-1] - got[0]
                duration_errors.append((rep_total - rec_total) / rec_total)
                latency = float(item.response.get("latency") or 0)
                first_errors.append(got[0] - (latency + want[0]))
                header_errors.append(headers_at - latency)
                # first event visible long before the last one: the stream is progressive
                if not got[0] < got[-1] - 0.5 * rec_total:
                    progressive = False
                    worst = f"interaction #{item.index}: first event at {got[0]:.3f} s, last at {got[-1]:.3f} s"
        finally:
            server.stop()

    gap_err = median(rel_errors)
    p90 = statistics.quantiles(rel_errors, n=10)[-1]
    worst_duration = max(duration_errors, key=abs)
    passed = gap_err <= GOAL and abs(worst_duration) <= GOAL and progressive
    detail = [
        f"{len(streams)} streams x {repeats} of {cassette.name} at scale 1.0: {len(rel_errors)} gaps, recorded gaps "
        f"median {median(recorded_gaps) * 1000:.1f} ms "
        f"(min {min(recorded_gaps) * 1000:.1f}, max {max(recorded_gaps) * 1000:.1f})",
        f"gap error |replayed-recorded|/recorded: median {gap_err * 100:.1f}% (goal statistic), "
        f"90th percentile {p90 * 100:.1f}%",
        f"total duration error per stream: median {median(duration_errors) * 100:+.2f}%, "
        f"worst {worst_duration * 100:+.2f}%",
        f"response headers vs recorded latency: median {median(header_errors) * 1000:+.1f} ms; first event vs "
        f"latency + first event time: median {median(first_errors) * 1000:+.1f} ms, worst "
        f"{max(first_errors, key=abs) * 1000:+.1f} ms",
        "first event visible before the last: " + ("yes, in every stream" if progressive else f"NO ({worst})"),
    ]
    return Result(
        key="P3",
        title="pacing fidelity (SSE gaps)",
        figure=f"{gap_err * 100:.1f}% median gap error",
        goal="within ±10% (and duration)",
        passed=passed,
        detail=detail,
        data={
            "median_gap_error": gap_err,
            "p90_gap_error": p90,
            "duration_errors": duration_errors,
            "first_event_errors": first_errors,
            "progressive": progressive,
        },
    )


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print(result.line())
    for line in result.detail:
        print("    " + line)
