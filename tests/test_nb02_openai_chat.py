"""02_openai_chat: its authored Responses API body has the SDK's shape, and its checkers nudge
specifically on the usual wrong answers."""

import json
from pathlib import Path

import yaml

from lessonlib.config import DEFAULT_OPENAI_MODEL
from lessonlib.exercises import run

ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "notebooks" / "cassettes" / "02_openai_chat.yaml"


def _interactions():
    return yaml.safe_load(CASSETTE.read_text(encoding="utf-8"))["interactions"]


def test_responses_body_parses_as_the_sdk_type():
    from openai.types.responses import Response

    [item] = [i for i in _interactions() if i["request"]["uri"].endswith("/v1/responses")]
    body = json.loads(item["response"]["body"]["string"])
    response = Response.model_validate(body)
    assert response.id.startswith("resp_")
    assert [o.type for o in response.output] == ["message"]
    assert response.output[0].id.startswith("msg_")
    assert response.output_text.startswith("HTTP status codes")
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
    assert response.model.startswith(DEFAULT_OPENAI_MODEL)


def test_requests_use_the_course_model_and_no_max_tokens_except_the_error():
    for item in _interactions():
        request = json.loads(item["request"]["body"])
        assert request["model"] == DEFAULT_OPENAI_MODEL
        if "max_tokens" in request:
            assert item["response"]["status"]["code"] == 400


def test_cost_checker_catches_the_usual_slips():
    per_token = run("02.2", lambda u, i, o: u.prompt_tokens * i + u.completion_tokens * o)
    assert not per_token.passed and "per million" in per_token.message
    total = run("02.2", lambda u, i, o: u.total_tokens * i / 1e6)
    assert not total.passed and "total_tokens" in total.message
    twice = run("02.2", lambda u, i, o: (u.prompt_tokens * i + (u.completion_tokens + (u.completion_tokens_details.reasoning_tokens or 0)) * o) / 1e6)
    assert not twice.passed and "twice" in twice.message


def test_truncation_checker_wants_finish_reason_not_text():
    by_text = run("02.4", lambda c: not (c.choices[0].message.content or "").rstrip().endswith("."))
    assert not by_text.passed and "finish_reason" in by_text.message
    non_empty = run("02.4", lambda c: c.choices[0].finish_reason == "length" and bool(c.choices[0].message.content))
    assert not non_empty.passed and "reasoning" in non_empty.message


def test_messages_checker_wants_instructions_first():
    reversed_order = run("02.3", lambda s, q: [{"role": "user", "content": q}, {"role": "system", "content": s}])
    assert not reversed_order.passed and "order" in reversed_order.message
    developer = run("02.3", lambda s, q: [{"role": "developer", "content": s}, {"role": "user", "content": q}])
    assert developer.passed
