"""P2: what the local replay server costs per request, against an in-process floor.

    python bench/replay_overhead.py                  # defaults: 15 rounds of 60 requests each way
    python bench/replay_overhead.py --rounds 5 --requests 100
    python bench/replay_overhead.py --variant        # also the single-write proposal, side by side

Both sides use the real OpenAI SDK (``client.chat.completions.create``) and receive the *same bytes*:

- replay: ``OpenAI(base_url=server.openai_base_url)`` against ``lessonlib.replay.ReplayServer`` on
  127.0.0.1 (``LESSON_REPLAY_SPEED=0``: no recorded latency), i.e. what every notebook cell pays;
- floor: ``OpenAI(http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))``, the handler
  returning the status, headers and body the server sent for that request (captured once).

Rounds alternate replay / floor, so both see the same machine load; the figure is the median over
rounds of (replay time per request / floor time per request). A second pair does the same for a
streamed answer (SSE, instant pacing) as detail, and raw ``httpx2`` without the SDK shows the
server's own cost in microseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Result, fmt_ms, load_average, median, render_temp_cassette, temp_dir  # noqa: E402

GOAL_VS_BARE = 1.15  # issue 14's goal, against a bare loopback responder

ANSWER = """Here are the HTTP status classes you will meet most often when calling an API:

1. **2xx — success.** `200 OK` carries the answer; `201 Created` says a new resource exists.
2. **3xx — redirection.** The resource lives elsewhere; most clients follow these for you.
3. **4xx — your request.** `400` means malformed input, `401` a missing or wrong key, `404` a
   wrong path or model id, and `429` that you exceeded a rate limit (look at `retry-after`).
4. **5xx — the server.** `500`, `502` and `503` are usually transient: retry with backoff.

For LLM APIs in particular, treat `429` and `5xx` as retryable and everything else in `4xx` as a
bug to fix in your request: retrying a `400` only spends your rate limit."""

REQUEST = {
    "model": "gpt-6-luna",
    "max_completion_tokens": 400,
    "messages": [
        {"role": "system", "content": "You are a concise API tutor."},
        {"role": "user", "content": "Summarise the HTTP status code classes an API client must handle."},
    ],
}
STREAM_REQUEST = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}

SPEC = {
    "notebook": "bench_replay_overhead",
    "interactions": [
        {"provider": "openai", "request": REQUEST, "reply": {"text": ANSWER}},
        {"provider": "openai", "request": STREAM_REQUEST, "reply": {"text": ANSWER}},
    ],
}


def _capture(url: str, body: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    """The exact status, headers and body the replay server sends for ``body``."""
    import httpx2

    r = httpx2.post(url, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    headers = [(k, v) for k, v in r.headers.multi_items() if k.lower() != "transfer-encoding"]
    return r.status_code, headers, r.content


def _sdk_clients(server, captured: dict[bool, tuple[int, list[tuple[str, str]], bytes]]):
    import httpx2
    import openai

    def handler(request: httpx2.Request) -> httpx2.Response:
        status, headers, content = captured[b'"stream":true' in request.content or b'"stream": true' in request.content]
        return httpx2.Response(status, headers=headers, content=content)

    replay = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0)
    floor = openai.OpenAI(
        base_url="http://floor.invalid/v1",
        api_key="replay",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return replay, floor


def _bare_responder(blob: bytes):
    """A bare loopback HTTP/1.1 responder: reads a request, answers ``blob``, no matching at all.

    It separates the cost of real sockets (client and server side) from the cost of our server."""
    import socket
    import socketserver
    import threading

    class Handler(socketserver.StreamRequestHandler):
        def setup(self) -> None:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def handle(self) -> None:
            while True:
                length = 0
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                self.rfile.read(length)
                self.wfile.write(blob)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _blob(status: int, headers: list[tuple[str, str]], content: bytes) -> bytes:
    head = f"HTTP/1.1 {status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers if k.lower() != "content-length")
    return (head + f"content-length: {len(content)}\r\n\r\n").encode("latin-1") + content


def _single_write(server) -> bool:
    """VARIANT (a proposal, not what ships): make ``server`` answer a plain JSON response with one
    precomputed write (status line + headers + body built once per interaction) instead of
    ``send_response`` / ``send_header`` x N / ``end_headers`` / ``write``. Patches only this server's
    own handler class; returns False if lessonlib's internals no longer look as expected."""
    from lessonlib.cassette import response_headers

    handler = getattr(getattr(server, "_httpd", None), "RequestHandlerClass", None)
    original = getattr(handler, "_replay", None)
    if handler is None or original is None:
        return False
    cache: dict[int, bytes] = {}

    def replay(self, item, provider, arrived):  # noqa: ANN001 - mirrors lessonlib.replay._Handler._replay
        resp = item.response
        headers = response_headers(item)
        streaming = any(k.lower() == "content-type" and "event-stream" in v for k, v in headers)
        if streaming or resp.get("delay") or (resp.get("latency") and self.owner.scale):
            return original(self, item, provider, arrived)
        blob = cache.get(item.index)
        if blob is None:
            data = item.response_body() if hasattr(item, "response_body") else str(resp["body"]["string"]).encode()
            head = f"HTTP/1.1 {resp['status']['code']} {resp['status'].get('message') or ''}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers) + f"content-length: {len(data)}\r\n\r\n"
            blob = cache[item.index] = head.encode("latin-1") + data
        self.wfile.write(blob)
        return None

    handler._replay = replay
    return True


def _per_request(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n


def measure(rounds: int = 15, requests: int = 60, variant: bool = False) -> Result:
    import httpx2
    import openai

    from lessonlib.replay import ReplayServer

    tmp = temp_dir("p2")
    cassette = render_temp_cassette(SPEC, tmp)
    server = ReplayServer(cassette, speed=0.0).start()
    single = ReplayServer(cassette, speed=0.0).start() if variant else None
    variant = bool(single and _single_write(single))
    bare = None
    try:
        url = server.openai_base_url + "/chat/completions"
        captured = {False: _capture(url, REQUEST), True: _capture(url, STREAM_REQUEST)}
        replay, floor = _sdk_clients(server, captured)
        bare = _bare_responder(_blob(*captured[False]))
        bare_url = f"http://127.0.0.1:{bare.server_address[1]}/openai/v1"
        bare_sdk = openai.OpenAI(base_url=bare_url, api_key="replay", max_retries=0)

        def plain(client):
            return lambda: client.chat.completions.create(**REQUEST).choices[0].message.content

        def stream(client):
            return lambda: "".join(
                c.choices[0].delta.content or "" for c in client.chat.completions.create(**STREAM_REQUEST) if c.choices
            )

        assert plain(replay)() == plain(floor)() == plain(bare_sdk)() == ANSWER, "all sides must return the same answer"
        assert stream(replay)() == stream(floor)() == ANSWER

        body = json.dumps(REQUEST).encode()
        raw_server, raw_bare = httpx2.Client(), httpx2.Client()
        raw_floor = httpx2.Client(
            transport=httpx2.MockTransport(
                lambda req: httpx2.Response(captured[False][0], headers=captured[False][1], content=captured[False][2])
            )
        )
        sdk_sides = {"replay": plain(replay), "floor": plain(floor), "bare": plain(bare_sdk)}
        if variant:
            single_sdk = openai.OpenAI(base_url=single.openai_base_url, api_key="replay", max_retries=0)
            assert plain(single_sdk)() == ANSWER
            sdk_sides["single write"] = plain(single_sdk)
        groups = {
            "sdk": (sdk_sides, requests),
            "sdk_stream": ({"replay": stream(replay), "floor": stream(floor)}, max(4, requests // 8)),
            "raw": (
                {
                    "replay": lambda: raw_server.post(url, content=body).content,
                    "floor": lambda: raw_floor.post("http://floor.invalid/v1/chat/completions", content=body).content,
                    "bare": lambda: raw_bare.post(bare_url + "/chat/completions", content=body).content,
                },
                requests,
            ),
        }
        for calls, _ in groups.values():  # warm up connections, imports, caches
            for call in calls.values():
                for _ in range(20):
                    call()
        times: dict[str, dict[str, list[float]]] = {g: {side: [] for side in calls} for g, (calls, _) in groups.items()}
        for r in range(rounds):
            for name, (calls, n) in groups.items():
                sides = list(calls.items())
                for side, call in sides[r % len(sides) :] + sides[: r % len(sides)]:  # rotate who goes first
                    times[name][side].append(_per_request(call, n))
        events = sum(1 for part in captured[True][2].split(b"\n\n") if part.strip())
    finally:
        server.stop()
        if single is not None:
            single.stop()
        if bare is not None:
            bare.shutdown()
            bare.server_close()

    def ratio(name: str, side: str = "replay") -> float:
        return median([a / b for a, b in zip(times[name][side], times[name]["floor"], strict=True)])

    med = {name: {side: median(v) for side, v in sides.items()} for name, sides in times.items()}
    figure = ratio("sdk")
    # Issue 14 restated the goal against a bare loopback responder: real sockets cost 1.4-1.5x MockTransport for
    # any socket-based replay, so the part the course controls is replay vs bare, per interleaved round.
    vs_bare = median([a / b for a, b in zip(times["sdk"]["replay"], times["sdk"]["bare"], strict=True)])
    over = lambda g, side="replay": (med[g][side] - med[g]["floor"]) * 1e6  # noqa: E731
    detail = [
        f"OpenAI SDK chat.completions.create, non-streaming, {len(captured[False][2])}-byte JSON answer: "
        f"replay {fmt_ms(med['sdk']['replay'])} vs MockTransport floor {fmt_ms(med['sdk']['floor'])} per request "
        f"(+{over('sdk'):.0f} µs); median ratio of {rounds} interleaved rounds of {requests}",
        f"same SDK call against a bare loopback responder (real sockets, no HTTP parsing, no matching): "
        f"{fmt_ms(med['sdk']['bare'])} = {ratio('sdk', 'bare'):.2f}x floor (+{over('sdk', 'bare'):.0f} µs): "
        f"what real sockets alone cost",
        f"raw httpx2 POST, no SDK: replay server {fmt_ms(med['raw']['replay'])}, bare responder "
        f"{fmt_ms(med['raw']['bare'])}, MockTransport {fmt_ms(med['raw']['floor'])}: our server's own share is "
        f"~{(med['raw']['replay'] - med['raw']['bare']) * 1e6:.0f} µs per request",
        *(
            [
                f"VARIANT (proposal, not shipped): the replay server writing each plain answer in one precomputed "
                f"write: {fmt_ms(med['sdk']['single write'])} = {ratio('sdk', 'single write'):.2f}x floor "
                f"(+{over('sdk', 'single write'):.0f} µs)"
            ]
            if variant
            else []
        ),
        f"streamed ({events} SSE events, instant pacing, SDK iterating chunks): "
        f"replay {fmt_ms(med['sdk_stream']['replay'])} "
        f"vs floor {fmt_ms(med['sdk_stream']['floor'])} per stream = {ratio('sdk_stream'):.2f}x (detail, no goal)",
    ]
    return Result(
        key="P2",
        title="replay overhead per request",
        figure=f"{vs_bare:.2f}x bare ({figure:.2f}x MockTransport)",
        goal=f"<= {GOAL_VS_BARE}x bare responder",
        passed=vs_bare <= GOAL_VS_BARE,
        detail=detail,
        data={
            "ratio": figure,
            "vs_bare": vs_bare,
            "bare_ratio": ratio("sdk", "bare"),
            "stream_ratio": ratio("sdk_stream"),
            "median_s": med,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--variant", action="store_true", help="also measure the single-write proposal")
    args = parser.parse_args(argv)
    print(load_average())
    result = measure(args.rounds, args.requests, args.variant)
    print(result.line())
    for line in result.detail:
        print("    " + line)
    print(load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
