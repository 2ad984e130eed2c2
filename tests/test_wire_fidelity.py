"""The course's cassettes are authored, so prove they look like the real thing (see README, "Where
the recordings come from"):

1. every response validates strictly against the SDKs' own types (a field the SDK does not model
   fails unless real traffic in tests/wire/real/ carries it), streams in a legal event order;
2. every request validates against the API's definition: OpenAI's OpenAPI spec
   (tests/wire/spec/openai-openapi.yaml), anthropic's request TypedDicts;
4. headers and ids are the ones real traffic has, and the replay server serves them so that the
   SDKs' ``_request_id`` and ``with_raw_response.headers`` behave as live.

The checks live in tests/wirecheck.py; tests/test_real_traffic.py proves they accept real traffic,
and the tests at the end of this file prove they reject what real traffic never sends.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
import yaml
from pydantic import BaseModel

import wirecheck as W
from lessonlib.replay import ReplayServer

CASSETTES = W.course_cassettes()
IDS = [p.stem for p in CASSETTES]


def _report(problems: list[str], what: str) -> str:
    head = f"{len(problems)} {what}:\n"
    return head + "\n".join(problems[:40]) + ("\n..." if len(problems) > 40 else "")


@pytest.mark.parametrize("path", CASSETTES, ids=IDS)
def test_responses_validate_strictly_against_the_sdk_types(path):
    strict = W.Strict(allowed=W.real_extras())
    problems = [p for ex in W.exchanges(path) for p in W.response_problems(ex, strict)]
    assert not problems, _report(problems, "responses unlike real traffic")


# What a library the course teaches sends although the API's definition lacks it: (cassette, problem, why).
KNOWN_REQUEST_DEVIATIONS = [
    ("06_structured_outputs.yaml", "Unevaluated properties are not allowed ('name' was unexpected)",
     "instructor 1.17's re-ask (instructor/v2/providers/openai/handlers.py) adds `name` to the tool message it "
     "sends back; the spec's ChatCompletionRequestToolMessage has only role, content and tool_call_id"),
    ("07_multi_turn.yaml", "request['messages'][7]['content']: None is not of type 'string'",
     "on purpose: chat(None) shows a failed call (the SDK sends content null unchecked; the API answers 400) "
     "leaving the history untouched"),
]


def _known(path, problem: str) -> bool:
    return any(path.name == name and text in problem for name, text, _ in KNOWN_REQUEST_DEVIATIONS)


@pytest.mark.parametrize("path", CASSETTES, ids=IDS)
def test_requests_validate_against_the_api_definitions(path):
    problems = [p for ex in W.exchanges(path) for p in W.request_problems(ex) if not _known(path, p)]
    assert not problems, _report(problems, "requests the API does not define")


def test_known_request_deviations_still_occur():
    for name, text, _ in KNOWN_REQUEST_DEVIATIONS:
        found = [p for ex in W.exchanges(W.CASSETTES / name) for p in W.request_problems(ex) if text in p]
        assert found, f"{name} no longer sends what KNOWN_REQUEST_DEVIATIONS excuses ({text}); remove the entry"


@pytest.mark.parametrize("path", CASSETTES, ids=IDS)
def test_headers_and_ids_are_shaped_like_real_traffic(path):
    problems = []
    for ex in W.exchanges(path):
        problems += W.header_problems(ex) + W.id_problems(ex) + W.request_id_problems(ex)
    assert not problems, _report(problems, "headers or ids unlike real traffic")


@pytest.mark.parametrize("path", CASSETTES, ids=IDS)
def test_replayed_through_the_sdks_with_request_ids_and_rate_limit_headers(path):
    """Every interaction, played in order through the official SDKs: the SDK reads the recorded
    body, ``_request_id`` is the recorded id, and every recorded header reaches the caller."""
    exchanges = W.exchanges(path)
    server = ReplayServer(path, speed=0.0).start()
    server.scale = 0.0  # even for `pacing: required` cassettes: this test is about content, not time
    try:
        oai = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0, timeout=30)
        ant = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="replay", max_retries=0, timeout=30)
        problems = []
        for ex in exchanges:
            if float(ex.interaction.response.get("delay") or 0) > 0:
                # a timeout lesson's slow answer: serve it (it must be used) without waiting for it
                server.lookup(ex.method, ex.interaction.path, json.dumps(ex.request).encode())
                continue
            try:
                raw = W.sdk_raw_call(ex, oai, ant)
            except (openai.APIStatusError, anthropic.APIStatusError) as exc:
                if exc.status_code != ex.status:
                    problems.append(f"{ex.where}: the SDK got {exc.status_code}")
                headers, request_id = exc.response.headers, exc.request_id
            else:
                parsed = raw.parse()
                expected = W.recorded_payload(ex)
                if isinstance(expected, dict) and isinstance(expected.get("results_url"), str):
                    # the server points a batch's results_url at itself (ReplayServer.localize)
                    expected = json.loads(server.localize(json.dumps(expected).encode(), "application/json"))
                    assert expected["results_url"].startswith(server.url), expected["results_url"]
                if W.sdk_payload(ex, parsed) != expected:
                    problems.append(f"{ex.where}: the SDK read something other than the recording")
                headers = raw.headers
                # a parsed model carries it as _request_id; streams and JSONL results only in their headers
                request_id = parsed._request_id if isinstance(parsed, BaseModel) else raw.headers.get(
                    "x-request-id" if ex.provider == "openai" else "request-id")
            expected_id = ex.header("x-request-id" if ex.provider == "openai" else "request-id")
            if request_id != expected_id:
                problems.append(f"{ex.where}: the SDK's request id is {request_id!r}, recorded {expected_id!r}")
            for name, values in ex.headers.items():
                if name in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    continue
                if headers.get_list(name) != values:
                    problems.append(f"{ex.where}: header {name} reached the SDK as {headers.get_list(name)}")
        if server.misses:
            problems.append(f"replay misses: {server.misses}")
        assert not problems, _report(problems, "differences between the cassette and what the SDKs saw")
    finally:
        server.stop()


# ---- the checks bite: what real traffic never sends fails -----------------------------------


def _one(tmp_path, request: dict, response: dict, uri: str) -> W.Exchange:
    path = tmp_path / "synthetic.yaml"
    item = {"request": {"method": "POST", "uri": uri, "body": json.dumps(request)}, "response": response}
    path.write_text(yaml.safe_dump({"interactions": [item]}))
    return W.exchanges(path)[0]


def _first(name: str, predicate) -> dict:
    data = yaml.safe_load((W.CASSETTES / f"{name}.yaml").read_text())
    return next(i for i in data["interactions"] if predicate(i))


def _is_plain_chat(item):
    return item["request"]["uri"].endswith("/chat/completions") and item["response"]["status"]["code"] == 200 \
        and "event-stream" not in item["response"]["headers"]["content-type"][0]


def test_an_undeclared_response_field_fails(tmp_path):
    item = _first("01_setup", _is_plain_chat)
    body = json.loads(item["response"]["body"]["string"])
    body["choices"][0]["message"]["reasoning_trace"] = "..."  # nested, where a shallow check would miss it
    item["response"]["body"]["string"] = json.dumps(body)
    ex = _one(tmp_path, json.loads(item["request"]["body"]), item["response"], item["request"]["uri"])
    problems = W.response_problems(ex, W.Strict(allowed=W.real_extras()))
    assert any("ChatCompletionMessage has no field 'reasoning_trace'" in p for p in problems), problems


def test_a_missing_required_response_field_fails(tmp_path):
    item = _first("01_setup", _is_plain_chat)
    body = json.loads(item["response"]["body"]["string"])
    del body["created"]
    item["response"]["body"]["string"] = json.dumps(body)
    ex = _one(tmp_path, json.loads(item["request"]["body"]), item["response"], item["request"]["uri"])
    assert any("created: Field required" in p for p in W.response_problems(ex, W.Strict())), "missing field passed"


def test_an_anthropic_stream_out_of_order_fails(tmp_path):
    item = _first("04_streaming", lambda i: i["request"]["uri"].endswith("/v1/messages"))
    events = item["response"]["body"]["string"].split("\n\n")
    stop = next(n for n, e in enumerate(events) if e.startswith("event: content_block_stop"))
    delta = next(n for n, e in enumerate(events) if e.startswith("event: message_delta"))
    events[stop], events[delta] = events[delta], events[stop]
    item["response"]["body"]["string"] = "\n\n".join(events)
    ex = _one(tmp_path, json.loads(item["request"]["body"]), item["response"], item["request"]["uri"])
    problems = W.response_problems(ex, W.Strict(allowed=W.real_extras()))
    assert any("message_delta comes once, after every block stopped" in p for p in problems), problems


def test_an_openai_stream_without_done_or_usage_chunk_fails(tmp_path):
    item = _first("04_streaming", lambda i: i["request"]["uri"].endswith("/chat/completions")
                  and json.loads(i["request"]["body"]).get("stream_options"))
    events = [e for e in item["response"]["body"]["string"].split("\n\n") if e.strip()]
    item["response"]["body"]["string"] = "\n\n".join(events[:-2]) + "\n\n"  # drop the usage chunk and [DONE]
    ex = _one(tmp_path, json.loads(item["request"]["body"]), item["response"], item["request"]["uri"])
    problems = W.response_problems(ex, W.Strict(allowed=W.real_extras()))
    assert any("[DONE]" in p for p in problems) and any("include_usage" in p for p in problems), problems


def test_a_request_parameter_the_api_does_not_define_fails(tmp_path):
    item = _first("01_setup", _is_plain_chat)
    request = json.loads(item["request"]["body"])
    ex = _one(tmp_path, dict(request, max_tokens_to_sample=10), item["response"], item["request"]["uri"])
    assert any("max_tokens_to_sample" in p for p in W.request_problems(ex))
    bad_message = dict(request, messages=[{"role": "user", "content": 42}])
    ex = _one(tmp_path, bad_message, item["response"], item["request"]["uri"])
    assert W.request_problems(ex)

    item = _first("01_setup", lambda i: i["request"]["uri"].endswith("/v1/messages"))
    request = json.loads(item["request"]["body"])
    request["messages"][0] = {"role": "user", "content": [{"type": "text", "text": "hi", "cache": True}]}
    ex = _one(tmp_path, request, item["response"], item["request"]["uri"])
    assert any("TextBlockParam has no key 'cache'" in p for p in W.request_problems(ex)), W.request_problems(ex)


def test_wrong_id_prefixes_and_missing_headers_fail(tmp_path):
    item = _first("01_setup", lambda i: i["request"]["uri"].endswith("/v1/messages"))
    body = json.loads(item["response"]["body"]["string"])
    body["id"] = "chatcmpl-" + body["id"][4:]
    item["response"]["body"]["string"] = json.dumps(body)
    del item["response"]["headers"]["request-id"]
    item["response"]["headers"]["x-amzn-requestid"] = ["abc"]
    ex = _one(tmp_path, json.loads(item["request"]["body"]), item["response"], item["request"]["uri"])
    problems = W.header_problems(ex) + W.id_problems(ex)
    assert any("is not a message id" in p for p in problems)
    assert any("no request-id header" in p for p in problems)
    assert any("'x-amzn-requestid' appears in no real anthropic recording" in p for p in problems)
