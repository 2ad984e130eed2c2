"""lessonlib.tokens: counting odd content, and trimming that keeps conversations valid."""

import pytest

from lessonlib.tokens import count_message, count_messages, count_text, image_tokens, trim_messages


def test_counts_work_offline_for_both_encodings():
    assert count_text("hello world, how are you?") == 7
    assert count_text("hello world, how are you?", model="gpt-4") == 7
    assert count_text(None) == 0


def test_odd_content_is_counted_not_crashed_on():
    assert count_message({"role": "assistant", "content": None}) == 3
    tool_call = {"role": "assistant", "content": None,
                 "tool_calls": [{"id": "call_1", "type": "function",
                                 "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}}]}
    assert count_message(tool_call) > 3
    blocks = {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                          {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
    assert count_message(blocks) == 3 + count_text("What is in this image?") + image_tokens(1024, 1024)
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
    assert count_message(result) == 3 + count_text("18C")
    assert count_messages([tool_call, result]) == 3 + count_message(tool_call) + count_message(result)


@pytest.mark.parametrize("w, h, provider, expected", [(512, 512, "openai", 255), (2048, 4096, "openai", 1105),
                                                      (1000, 750, "anthropic", 1000)])
def test_image_tokens_follow_the_published_rules(w, h, provider, expected):
    assert image_tokens(w, h, provider) == expected


def _conv():
    return [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "old question " * 50},
        {"role": "assistant", "content": "old answer " * 50},
        {"role": "user", "content": "Weather in Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C " * 30},
        {"role": "assistant", "content": "It is 18C."},
    ]


def test_trim_keeps_system_and_tool_pairs_within_budget():
    conv = _conv()
    for budget in range(20, 400, 5):
        kept = trim_messages(conv, budget)
        assert kept[0] is conv[0]
        rest = kept[1:]
        assert count_messages(kept) <= budget or rest == []
        if rest:
            assert rest[0]["role"] == "user"
        roles = [m["role"] for m in rest]
        if "tool" in roles:
            assert roles[roles.index("tool") - 1] == "assistant"


def test_trim_never_orphans_an_anthropic_tool_result_followed_by_text():
    conv = [
        {"role": "user", "content": "What is the weather in Tokyo? " * 20},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, clear"},
                                     {"type": "text", "text": "Also, should I bring an umbrella?"}]},
        {"role": "assistant", "content": "It is 18C and clear, no umbrella needed."},
    ]
    for budget in range(10, 300, 5):
        kept = trim_messages(conv, budget)
        assert not kept or kept[0] is conv[0], f"budget {budget}: history must start with the first user turn"
