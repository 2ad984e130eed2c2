"""Notebook 03: the exercise checkers give the specific nudge for common wrong answers, and the
cassette's count_tokens answer agrees with the usage of the same prompt."""

import json
from pathlib import Path

import yaml

from lessonlib.exercises import run

ROOT = Path(__file__).resolve().parent.parent


def _nudge(exercise_id, answer):
    result = run(exercise_id, answer)
    assert not result.passed, f"{exercise_id} accepted a wrong answer"
    return result.message


def test_all_text_nudges():
    assert "block.type" in _nudge("03.1", lambda content: "".join(b.text for b in content))
    assert "''" in _nudge("03.1", lambda content: "\n".join(b.text for b in content if b.type == "text"))
    assert "one string" in _nudge("03.1", lambda content: [b.text for b in content if b.type == "text"])


def test_split_system_nudges():
    def pops(messages):
        system = messages.pop(0)["content"]
        return system, messages

    assert "changed the list" in _nudge("03.2", pops)
    assert "developer" in _nudge(
        "03.2",
        lambda ms: ("\n\n".join(m["content"] for m in ms if m["role"] == "system") or None,
                    [m for m in ms if m["role"] != "system"]),
    )


def test_total_tokens_nudges():
    assert "does not include" in _nudge("03.3", lambda u: u.input_tokens + u.output_tokens)
    assert "None" in _nudge(
        "03.3", lambda u: u.input_tokens + u.output_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    )
    assert "twice" in _nudge(
        "03.3",
        lambda u: u.input_tokens + u.output_tokens + (u.cache_read_input_tokens or 0)
        + (u.cache_creation_input_tokens or 0) + u.cache_creation.ephemeral_5m_input_tokens,
    )


def test_count_tokens_matches_usage_of_the_same_prompt():
    cassette = yaml.safe_load((ROOT / "notebooks" / "cassettes" / "03_anthropic_messages.yaml").read_text())
    by_request, counted = {}, None
    for item in cassette["interactions"]:
        request = json.loads(item["request"]["body"])
        body = json.loads(item["response"]["body"]["string"])
        if item["request"]["uri"].endswith("/v1/messages/count_tokens"):
            counted = (request, body["input_tokens"])
        elif item["response"]["status"]["code"] == 200 and "usage" in body and "input_tokens" in body["usage"]:
            key = json.dumps({k: request[k] for k in ("model", "system", "messages")}, sort_keys=True)
            by_request[key] = body["usage"]["input_tokens"]
    assert counted is not None
    request, n = counted
    assert by_request[json.dumps(request, sort_keys=True)] == n
