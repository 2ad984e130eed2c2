"""Record mode against a local fake upstream: forward, stream back, scrub, write atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import openai
import pytest
import yaml

from lessonlib.cassette import Cassette
from lessonlib.replay import ReplayServer

ROOT = Path(__file__).resolve().parent.parent
OPENAI_KEY = "sk-proj-FAKEKEYforTESTS0123456789abcdefghij"  # made up: not a key
ANTHROPIC_KEY = "sk-ant-api03-FAKEKEYforTESTS0123456789abcdefghij"

CHAT = {
    "id": "chatcmpl-UPSTREAM01", "object": "chat.completion", "created": 1764000000, "model": "gpt-5.4-mini-2026-03-17",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi from upstream", "refusal": None,
                                         "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
}
SSE_EVENTS = [
    {"type": "message_start", "message": {"id": "msg_01UPSTREAM", "type": "message", "role": "assistant", "content": [],
                                          "model": "claude-sonnet-5-5", "stop_reason": None, "stop_sequence": None,
                                          "usage": {"input_tokens": 9, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    *[{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}} for w in ["Hi", " from", " stream"]],
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 4}},
    {"type": "message_stop"},
]


class FakeUpstream(BaseHTTPRequestHandler):
    """Plays a provider: JSON for OpenAI, a paced SSE stream for Anthropic; remembers auth headers."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []
    # When set: after its first words the stream waits (up to 10 s) for the client to have them, and ``held`` says
    # whether it did. The client can only have them then if they were passed on as they came, not buffered.
    hold: threading.Event | None = None
    held: bool | None = None

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        FakeUpstream.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body)})
        if self.path.endswith("/chat/completions"):
            data = json.dumps(CHAT).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-request-id", "req_upstream")
            self.send_header("openai-organization", "org-SECRETORG")
            self.send_header("set-cookie", "__cf_bm=secretcookie")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("anthropic-organization-id", "org-SECRETORG")
        self.send_header("request-id", "req_011Cupstream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in SSE_EVENTS:
            chunk = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
            time.sleep(0.12)
            if FakeUpstream.hold is not None and event.get("delta", {}).get("text") == "Hi":
                FakeUpstream.held = FakeUpstream.hold.wait(10)
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture()
def upstream():
    FakeUpstream.seen, FakeUpstream.hold, FakeUpstream.held = [], None, None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeUpstream)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _calls(srv: ReplayServer, first_words: threading.Event | None = None) -> tuple[str, list[float]]:
    oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY)
    r = oc.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hi from upstream"
    ac = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key=ANTHROPIC_KEY)
    arrivals = []
    t0 = time.perf_counter()
    with ac.messages.stream(model="claude-sonnet-5-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
        text = ""
        for piece in s.text_stream:
            text += piece
            arrivals.append(time.perf_counter() - t0)
            if first_words is not None:
                first_words.set()
    return text, arrivals


def test_record_then_replay_round_trip(tmp_path, upstream):
    cassette = tmp_path / "rec.yaml"
    srv = ReplayServer(cassette, mode="record", upstreams={"openai": upstream + "/v1", "anthropic": upstream},
                       secrets=(OPENAI_KEY, ANTHROPIC_KEY), provenance={"kind": "recorded"}).start()
    FakeUpstream.hold = threading.Event()
    try:
        text, arrivals = _calls(srv, FakeUpstream.hold)
    finally:
        srv.stop()
    assert text == "Hi from stream"
    # causal, not timed (a loaded machine delays any thread): the learner had "Hi" while the provider held the rest
    assert FakeUpstream.held, "record mode must stream through progressively, not buffer"
    # the keys reached the upstream (the SDKs sent them) ...
    assert FakeUpstream.seen[0]["headers"].get("authorization") == f"Bearer {OPENAI_KEY}"
    assert srv.finish() == cassette
    on_disk = "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    # ... but no key, org id or cookie reached the disk
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "SECRETORG", "secretcookie"):
        assert secret not in on_disk
    data = yaml.safe_load(cassette.read_text())
    assert data["provenance"]["kind"] == "recorded" and "recorded_at" in data["provenance"]
    stream = data["interactions"][1]["response"]
    assert len(stream["event_times"]) == len(SSE_EVENTS)
    # per-event timing kept: "Hi" was timed as it came, before the client had it, and the provider sent its last event
    # 4 x 0.12 s after the client had it (these are lower bounds, so a slow machine only makes the gap longer)
    times = stream["event_times"]
    assert times == sorted(times) and times[-1] - times[2] >= 0.48, times

    replay = ReplayServer(cassette, speed=1.0).start()
    try:
        text, arrivals = _calls(replay)
    finally:
        replay.stop()
    # paced as recorded: the last words cannot arrive before their recorded time (a lower bound, as above)
    assert text == "Hi from stream" and arrivals[-1] >= times[4], (arrivals, times)
    assert len(FakeUpstream.seen) == 2, "replay must not call the upstream"
    assert replay.unused() == []


class FailingUpstream(FakeUpstream):
    def do_POST(self):
        data = json.dumps({"error": {"message": "The server had an error", "type": "server_error"}}).encode()
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("x-should-retry", "false")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_the_note_on_a_recorded_5xx_does_not_say_a_restart_drops_it(tmp_path, capfd):
    # the note also said "or restart the kernel before it is saved": a restart saves it (atexit), the 500 included
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FailingUpstream)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    srv = ReplayServer(tmp_path / "rec.yaml", mode="record", secrets=(OPENAI_KEY,),
                       upstreams={"openai": f"http://127.0.0.1:{httpd.server_address[1]}/v1"}).start()
    try:
        with pytest.raises(openai.InternalServerError):
            openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY).chat.completions.create(
                model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        srv.stop()
        httpd.shutdown()
        httpd.server_close()
    note = capfd.readouterr().err
    assert "it is recorded as interaction #0, so replay will play that error. Re-run the cell" in note, note
    assert "restart" not in note, note
    srv.finish()  # what a restart of the kernel does (atexit): the 500 is in the cassette
    assert Cassette.load(tmp_path / "rec.yaml").interactions[0].response["status"]["code"] == 500


AUTHORED_429 = json.dumps({
    "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                "body": json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]})},
    "response": {"status": {"code": 429, "message": "Too Many Requests"}, "fault": True,
                 "headers": {"content-type": ["application/json"], "retry-after": ["0.05"]},
                 "body": {"string": json.dumps({"error": {"message": "slow down", "type": "requests",
                                                           "param": None, "code": "rate_limit_exceeded"}})}},
})


def test_authored_faults_survive_a_re_recording(tmp_path, upstream):
    path = tmp_path / "faults.yaml"
    fault = yaml.safe_load(AUTHORED_429)
    path.write_text(yaml.safe_dump({"provenance": {"kind": "authored"}, "interactions": [fault]}))
    srv = ReplayServer(path, mode="record", upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
    try:
        oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY)
        r = oc.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        srv.stop()
    assert r.choices[0].message.content == "Hi from upstream"  # the SDK retried the 429 into the live call
    srv.finish()
    statuses = [i.raw["response"]["status"]["code"] for i in Cassette.load(path).interactions]
    assert statuses == [429, 200]


def test_a_recording_names_its_cell_and_an_authored_fault_stays_with_its_cell(tmp_path, upstream):
    # record mode wrote no cell ids, so replay could not give a cell its own recordings in any order; and an authored
    # fault named for one cell must not be played to another cell that sends the same request
    path = tmp_path / "faults.yaml"
    answer = yaml.safe_load(AUTHORED_429)
    answer["response"] = {"status": {"code": 200, "message": "OK"}, "body": {"string": "{}"}}  # authored, not a fault
    authored = [{"cell": "retry-demo", **yaml.safe_load(AUTHORED_429)}, {"cell": "before", **answer}]

    def record(cells: tuple[str, ...]) -> list[tuple[str | None, int]]:
        path.write_text(yaml.safe_dump({"provenance": {"kind": "authored"}, "interactions": authored}))
        srv = ReplayServer(path, mode="record", upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
        try:
            oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY, max_retries=0)
            for cell in cells:
                srv.begin_cell(cell)
                with suppress(openai.RateLimitError):
                    oc.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
        finally:
            srv.stop()
        srv.finish()
        return [(i.cell, i.raw["response"]["status"]["code"]) for i in Cassette.load(path).interactions]

    assert record(("before", "retry-demo")) == [("before", 200), ("retry-demo", 429)]
    # an id the cassette does not know (a front end's own ids): the faults play in recorded order, as without ids
    assert record(("elsewhere",)) == [("elsewhere", 429)]


RECORD_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import lessonlib, openai
    course = lessonlib.setup("nb", quiet=True)
    client = openai.OpenAI()
    client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _run_recording(tmp_path: Path, upstream: str, how: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LESSON_MODE="record", LESSON_CASSETTE_DIR=str(tmp_path), OPENAI_API_KEY=OPENAI_KEY,
               ANTHROPIC_API_KEY=ANTHROPIC_KEY, LESSON_OPENAI_UPSTREAM=upstream + "/v1",
               LESSON_ANTHROPIC_UPSTREAM=upstream)
    env.pop("LESSON_USAGE_DIR", None)
    return subprocess.run([sys.executable, "-c", RECORD_SCRIPT, how], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_killed_recording_leaves_the_previous_cassette_intact(tmp_path, upstream):
    old = tmp_path / "nb.yaml"
    old.write_text("provenance: {kind: authored}\ninteractions: []\n")
    before = old.read_text()
    proc = _run_recording(tmp_path, upstream, "kill")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert old.read_text() == before
    partial = tmp_path / "nb.recording.yaml"
    assert partial.exists() and len(Cassette.load(partial).interactions) == 1  # nothing lost, nothing corrupt


def test_clean_exit_replaces_the_cassette(tmp_path, upstream):
    old = tmp_path / "nb.yaml"
    old.write_text("provenance: {kind: authored}\ninteractions: []\n")
    proc = _run_recording(tmp_path, upstream, "exit")
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(old.read_text())
    assert data["provenance"]["kind"] == "recorded" and len(data["interactions"]) == 1
    assert set(data["provenance"]["sdk_versions"]) == {"openai", "anthropic"}
    assert OPENAI_KEY not in old.read_text() and not (tmp_path / "nb.recording.yaml").exists()


def test_finishing_saves_what_is_complete_at_once_while_a_stream_is_still_being_written(tmp_path, upstream):
    # The kernel shut down while a stream ran (in a thread, say): finish() waited for it before saving, but
    # JupyterLab terminates a kernel that has not exited after 2.5 s, so the cassette kept none of the session's calls.
    cassette = tmp_path / "nb.yaml"
    srv = ReplayServer(cassette, mode="record", upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
    try:
        oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY)
        oc.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
        ac = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key=ANTHROPIC_KEY)
        ask = dict(model="claude-sonnet-5-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}], stream=True)
        stream = threading.Thread(target=lambda: list(ac.messages.create(**ask)))
        stream.start()
        while srv._in_flight == 0:
            time.sleep(0.01)
        finishing = threading.Thread(target=srv.finish)
        finishing.start()
        time.sleep(0.3)  # the stream takes ~0.8 s
        assert finishing.is_alive() and len(Cassette.load(cassette).interactions) == 1
        finishing.join()
        stream.join()
    finally:
        srv.stop()
    assert len(Cassette.load(cassette).interactions) == 2  # and the stream, once it ended


def test_a_recording_reads_back_as_it_was_sent_also_with_a_next_line_character(tmp_path):
    """U+0085 (NEL, e.g. a mis-decoded cp1252 ellipsis in a model's answer) is a line break to YAML: written plainly
    or as a block literal it read back as a newline, so the JSON body no longer parsed and the request no longer
    matched."""
    ask = json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Wait\x85 what?"}]})
    answer = json.dumps(dict(CHAT, choices=[{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": "So\x85 yes.\nNo."}}]),
                        ensure_ascii=False, indent=1)
    cassette = Cassette(path=tmp_path / "nel.yaml")
    cassette.add(method="POST", uri="https://api.openai.com/v1/chat/completions", request_headers={},
                 request_body=ask.encode(), status=200, reason="OK",
                 response_headers=[("content-type", "application/json"), ("x-note", "a\x85b")],
                 response_body=answer.encode(), event_times=None, latency=0.1)
    written = cassette.interactions[0]
    loaded = Cassette.load(cassette.save()).interactions[0]
    assert loaded.key == written.key and loaded.body == json.loads(ask)
    assert loaded.response_body() == answer.encode()
    assert loaded.raw["response"]["headers"]["x-note"] == ["a\x85b"]


def test_spending_cap_meters_usage_and_refuses_the_call_that_would_exceed_it(tmp_path, upstream):
    from lessonlib.budget import Budget

    # gpt-5.4-mini: each call's worst case (~33 prompt tokens estimated + 5 output) is ~$0.00005; each
    # costs $0.000024 (8 in + 4 out). The cap refuses the first call whose worst case no longer fits.
    budget = Budget(limit_usd=0.0001)
    srv = ReplayServer(tmp_path / "unused.yaml", mode="live", budget=budget,
                       upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
    try:
        oc = openai.OpenAI(base_url=srv.openai_base_url, api_key=OPENAI_KEY, max_retries=0)
        ask = dict(model="gpt-5.4-mini", max_completion_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert oc.chat.completions.create(**ask).choices[0].message.content == "Hi from upstream"
        assert budget.calls == 1 and budget.spent_usd == pytest.approx((8 * 0.75 + 4 * 4.50) / 1e6)
        with pytest.raises(openai.APIStatusError) as info:
            for _ in range(10):
                oc.chat.completions.create(**ask)
        assert info.value.status_code == 402 and "Spending cap reached" in str(info.value)
        assert "LESSON_BUDGET_USD" in str(info.value)
        assert len(FakeUpstream.seen) == budget.calls == 3, "the refused call must not reach the provider"
        assert budget.spent_usd <= budget.limit_usd and budget.reserved_usd == 0
    finally:
        srv.stop()
    assert not (tmp_path / "unused.yaml").exists(), "live mode writes no cassette"


def test_spending_cap_counts_streamed_usage(tmp_path, upstream):
    from lessonlib.budget import Budget

    budget = Budget(limit_usd=1.0)
    srv = ReplayServer(tmp_path / "x.yaml", mode="live", budget=budget,
                       upstreams={"openai": upstream + "/v1", "anthropic": upstream}).start()
    try:
        ac = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key=ANTHROPIC_KEY)
        with ac.messages.stream(model="claude-sonnet-5-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
            s.get_final_message()
    finally:
        srv.stop()
    # message_start carries 9 input tokens, message_delta the final 4 output tokens
    assert budget.spent_usd == pytest.approx((9 * 2.00 + 4 * 10.00) / 1e6)


@pytest.mark.parametrize("capped", [False, True])
def test_live_mode_against_a_local_openai_compatible_server(monkeypatch, tmp_path, upstream, capped, capsys):
    """What notebook 01 tells Ollama users to do: .env with OPENAI_BASE_URL and no OpenAI key."""
    import lessonlib
    from lessonlib.config import _stop_active

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LESSON_MODE", "live")
    monkeypatch.setenv("OPENAI_BASE_URL", upstream + "/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("LESSON_OPENAI_MODEL", "llama3.2")
    if capped:
        monkeypatch.setenv("LESSON_BUDGET_USD", "1")
    try:
        course = lessonlib.setup("01_setup", env_file="/nonexistent/.env", quiet=not capped)
        if capped:  # llama3.2 has no price, but a local server bills nothing: no warning that the cap cannot count it
            out = capsys.readouterr().out
            assert "OpenAI calls go to a local server" in out and "has no price" not in out, out
        client = openai.OpenAI(api_key="ollama")
        r = client.chat.completions.create(model=course.openai_model, messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "Hi from upstream"
        assert FakeUpstream.seen[-1]["body"]["model"] == "llama3.2"
        assert (course.server is not None) == capped  # a cap routes live calls through the metering proxy
    finally:
        _stop_active()


def _record_mode_in(monkeypatch, tmp_path: Path, upstream: str) -> None:
    """setup() in record mode, cassettes in tmp_path, both providers pointed at the fake upstream, no cap."""
    monkeypatch.chdir(tmp_path)
    for name, value in {"LESSON_MODE": "record", "LESSON_CASSETTE_DIR": str(tmp_path), "OPENAI_API_KEY": OPENAI_KEY,
                        "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "LESSON_OPENAI_UPSTREAM": upstream + "/v1",
                        "LESSON_ANTHROPIC_UPSTREAM": upstream}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LESSON_BUDGET_USD", raising=False)


def test_a_re_run_of_the_set_up_cell_in_record_mode_keeps_the_calls_and_the_clients(monkeypatch, tmp_path, upstream):
    # record mode: `client = OpenAI()`, a call, the set-up cell again, the call again with the same client (it once
    # failed with "Connection error.": the new server had another port and another secret in its base URLs)
    import lessonlib
    from lessonlib.config import _stop_active

    _record_mode_in(monkeypatch, tmp_path, upstream)
    try:
        lessonlib.setup("nb", env_file="/nonexistent/.env", quiet=True)
        client = openai.OpenAI(max_retries=0)
        ask = dict(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
        assert client.chat.completions.create(**ask).choices[0].message.content == "Hi from upstream"
        lessonlib.setup("nb", env_file="/nonexistent/.env", quiet=True)
        assert client.chat.completions.create(**ask).choices[0].message.content == "Hi from upstream"
    finally:
        _stop_active()
    assert len(Cassette.load(tmp_path / "nb.yaml").interactions) == 2 and len(FakeUpstream.seen) == 2


def test_a_re_run_of_the_set_up_cell_in_record_mode_keeps_the_authored_faults_still_to_play(monkeypatch, tmp_path,
                                                                                            upstream):
    # a call, the set-up cell again, then the cell of 09's 429 demo: the re-run once saved the recording so far over
    # the cassette and the new server loaded that, so the authored 429 was neither played nor kept
    import lessonlib
    from lessonlib.config import _stop_active

    ask = json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]})
    fault = {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions", "body": ask},
             "response": {"status": {"code": 429, "message": "Too Many Requests"}, "fault": True,
                          "headers": {"content-type": ["application/json"], "retry-after": ["0.05"]},
                          "body": {"string": json.dumps({"error": {"message": "slow down", "type": "requests"}})}}}
    (tmp_path / "nb.yaml").write_text(yaml.safe_dump({"provenance": {"kind": "authored"}, "interactions": [fault]}))
    _record_mode_in(monkeypatch, tmp_path, upstream)
    try:
        lessonlib.setup("nb", env_file="/nonexistent/.env", quiet=True)
        openai.OpenAI().chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "first"}])
        lessonlib.setup("nb", env_file="/nonexistent/.env", quiet=True)
        openai.OpenAI().chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        _stop_active()
    statuses = [i.raw["response"]["status"]["code"] for i in Cassette.load(tmp_path / "nb.yaml").interactions]
    assert statuses == [200, 429, 200]
