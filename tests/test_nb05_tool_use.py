"""05_tool_use: its authored tool-call traffic is consistent (every follow-up answers calls that an
earlier response made, with the SDKs' shapes), and its checkers nudge on the usual wrong answers."""

import json
from pathlib import Path

import yaml

from lessonlib.config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL
from lessonlib.exercises import run

ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "notebooks" / "cassettes" / "05_tool_use.yaml"


def _interactions():
    for item in yaml.safe_load(CASSETTE.read_text(encoding="utf-8"))["interactions"]:
        yield json.loads(item["request"]["body"]), item["response"]


def _call_ids(body):
    if "choices" in body:
        return [c["id"] for c in body["choices"][0]["message"].get("tool_calls") or []]
    return [b["id"] for b in body.get("content", []) if b["type"] == "tool_use"]


def _answered_and_asked(request):
    """For each assistant turn with tool calls: (ids asked, ids answered right after it)."""
    messages = request["messages"]
    pairs = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        if msg.get("tool_calls"):
            asked = [c["id"] for c in msg["tool_calls"]]
            answered = []
            for nxt in messages[i + 1:]:
                if nxt["role"] != "tool":
                    break
                answered.append(nxt["tool_call_id"])
            pairs.append((asked, answered))
        elif isinstance(msg["content"], list) and any(b["type"] == "tool_use" for b in msg["content"]):
            asked = [b["id"] for b in msg["content"] if b["type"] == "tool_use"]
            nxt = messages[i + 1] if i + 1 < len(messages) else {"content": []}
            answered = [b["tool_use_id"] for b in nxt["content"] if b.get("type") == "tool_result"]
            pairs.append((asked, answered))
    return pairs


def test_responses_parse_as_the_sdk_types_and_use_the_course_models():
    from anthropic.types import Message
    from openai.types.chat import ChatCompletion

    for request, response in _interactions():
        body = json.loads(response["body"]["string"])
        if response["status"]["code"] != 200:
            continue
        if "choices" in body:
            assert request["model"] == DEFAULT_OPENAI_MODEL and "max_tokens" not in request
            parsed = ChatCompletion.model_validate(body)
            for call in parsed.choices[0].message.tool_calls or []:
                assert call.id.startswith("call_") and isinstance(json.loads(call.function.arguments), dict)
        else:
            assert request["model"] == DEFAULT_ANTHROPIC_MODEL
            parsed = Message.model_validate(body)
            calls = any(b.type == "tool_use" for b in parsed.content)
            assert parsed.stop_reason == ("tool_use" if calls else "end_turn")


def test_follow_ups_answer_calls_an_earlier_response_made():
    seen: set[str] = set()
    errors = 0
    for request, response in _interactions():
        for asked, answered in _answered_and_asked(request):
            assert set(asked) <= seen, "a follow-up repeats tool calls no earlier response made"
            if response["status"]["code"] == 200:
                assert sorted(asked) == sorted(answered), "every tool call needs its result in a 200 follow-up"
            else:
                errors += 1
                message = json.loads(response["body"]["string"])["error"]["message"]
                for missing in set(asked) - set(answered):
                    assert missing in message
        if response["status"]["code"] == 200:
            seen |= set(_call_ids(json.loads(response["body"]["string"])))
    assert errors == 1, "exactly one authored 400: the lesson's last-block-only tool_result"


def test_conversion_checker_catches_the_usual_slips():
    def none_description(tool):
        f = tool["function"]
        return {"name": f["name"], "description": f.get("description"), "input_schema": f["parameters"]}

    result = run("05.1", none_description)
    assert not result.passed and "description" in result.message

    def keeps_wrapper(tool):
        return {"type": "function", "name": tool["function"]["name"], "input_schema": tool["function"]["parameters"]}

    result = run("05.1", keeps_wrapper)
    assert not result.passed and "wrapper" in result.message

    def no_default(tool):
        f = tool["function"]
        out = {"name": f["name"], "input_schema": f["parameters"]}
        if "description" in f:
            out["description"] = f["description"]
        return out

    result = run("05.1", no_default)
    assert not result.passed and "parameters" in result.message


def test_extraction_checker_wants_dicts_and_empty_lists():
    def json_strings(response):
        if hasattr(response, "choices"):
            return [(c.function.name, c.function.arguments) for c in response.choices[0].message.tool_calls or []]
        return [(b.name, b.input) for b in response.content if b.type == "tool_use"]

    result = run("05.2", json_strings)
    assert not result.passed and "json.loads" in result.message

    def no_none_guard(response):
        if hasattr(response, "choices"):
            return [(c.function.name, json.loads(c.function.arguments)) for c in response.choices[0].message.tool_calls]
        return [(b.name, b.input) for b in response.content if b.type == "tool_use"]

    result = run("05.2", no_none_guard)
    assert not result.passed and "None" in result.message


def test_results_checker_rejects_the_lessons_last_block_only_pattern():
    def last_only(response, results):
        if hasattr(response, "choices"):
            calls = response.choices[0].message.tool_calls
            return [{"role": "tool", "tool_call_id": c.id, "content": results[c.id]} for c in calls]
        block = [b for b in response.content if b.type == "tool_use"][-1]
        result = {"type": "tool_result", "tool_use_id": block.id, "content": results[block.id]}
        return [{"role": "user", "content": [result]}]

    result = run("05.3", last_only)
    assert not result.passed and "missing" in result.message

    def one_message_each(response, results):
        if hasattr(response, "choices"):
            calls = response.choices[0].message.tool_calls
            return [{"role": "tool", "tool_call_id": c.id, "content": results[c.id]} for c in calls]
        return [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": results[b.id]}]}
                for b in response.content if b.type == "tool_use"]

    result = run("05.3", one_message_each)
    assert not result.passed and "ONE user message" in result.message


def test_validation_checker_wants_each_kind_of_problem():
    def required_only(schema, arguments):
        return [f"missing {name!r}" for name in schema["required"] if name not in arguments]

    result = run("05.4", required_only)
    assert not result.passed and "town" in result.message
