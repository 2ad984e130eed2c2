"""Exercise checks for 04_streaming.

The checks run offline: they rebuild the streams from the notebook's cassette (the same streams the
lesson reads), so a learner's function is tried on real-shaped chunks and events.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from lessonlib.exercises import NotYet, exercise

NOTEBOOK = "04_streaming"


# ---- data from the cassette ------------------------------------------------------------------


def _cassette_path() -> Path:
    from lessonlib.config import CASSETTE_DIR

    return Path(os.environ.get("LESSON_CASSETTE_DIR") or CASSETTE_DIR) / f"{NOTEBOOK}.yaml"


@lru_cache(maxsize=1)
def _interactions() -> list[Any]:
    from lessonlib.cassette import Cassette

    return Cassette.load(_cassette_path()).interactions


def _stream(path: str, note: str) -> tuple[list[str], list[float], float]:
    """The SSE events, their times and the latency of the interaction on `path` whose spec note starts with `note`."""
    from lessonlib.replay import sse_events

    for item in _interactions():
        if item.path == path and str(item.raw.get("note", "")).startswith(note):
            resp = item.response
            return sse_events(resp["body"]["string"]), list(resp["event_times"]), float(resp["latency"])
    raise RuntimeError(f"cassettes/{NOTEBOOK}.yaml has no {path} interaction noted {note!r}; re-render it.")


def openai_chunks(include_usage: bool = True) -> list[Any]:
    """The ChatCompletionChunk objects of the lesson's guarded OpenAI stream, as the SDK yields them."""
    from openai.types.chat import ChatCompletionChunk

    events, _, _ = _stream("/v1/chat/completions", "guarded loop")
    out = []
    for event in events:
        data = event[len("data: "):]
        if data.startswith("[DONE]"):
            break
        chunk = ChatCompletionChunk.model_validate(json.loads(data))
        if chunk.choices or include_usage:
            out.append(chunk)
    return out


def openai_arrivals() -> list[tuple[float, str]]:
    """(seconds since the request, text) for every chunk with choices, as the lesson collects them."""
    events, times, latency = _stream("/v1/chat/completions", "guarded loop")
    out = []
    for event, at in zip(events, times):
        data = event[len("data: "):]
        if data.startswith("[DONE]"):
            break
        chunk = json.loads(data)
        if chunk["choices"]:
            out.append((round(latency + at, 3), chunk["choices"][0]["delta"].get("content") or ""))
    return out


def anthropic_events() -> list[dict[str, Any]]:
    """The parsed `data:` JSON of every event of the lesson's raw Anthropic stream (pings included)."""
    events, _, _ = _stream("/v1/messages", "the same stream read with httpx2")
    out = []
    for event in events:
        for line in event.splitlines():
            if line.startswith("data: "):
                out.append(json.loads(line[len("data: "):]))
    return [e for e in out if "type" in e]


def _preview(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "…")


# ---- 04.1 ------------------------------------------------------------------------------------


@exercise(
    "04.1",
    title="Collect the text of an OpenAI stream",
    hint=(
        "Loop over the chunks. Skip a chunk whose `chunk.choices` is empty (the usage chunk that "
        "include_usage adds at the end). Otherwise take `chunk.choices[0].delta.content`, which is a string "
        "on text chunks and None on the finishing chunk, and add it only when it is a string. Return the joined text."
    ),
)
def _(fn: Any) -> str:
    if not callable(fn):
        raise NotYet("pass the function itself: check(\"04.1\", collect_text), without calling it.")
    with_usage = openai_chunks(include_usage=True)
    expected = "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    for chunks, label in ((with_usage, "a stream with include_usage on"), (openai_chunks(False), "a stream without usage")):
        try:
            out = fn(list(chunks))
        except IndexError:
            raise NotYet(
                "IndexError: the last chunk of a stream with include_usage has `choices == []`. "
                "Check `if not chunk.choices:` before you read `chunk.choices[0]`."
            ) from None
        except TypeError as exc:
            raise NotYet(
                f"TypeError ({exc}): `delta.content` is None on some chunks (the one with finish_reason). "
                "Add it only when it is a string."
            ) from None
        if out is None:
            raise NotYet("your function returned None: build the text from the chunks and return it.")
        if not isinstance(out, str):
            raise NotYet(f"return the text as one string, not a {type(out).__name__}.")
        if out == "":
            raise NotYet(f"you returned an empty string for {label}; add each chunk's `choices[0].delta.content`.")
        if out != expected:
            if out.replace("None", "") == expected:
                raise NotYet("your text contains 'None': skip deltas whose content is None instead of adding str(None).")
            raise NotYet(
                f"for {label} your text starts {_preview(out)} and has {len(out)} characters; "
                f"the stream's text starts {_preview(expected)} and has {len(expected)}."
            )
    return f"{len(expected)} characters from {len(with_usage)} chunks, usage chunk skipped."


# ---- 04.2 ------------------------------------------------------------------------------------


@exercise(
    "04.2",
    title="Time to first token",
    hint=(
        "The first arrival is the role chunk, whose text is '' (nothing to show yet). Time to first token is "
        "the time of the first arrival whose text is non-empty: `next((t for t, text in arrivals if text), None)`. "
        "The total is the time of the last arrival: `arrivals[-1][0]`."
    ),
)
def _(fn: Any) -> str:
    if not callable(fn):
        raise NotYet("pass the function itself: check(\"04.2\", first_and_total), without calling it.")
    arrivals = openai_arrivals()
    first = next(t for t, text in arrivals if text)
    total = arrivals[-1][0]
    out = fn(list(arrivals))
    if out is None:
        raise NotYet("your function returned None: return a pair (time to first token, total time).")
    if not isinstance(out, tuple) or len(out) != 2:
        raise NotYet(f"return a pair (first, total), e.g. `return first, total`; you returned {out!r}.")
    got_first, got_total = out
    if got_first == arrivals[0][0] and got_first != first:
        raise NotYet(
            f"{got_first} is when the first chunk arrived, but its text is '' (the role chunk). "
            "Time to first token is when the first non-empty text arrived."
        )
    if not isinstance(got_first, (int, float)) or abs(got_first - first) > 1e-9:
        raise NotYet(f"time to first token should be {first} for these arrivals; you returned {got_first!r}.")
    if not isinstance(got_total, (int, float)) or abs(got_total - total) > 1e-9:
        raise NotYet(f"the total should be the time of the last arrival, {total}; you returned {got_total!r}.")
    # A stream that calls a tool carries no text at all.
    tool_only = [(0.41, ""), (0.45, ""), (0.47, ""), (0.52, "")]
    try:
        out = fn(tool_only)
    except (StopIteration, IndexError, ValueError, RuntimeError) as exc:
        raise NotYet(
            f"on arrivals with no text at all (a tool-call stream) your code raised {type(exc).__name__}; "
            "return (None, total) there, e.g. with next(..., None)."
        ) from None
    if out != (None, 0.52):
        raise NotYet(f"on arrivals with no text at all (a tool-call stream) return (None, 0.52); you returned {out!r}.")
    return f"first token after {first:.2f} s of {total:.2f} s; the rest of the wait is the stream itself."


# ---- 04.3 ------------------------------------------------------------------------------------

_TOOL_EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [],
                                          "usage": {"input_tokens": 402, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I'll check"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " Tokyo's weather."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"T"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "okyo\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 41}},
    {"type": "message_stop"},
]


@exercise(
    "04.3",
    title="Reassemble Claude's text from raw events",
    hint=(
        "Keep only events with type 'content_block_delta' whose delta type is 'text_delta', and join their "
        "`event['delta']['text']`. Other events (message_start, ping, content_block_start/stop, message_delta, "
        "message_stop) carry no text, and an `input_json_delta` is a piece of a tool call's arguments, not text."
    ),
)
def _(fn: Any) -> str:
    if not callable(fn):
        raise NotYet("pass the function itself: check(\"04.3\", text_from_events), without calling it.")
    events = anthropic_events()
    expected = "".join(e["delta"]["text"] for e in events
                       if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta")
    try:
        out = fn([dict(e) for e in events])
    except KeyError as exc:
        raise NotYet(
            f"KeyError {exc}: not every event has that key (a ping is just {{'type': 'ping'}}). "
            "Look at event['type'] first and read 'delta' only on content_block_delta events."
        ) from None
    if out is None:
        raise NotYet("your function returned None: join the text deltas and return the string.")
    if not isinstance(out, str):
        raise NotYet(f"return the text as one string, not a {type(out).__name__}.")
    if out != expected:
        raise NotYet(
            f"your text starts {_preview(out)} ({len(out)} characters); the stream's text starts "
            f"{_preview(expected)} ({len(expected)} characters)."
        )
    try:
        tool_out = fn([dict(e) for e in _TOOL_EVENTS])
    except KeyError as exc:
        raise NotYet(
            f"on a stream that also calls a tool your code raised KeyError {exc}: an input_json_delta has "
            "`partial_json`, not `text`. Check event['delta']['type'] == 'text_delta'."
        ) from None
    if tool_out != "I'll check Tokyo's weather.":
        raise NotYet(
            "on a stream with a text block and then a tool_use block, return only the text "
            f"(\"I'll check Tokyo's weather.\"); you returned {tool_out!r}. Skip input_json_delta pieces."
        )
    return f"{len(expected)} characters from {len(events)} events; pings and tool-call JSON skipped."
