"""Checks for 03_anthropic_messages, on content blocks and usage built in ``fixtures`` from the anthropic SDK's own
types."""

from __future__ import annotations

from typing import Any

from lessonlib.exercises import NotYet, an, call, compare, exercise
from lessonlib.exercises.fixtures import anthropic_usage, message


# A reply with extended thinking and two tool calls: the text is one block among four.
TOOL_TURN = message([
    {"type": "thinking", "signature": "EqQBCkYIBxgCKkBkZjE1YjNhN2RjMWE0ZTk2OGFhYzQ1ZWI1ZjU2NzFk",
     "thinking": "The user asked about Tokyo and Osaka. I'll call get_weather once for each city."},
    {"type": "text", "text": "I'll look up the current weather in both cities."},
    {"type": "tool_use", "id": "toolu_01QmV8c2kXfRzJ4nWb7TtY3e", "name": "get_weather", "input": {"city": "Tokyo"}},
    {"type": "tool_use", "id": "toolu_01Hd3LpZ9sKqA6uEv2NcGx8r", "name": "get_weather", "input": {"city": "Osaka"}},
]).content
# One answer split over several text blocks (as happens with citations): the pieces join with "".
SPLIT_TEXT = message([{"type": "text", "text": "A 404 means "},
                      {"type": "text", "text": "the server could not find the resource you asked for"},
                      {"type": "text", "text": ", so check the URL before you retry."}]).content


@exercise("03.1", title="All the text of a reply",
          idea="response.content is a list of blocks of different kinds; only some of them carry text.",
          hint="Loop over the blocks, keep only those whose block.type == 'text', and return "
               "''.join(block.text for ...). Other blocks (thinking, tool_use) have no .text attribute.")
def _check_all_text(fn: Any) -> str:
    def text_of(blocks: list[Any]) -> str:  # another AttributeError than .text's: the learner's own slip, as it is
        return call(fn, blocks, returns=str, want="one string (the joined text): use ''.join(...)", raises={
            lambda exc: isinstance(exc, AttributeError) and exc.name == "text": "your function raised AttributeError "
            "({exc}): a thinking or tool_use block has no .text. Look at block.type before you read block.text."})

    expected = "I'll look up the current weather in both cities."
    got = text_of(TOOL_TURN)
    compare(got.strip(), expected, mistakes=[
        (lambda got: "call get_weather" in got, "the thinking block's text ended up in your answer: keep only blocks "
                                                "with type 'text'."),
        (lambda got: "get_weather" in got or "Tokyo" in got, "tool_use content ended up in your answer: keep only "
                                                             "blocks with type 'text'."),
    ], otherwise=f"for a thinking + text + 2 tool_use reply, expected {expected!r}, got {got!r}.")
    expected = "".join(b.text for b in SPLIT_TEXT)
    got = text_of(SPLIT_TEXT)
    compare(got, expected, mistakes=[
        (lambda got: got.replace("\n", "").replace(" ", "") == expected.replace(" ", ""),
         "the text blocks are consecutive pieces of one answer: join them with '' (no separator)."),
    ], otherwise=f"for three text blocks, expected {expected!r}, got {got!r}.")
    compare(call(fn, [], none_ok=True), "", otherwise="an empty content list should give an empty string ''.")
    return "that works on any reply: text, thinking and tool_use blocks alike."


HTTP_CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Explain HTTP status codes in three sentences."},
]
TUTOR_CHAT = [
    {"role": "system", "content": "You are a patient Python tutor. Answer in short steps."},
    {"role": "user", "content": "What does enumerate() do?"},
    {"role": "assistant", "content": "It pairs each item of an iterable with its index: (0, a), (1, b), ..."},
    {"role": "user", "content": "Can it start counting at 1?"},
]
# Newer OpenAI models call the same instructions "developer"; some apps send two of them.
DEVELOPER_CHAT = [
    {"role": "developer", "content": "You are a patient Python tutor."},
    {"role": "system", "content": "Answer in short steps."},
    {"role": "user", "content": "What is a list comprehension?"},
]


def _pair(fn: Any, messages: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """The (system, messages) pair; a two-item list is a pair too."""
    out = call(fn, messages, returns=(tuple, list), want="a pair (system, messages)")
    if len(out) != 2 or not isinstance(out[1], list):
        raise NotYet("return a pair (system, messages): a str or None, then a list of messages; you returned "
                     f"{out!r:.80}.")
    if not all(isinstance(m, dict) for m in out[1]):
        raise NotYet(f"keep the other messages as the dicts they are ({{'role': ..., 'content': ...}}); your list "
                     f"holds {an(type(next(m for m in out[1] if not isinstance(m, dict))).__name__)}.")
    return out[0], out[1]


@exercise("03.2", title="OpenAI messages to Anthropic's (system, messages)",
          idea="Anthropic takes the instructions as a separate system= argument, so pull them out of the list.",
          hint="Collect the content of every message whose role is 'system' or 'developer'; join those texts "
               "with '\\n\\n' (None if there were none). The messages list is every other message, in order. "
               "Build new lists; don't pop() from the one you were given.")
def _check_split_system(fn: Any) -> str:
    system, rest = _pair(fn, HTTP_CHAT)
    if any(m.get("role") == "system" for m in rest):
        raise NotYet("a system message is still in the messages list: move its text into the first item of the pair.")
    compare(system, "You are a helpful assistant.", otherwise="the system text should be the system message's "
            f"content, 'You are a helpful assistant.', not {system!r}.")
    compare(rest, HTTP_CHAT[1:],
            otherwise=f"the messages should be just the user turn, {HTTP_CHAT[1:]!r}; got {rest!r}.")
    compare(_pair(fn, TUTOR_CHAT)[1], TUTOR_CHAT[1:],
            otherwise="for a multi-turn chat, keep every user and assistant turn, in their original order.")
    system, rest = _pair(fn, DEVELOPER_CHAT)
    if any(m.get("role") == "system" for m in rest):
        raise NotYet("with two instruction messages, one is still in the messages list: collect every system message.")
    if any(m.get("role") == "developer" for m in rest):
        raise NotYet("newer OpenAI models use role 'developer' for the same instructions: treat it like 'system'.")
    expected = "You are a patient Python tutor.\n\nAnswer in short steps."
    compare(system, expected, otherwise="with two instruction messages, join their texts with a blank line: "
            f"expected {expected!r}, got {system!r}.")
    system, rest = _pair(fn, HTTP_CHAT[1:])
    compare(system, None, otherwise="with no system message, return None as the system text (so you can leave "
            f"system= out), not {system!r}.")
    return "pass the pair on as client.messages.create(system=system, messages=messages, ...)."


USAGES = [
    # A plain call like the notebook's: nothing cached.
    (anthropic_usage(21, 143, cache_write=0, cache_read=0), 164),
    # A second turn that read a long cached system prompt.
    (anthropic_usage(14, 96, cache_write=0, cache_read=1850), 1960),
    # The first turn that wrote that cache (5-minute TTL); the breakdown repeats the same 2100 tokens.
    (anthropic_usage(40, 60, cache_write=2100), 2200),
    # An older or partial usage object: the optional cache fields are missing (None).
    (anthropic_usage(9, 3), 12),
]


@exercise("03.3", title="Total tokens of an Anthropic usage object",
          idea="input_tokens leaves out the cached part of the prompt, and some usage fields can be None.",
          hint="input_tokens counts only the uncached part of the prompt. Add cache_creation_input_tokens and "
               "cache_read_input_tokens (each may be None: use `or 0`) and output_tokens. Don't add the "
               "cache_creation breakdown too: it splits cache_creation_input_tokens by TTL.")
def _check_total_tokens(fn: Any) -> str:
    for usage, expected in USAGES:
        got = call(fn, usage, returns=(int, float), want="the total as an int", raises={  # another TypeError: as it is
            lambda exc: isinstance(exc, TypeError) and "NoneType" in str(exc): "your function raised TypeError "
            "({exc}): the cache fields are Optional and can be None; count None as 0 (e.g. "
            "`usage.cache_read_input_tokens or 0`)."})
        plain = usage.input_tokens + usage.output_tokens
        compare(got, expected, mistakes=[
            (lambda got: got == plain != expected,
             f"you returned input_tokens + output_tokens = {plain}, but this call also read or wrote "
             f"{expected - plain} cached tokens, which input_tokens does not include. Expected {expected}."),
            (expected + (usage.cache_creation_input_tokens or 0), "you counted the cache write twice: "
             "usage.cache_creation is a breakdown of cache_creation_input_tokens by TTL, not extra tokens."),
        ], otherwise=f"for {usage!r}, expected {expected}, got {got!r}.")
    return "that is the number the rate limiter and (at different rates per kind) the bill see."
