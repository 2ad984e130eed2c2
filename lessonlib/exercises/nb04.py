"""Checks for 04_streaming. They run offline on the streams of the notebook's cassette (the ones the lesson reads,
read in ``fixtures``), so an answer is tried on real-shaped chunks and events."""

from __future__ import annotations

from typing import Any

from lessonlib.exercises import NotYet, call, compare, exercise
from lessonlib.exercises.fixtures import anthropic_events, openai_arrivals, openai_chunks


def _preview(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


@exercise("04.1", title="Collect the text of an OpenAI stream",
          idea="Not every chunk carries text: look at the last chunk of a stream with include_usage, and at "
               "the one with finish_reason.",
          hint="Loop over the chunks. Skip a chunk whose `chunk.choices` is empty (the usage chunk that "
               "include_usage adds at the end). Otherwise take `chunk.choices[0].delta.content`, which is a string "
               "on text chunks and None on the finishing chunk, and add it only when it is a string. Return the "
               "joined text.")
def _(fn: Any) -> str:
    with_usage = openai_chunks(include_usage=True)
    expected = "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    for chunks, label in ((with_usage, "a stream with include_usage on"),
                          (openai_chunks(False), "a stream without usage")):
        out = call(fn, chunks, returns=str, want="the text as one string, built from the chunks", raises={
            IndexError: "IndexError: the last chunk of a stream with include_usage has `choices == []`. "
                        "Check `if not chunk.choices:` before you read `chunk.choices[0]`.",
            # another TypeError than a None content's: the learner's own slip, shown as it is
            lambda exc: isinstance(exc, TypeError) and "NoneType" in str(exc): "TypeError ({exc}): `delta.content` "
            "is None on some chunks (the one with finish_reason). Add it only when it is a string."})
        compare(out, expected, mistakes=[
            ("", f"you returned an empty string for {label}; add each chunk's `choices[0].delta.content`."),
            (lambda got: got.replace("None", "") == expected,
             "your text contains 'None': skip deltas whose content is None instead of adding str(None)."),
        ], otherwise=f"for {label} your text starts {_preview(out)} and has {len(out)} characters; "
                     f"the stream's text starts {_preview(expected)} and has {len(expected)}.")
    return f"{len(expected)} characters from {len(with_usage)} chunks, usage chunk skipped."


@exercise("04.2", title="Time to first token",
          idea="The first arrival is not always text: what does the first chunk of a stream carry?",
          hint="The first arrival is the role chunk, whose text is '' (nothing to show yet). Time to first token is "
               "the time of the first arrival whose text is non-empty: "
               "`next((t for t, text in arrivals if text), None)`. The total is the time of the last arrival: "
               "`arrivals[-1][0]`.")
def _(fn: Any) -> str:
    arrivals = openai_arrivals()
    first = next(t for t, text in arrivals if text)
    total = arrivals[-1][0]
    want = "a pair (time to first token, total time), e.g. `return first, total`"
    out = call(fn, arrivals, returns=(tuple, list), want=want)
    if len(out) != 2:
        raise NotYet(f"return {want}; you returned {out!r:.80}.")
    compare(out[0], first, mistakes=[
        (arrivals[0][0], f"{arrivals[0][0]} is when the first chunk arrived, but its text is '' (the role chunk). "
                         "Time to first token is when the first non-empty text arrived."),
    ], otherwise=f"time to first token should be {first} for these arrivals; you returned {out[0]!r}.")
    compare(out[1], total,
            otherwise=f"the total should be the time of the last arrival, {total}; you returned {out[1]!r}.")
    # A stream that calls a tool carries no text at all.
    no_text = "on arrivals with no text at all (a tool-call stream)"
    out = call(fn, [(0.41, ""), (0.45, ""), (0.47, ""), (0.52, "")], want="(None, 0.52)", raises={
        (StopIteration, IndexError, ValueError, RuntimeError):
            f"{no_text} your code raised {{exc.__class__.__name__}}; return (None, total) there, e.g. with next(..., "
            "None)."})
    compare(out, (None, 0.52), otherwise=f"{no_text} return (None, 0.52); you returned {out!r}.")
    return f"first token after {first:.2f} s of {total:.2f} s; the rest of the wait is the stream itself."


_TOOL_EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [],
                                          "model": "claude-haiku-5-5", "stop_reason": None, "stop_sequence": None,
                                          "usage": {"input_tokens": 402, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I'll check"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " Tokyo's weather."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"T"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "okyo\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 41}},
    {"type": "message_stop"},
]


@exercise("04.3", title="Reassemble Claude's text from raw events",
          idea="Most events carry no text at all; the text comes in one kind of delta.",
          hint="Keep only events with type 'content_block_delta' whose delta type is 'text_delta', and join their "
               "`event['delta']['text']`. Other events (message_start, ping, content_block_start/stop, "
               "message_delta, message_stop) carry no text, and an `input_json_delta` is a piece of a tool call's "
               "arguments, not text.")
def _(fn: Any) -> str:
    events = anthropic_events()
    expected = "".join(e["delta"]["text"] for e in events
                       if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta")
    want = "the text as one string: join the text deltas"
    out = call(fn, events, returns=str, want=want, raises={
        KeyError: "KeyError {exc}: not every event has that key (a ping is just {{'type': 'ping'}}). "
                  "Look at event['type'] first and read 'delta' only on content_block_delta events."})
    compare(out, expected, otherwise=f"your text starts {_preview(out)} ({len(out)} characters); the stream's text "
                                     f"starts {_preview(expected)} ({len(expected)} characters).")
    out = call(fn, _TOOL_EVENTS, returns=str, want=want, raises={
        KeyError: "on a stream that also calls a tool your code raised KeyError {exc}: an input_json_delta has "
                  "`partial_json`, not `text`. Check event['delta']['type'] == 'text_delta'."})
    compare(out, "I'll check Tokyo's weather.", otherwise=(
        "on a stream with a text block and then a tool_use block, return only the text "
        f"(\"I'll check Tokyo's weather.\"); you returned {out!r}. Skip input_json_delta pieces."))
    return f"{len(expected)} characters from {len(events)} events; pings and tool-call JSON skipped."
