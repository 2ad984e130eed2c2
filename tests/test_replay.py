"""The replay server, driven through the real SDKs (no mocks between the SDK and the socket)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import anthropic
import instructor
import openai
import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from render_cassettes import render_spec  # noqa: E402
from tag_cells import with_cells  # noqa: E402

from lessonlib.cassette import Cassette, CassetteError  # noqa: E402
from lessonlib.replay import ReplayServer  # noqa: E402

PLAIN_OPENAI = dict(
    model="gpt-5.4-mini",
    max_completion_tokens=300,
    messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Explain HTTP status codes in three sentences."},
    ],
)
PLAIN_ANTHROPIC = dict(
    model="claude-sonnet-5-5",
    max_tokens=300,
    system="You are a helpful assistant.",
    messages=[{"role": "user", "content": "Explain HTTP status codes in three sentences."}],
)
POEM = [{"role": "user", "content": "Write a short poem about APIs."}]
WEATHER = [{"role": "user", "content": "What's the weather in Tokyo?"}]
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def cassette_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cassettes")
    return render_spec(ROOT / "tests" / "fixtures" / "basic_spec.yaml", out)


def start(cassette_path: Path, speed: float = 0.0) -> ReplayServer:
    return ReplayServer(cassette_path, speed=speed).start()


@pytest.fixture()
def server(cassette_path):
    srv = start(cassette_path)
    yield srv
    srv.stop()


def oai(srv: ReplayServer, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.openai_base_url, api_key="replay", **kw)


def ant(srv: ReplayServer, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key="replay", **kw)


def test_openai_create_sync_and_async(server):
    r = oai(server).chat.completions.create(**PLAIN_OPENAI)
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].message.content.startswith("HTTP status codes")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 10 and r._request_id.startswith("req_")

    async def go():
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="replay")
        return await client.chat.completions.create(**PLAIN_OPENAI)

    assert asyncio.run(go()).choices[0].message.content == r.choices[0].message.content


def test_anthropic_create_sync_and_async(server):
    m = ant(server).messages.create(**PLAIN_ANTHROPIC)
    assert m.id.startswith("msg_") and m.content[0].type == "text"
    assert m.stop_reason == "end_turn" and m.usage.output_tokens > 10
    assert m._request_id.startswith("req_")

    async def go():
        client = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="replay")
        return await client.messages.create(**PLAIN_ANTHROPIC)

    assert asyncio.run(go()).content[0].text == m.content[0].text


def _arrivals(iterable) -> list[float]:
    t0 = time.perf_counter()
    return [time.perf_counter() - t0 for _ in iterable]


def test_streams_arrive_progressively_when_paced(cassette_path):
    srv = start(cassette_path, speed=1.0)
    try:
        stream = oai(srv).chat.completions.create(model="gpt-5.4-mini", messages=POEM, stream=True,
                                                  stream_options={"include_usage": True})
        chunks, times = [], []
        t0 = time.perf_counter()
        for chunk in stream:
            chunks.append(chunk)
            times.append(time.perf_counter() - t0)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.startswith("Requests fly out") and chunks[-1].usage is not None
        # 40 tokens/s: the stream must be spread out, not delivered in one burst.
        assert times[-1] - times[0] > 0.4, times
        # in several moments (a busy machine may bunch a few chunks: "more than half apart" once failed under load)
        assert len({round(t, 2) for t in times}) >= 5, times

        with ant(srv).messages.stream(model="claude-sonnet-5-5", max_tokens=300, messages=POEM) as s:
            times = _arrivals(s.text_stream)
            final = s.get_final_message()
        assert final.content[0].text.startswith("Endpoints wait") and final.usage.output_tokens > 5
        assert times[-1] - times[0] > 0.4, times
    finally:
        srv.stop()


def test_async_streams_of_both_providers(server):
    async def both():
        oc = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="replay")
        ac = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="replay")

        async def o():
            stream = await oc.chat.completions.create(model="gpt-5.4-mini", messages=POEM, stream=True,
                                                      stream_options={"include_usage": True})
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        async def a():
            async with ac.messages.stream(model="claude-sonnet-5-5", max_tokens=300, messages=POEM) as s:
                return "".join([t async for t in s.text_stream])

        return await asyncio.gather(o(), a())

    o_text, a_text = asyncio.run(both())
    assert o_text.startswith("Requests") and a_text.startswith("Endpoints")


def test_tool_calls_both_providers(server):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Get current weather for a city",
                                               "parameters": PARAMS}}]
    r = oai(server).chat.completions.create(model="gpt-5.4-mini", messages=WEATHER, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Tokyo"}'

    m = ant(server).messages.create(model="claude-sonnet-5-5", max_tokens=300, messages=WEATHER,
                                    tools=[{"name": "get_weather", "description": "Get current weather for a city",
                                            "input_schema": PARAMS}])
    block = [b for b in m.content if b.type == "tool_use"][0]
    assert m.stop_reason == "tool_use" and block.id.startswith("toolu_") and block.input == {"city": "Tokyo"}


class City(BaseModel):
    name: str
    country: str


def test_instructor_both_providers(server):
    ask = [{"role": "user", "content": "Tokyo"}]
    city = instructor.from_openai(oai(server)).chat.completions.create(
        model="gpt-5.4-mini", response_model=City, max_retries=0, messages=ask)
    assert city.model_dump() == {"name": "Tokyo", "country": "Japan"}
    city = instructor.from_anthropic(ant(server)).messages.create(
        model="claude-sonnet-5-5", max_tokens=200, response_model=City, max_retries=0, messages=ask)
    assert city.model_dump() == {"name": "Tokyo", "country": "Japan"}


def test_429_with_retry_after_is_retried_by_the_sdk(server):
    r = oai(server).chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "retry me"}])
    assert r.choices[0].message.content == "Done on the second try."
    assert {8, 9} <= server.used


def test_429_surfaces_without_retries(cassette_path):
    srv = start(cassette_path)
    try:
        with pytest.raises(openai.RateLimitError) as info:
            oai(srv, max_retries=0).chat.completions.create(
                model="gpt-5.4-mini", messages=[{"role": "user", "content": "retry me"}])
        assert info.value.status_code == 429 and "Rate limit reached" in info.value.message
        assert info.value.response.headers["retry-after"] == "0.1"
    finally:
        srv.stop()


def test_delayed_response_raises_api_timeout_error(server):
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        oai(server, timeout=0.3, max_retries=0).chat.completions.create(
            model="gpt-5.4-mini", messages=[{"role": "user", "content": "slow please"}])
    assert time.perf_counter() - t0 < 1.4  # it gave up at the timeout, not after the 1.5 s delay


def test_replay_miss_fails_at_once_and_says_what_to_do(server):
    changed = dict(PLAIN_OPENAI, messages=[PLAIN_OPENAI["messages"][0], {"role": "user", "content": "In four sentences."}])
    t0 = time.perf_counter()
    with pytest.raises(openai.NotFoundError) as info:
        oai(server).chat.completions.create(**changed)
    message = str(info.value)
    assert time.perf_counter() - t0 < 1.0  # not retried (x-should-retry: false)
    assert len(server.misses) == 1
    assert "fixture.yaml" in message and "interaction #0" in message
    assert "messages[1].content" in message and "In four sentences." in message
    assert "LESSON_MODE=live" in message


def test_a_miss_never_shows_a_key_that_was_sent(server):
    # it quoted the sent prompt and query string as they were, a key in them too (or its first characters, cut)
    key = "sk-proj-FAKEQx7Vb2Lm9Tz4Wk1Np8Rs5Yh3Jd6Fc0GeAb12"  # made up: not a key
    secret = key.removeprefix("sk-proj-")
    for prompt in (f"Is {key} still valid?", "x" * 140 + key):
        ask = dict(PLAIN_OPENAI, messages=[PLAIN_OPENAI["messages"][0], {"role": "user", "content": prompt}])
        with pytest.raises(openai.NotFoundError) as info:
            oai(server).chat.completions.create(**ask)
        assert "messages[1].content" in str(info.value) and "FAKE" not in str(info.value)
    with pytest.raises(openai.NotFoundError) as info:
        oai(server).get(f"/models?api_key={key}", cast_to=object)
    assert "/v1/models?api_key=sk-proj-…(48 chars)" in str(info.value)
    assert not any(secret[i:i + 8] in "".join(server.misses) for i in range(len(secret) - 7))


def test_anthropic_miss_names_the_endpoint(server):
    with pytest.raises(anthropic.NotFoundError) as info:
        ant(server).messages.count_tokens(model="claude-sonnet-5-5", messages=WEATHER)
    assert "/v1/messages/count_tokens" in str(info.value) and "it holds:" in str(info.value)


def test_identical_requests_play_in_order_then_repeat_the_last(server):
    client = oai(server, max_retries=0)
    ask = dict(model="gpt-5.4-mini", messages=[{"role": "user", "content": "retry me"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**ask)
    for _ in range(3):  # re-running the cell keeps working
        assert client.chat.completions.create(**ask).choices[0].message.content == "Done on the second try."


def test_body_matching_ignores_key_order(server):
    import httpx2

    body = '{"messages":[{"content":"You are a helpful assistant.","role":"system"},{"role":"user","content":' \
           '"Explain HTTP status codes in three sentences."}],"max_completion_tokens":300,"model":"gpt-5.4-mini"}'
    r = httpx2.post(server.openai_base_url + "/chat/completions", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"


def test_raw_sse_over_plain_http(server):
    import httpx2

    with httpx2.stream("POST", server.anthropic_base_url + "/v1/messages",
                       json={"model": "claude-sonnet-5-5", "max_tokens": 300, "stream": True, "messages": POEM}) as r:
        lines = [line for line in r.iter_lines() if line]
    events = [line.split(": ", 1)[1] for line in lines if line.startswith("event:")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.index("message_delta") > events.index("content_block_stop")


@pytest.mark.parametrize("code", [204, 304])
def test_a_no_body_status_with_a_body_keeps_the_connection_usable(tmp_path, code):
    """A hand-edited 204/304 with a body: HTTP forbids that body, so a client never reads it and the next
    answer on the same keep-alive connection started with it (illegal status line)."""
    import json

    import httpx2

    def item(content: str, status: int) -> dict:
        body = json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": content}]})
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-5.4-mini",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": f"answer to {content}"}}]}
        return {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions", "body": body},
                "response": {"status": {"code": status, "message": "X"},
                             "headers": {"content-type": ["application/json"]}, "body": {"string": json.dumps(answer)}}}

    items = [item("empty", code), item("full", 200)]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"interactions": items}))
    srv = start(path)
    try:
        with httpx2.Client() as client:  # one keep-alive connection for both
            url = srv.openai_base_url + "/chat/completions"
            first = client.post(url, content=items[0]["request"]["body"])
            second = client.post(url, content=items[1]["request"]["body"])
    finally:
        srv.stop()
    assert first.status_code == code and first.content == b""
    assert second.status_code == 200 and second.json()["choices"][0]["message"]["content"] == "answer to full"


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "does not exist"),
        ("interactions: [\n  - {unclosed", "not valid YAML at line"),
        ("just: a mapping\n", "has no `interactions:` list"),
        ("interactions:\n  - request: {uri: /x}\n    response: {}\n", "interaction #0 is missing"),
    ],
)
def test_missing_or_corrupt_cassette_names_the_file(tmp_path, content, expected):
    path = tmp_path / "broken.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CassetteError) as info:
        Cassette.load(path)
    assert "broken.yaml" in str(info.value) and expected in str(info.value)


def test_served_cassettes_round_trip_through_yaml(cassette_path):
    data = yaml.safe_load(cassette_path.read_text())
    assert data["provenance"]["kind"] == "authored"
    reloaded = Cassette.load(cassette_path)
    assert len(reloaded.interactions) == len(data["interactions"])


def test_localize_leaves_what_is_not_a_batch_as_it_is(server):
    # pins the results_url rewrite on bodies that are not JSON objects (lessonlib/replay.py, shrink-a)
    base = server.base_url("anthropic").removesuffix("/anthropic")
    batch = b'{"type":"message_batch","results_url":"https://api.anthropic.com/v1/messages/batches/b1/results"}'
    moved = json.loads(server.localize(batch, "application/json"))
    assert moved["results_url"] == f"{base}/anthropic/v1/messages/batches/b1/results"
    for data in (b'{"results_url": "https://api.anthropic.com/v1/x"', b'["results_url"]', b'"results_url"',
                 b'{"results_url": 3}', b'{"results_url": "https://example.com/v1/x"}'):
        assert server.localize(data, "application/json") == data
    assert server.localize(batch, "text/plain") == batch


def test_finish_outside_record_mode_saves_nothing(server, cassette_path):
    before = cassette_path.read_bytes()
    oai(server).chat.completions.create(**PLAIN_OPENAI)
    assert server.finish() is None and cassette_path.read_bytes() == before


@pytest.mark.parametrize("indent", ["", "  "])
def test_tag_cells_writes_each_interaction_s_cell_and_nothing_else(indent):
    spec = (f"notebook: x\ninteractions:\n{indent}# 0 - a comment that stays\n{indent}- provider: openai\n"
            f"{indent}  request: {{a: 1}}\n{indent}- cell: old\n{indent}  provider: anthropic\n"
            f"{indent}  request: {{b: 2}}\n")
    tagged = with_cells(spec, {0: "c1", 1: "c2"})
    assert [i.get("cell") for i in yaml.safe_load(tagged)["interactions"]] == ["c1", "c2"]
    assert "# 0 - a comment that stays" in tagged and tagged.count("\n") == spec.count("\n") + 1
    assert with_cells(tagged, {0: "c1", 1: "c2"}) == tagged  # a second run changes nothing
    untagged = yaml.safe_load(with_cells(tagged, {0: "c1"}))["interactions"]  # interaction 1 no longer played
    assert untagged == [{"cell": "c1", "provider": "openai", "request": {"a": 1}},
                        {"provider": "anthropic", "request": {"b": 2}}]
