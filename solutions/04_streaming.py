"""Solutions to the exercises of notebooks/04_streaming.ipynb."""

from __future__ import annotations

from typing import Any


def collect_text(chunks: list[Any]) -> str:
    """04.1: the text of a list of ChatCompletionChunk objects, usage chunk skipped."""
    text = ""
    for chunk in chunks:
        if not chunk.choices:  # the usage chunk at the end of an include_usage stream
            continue
        piece = chunk.choices[0].delta.content
        if piece:  # None on the finishing chunk, '' on the role chunk
            text += piece
    return text


def first_and_total(arrivals: list[tuple[float, str]]) -> tuple[float | None, float]:
    """04.2: (time to the first non-empty text or None, time of the last arrival)."""
    first = next((t for t, text in arrivals if text), None)
    return first, arrivals[-1][0]


def text_from_events(events: list[dict[str, Any]]) -> str:
    """04.3: Claude's text from the parsed `data:` JSON of a raw Anthropic stream."""
    return "".join(
        event["delta"]["text"]
        for event in events
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta"
    )


ANSWERS = {
    "04.1": collect_text,
    "04.2": first_and_total,
    "04.3": text_from_events,
}
