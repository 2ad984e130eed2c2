"""instructor on the jiter the lock gives it, over-riding instructor's own `jiter<0.15` cap.

instructor 1.17.0 declares jiter<0.15; openai 3.4+ needs jiter>=0.16, so requirements-overrides.txt lifts
the cap (README "Versions"). instructor uses jiter only to parse partial JSON while a structured answer
streams (instructor/v2/dsl/partial.py and json_tracker.py import `jiter.from_json`). These tests stream a
tool call, in OpenAI's and Anthropic's wire formats, from a loopback server through the real SDKs into
instructor's `create_partial`, and check that jiter did the parsing and that every partial is right.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import instructor
import jiter
import openai
import pytest
from packaging.version import Version
from pydantic import BaseModel

ARGS = '{"name": "Tokyo", "country": "Japan", "population_millions": 37}'
PIECES = [ARGS[i:i + 7] for i in range(0, len(ARGS), 7)]  # a token-sized piece per event


class City(BaseModel):
    name: str
    country: str
    population_millions: int


def openai_sse() -> bytes:
    base = {"id": "chatcmpl-jiter01", "object": "chat.completion.chunk", "created": 1795500000, "model": "gpt-6-luna"}

    def chunk(delta, finish=None):
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_jiter01", "type": "function", "function": {"name": "City", "arguments": ""}}]})]
    events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in PIECES]
    events.append(chunk({}, "tool_calls"))
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def anthropic_sse() -> bytes:
    message = {"id": "msg_01Jiter", "type": "message", "role": "assistant", "model": "claude-haiku-5-5", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 20, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": message}),
              ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                  "type": "tool_use", "id": "toolu_01Jiter", "name": "City", "input": {}}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "input_json_delta", "partial_json": p}}) for p in PIECES]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                  "usage": {"output_tokens": 30}}),
               ("message_stop", {"type": "message_stop"})]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


@pytest.fixture()
def upstream():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = anthropic_sse() if self.path.endswith("/messages") else openai_sse()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture()
def jiter_calls(monkeypatch):
    """Count instructor's calls into jiter, where instructor imported it (so the count proves the path ran)."""
    from instructor.v2.dsl import json_tracker, partial

    calls = []
    for module in (partial, json_tracker):
        real = module.from_json

        def counting(data, *args, _real=real, **kwargs):
            calls.append(kwargs.get("partial_mode"))
            return _real(data, *args, **kwargs)

        monkeypatch.setattr(module, "from_json", counting)
    return calls


def test_the_lock_overrides_instructors_jiter_cap():
    assert Version(jiter.__version__) >= Version("0.16"), jiter.__version__
    assert Version(openai.__version__) >= Version("3.4"), "the override exists for openai 3.4+"


def check_partials(partials):
    assert len(partials) >= 4, f"expected several partial objects while streaming, got {len(partials)}"
    final = partials[-1]
    assert final == City(name="Tokyo", country="Japan", population_millions=37)
    seen_names = [p.name for p in partials if p.name]
    assert seen_names and all("Tokyo".startswith(n) for n in seen_names), seen_names
    assert partials[0].population_millions is None  # fields arrive as the JSON streams


def test_instructor_partial_streaming_with_openai(upstream, jiter_calls):
    client = instructor.from_openai(openai.OpenAI(base_url=upstream + "/v1", api_key="test-not-a-key", max_retries=0))
    partials = list(client.create_partial(
        model="gpt-6-luna", response_model=City, messages=[{"role": "user", "content": "Tokyo"}]))
    check_partials(partials)
    assert jiter_calls and "trailing-strings" in jiter_calls, jiter_calls


def test_instructor_partial_streaming_with_anthropic(upstream, jiter_calls):
    client = instructor.from_anthropic(anthropic.Anthropic(base_url=upstream, api_key="test-not-a-key", max_retries=0))
    partials = list(client.create_partial(
        model="claude-haiku-5-5", max_tokens=200, response_model=City, messages=[{"role": "user", "content": "Tokyo"}]))
    check_partials(partials)
    assert jiter_calls, "instructor did not parse the Anthropic stream with jiter"
