"""The SDK objects the checkers hand to answers, built from the SDKs' own public types so the exercises run
offline: ChatCompletions, Anthropic Messages, content blocks and usage, API errors around httpx2 answers, and a
cassette's interactions and streams."""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from typing import Any

from lessonlib.providers import PROVIDERS, sse_data, sse_events


def _url(provider: str) -> str:
    p = PROVIDERS[provider]
    return (p.upstream.removesuffix("/v1") if p.v1_in_base_url else p.upstream) + p.endpoint  # endpoint has the /v1


def completion(text: str | None, prompt: int = 28, output: int = 40, *, finish: str = "stop", reasoning: int = 0,
               refusal: str | None = None, request_id: str | None = None) -> Any:
    """A ChatCompletion with one choice, as chat.completions.create returns it."""
    from openai.types.chat import ChatCompletion

    made = ChatCompletion.model_validate({
        "id": "chatcmpl-exercise", "object": "chat.completion", "created": 1795548733,
        "model": "gpt-5.4-mini-2026-03-17", "service_tier": "default", "system_fingerprint": "fp_exercise",
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": text, "refusal": refusal, "annotations": []}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
    })
    made._request_id = request_id
    return made


def usage(prompt: int, output: int, reasoning: int = 0) -> Any:
    """The CompletionUsage of a ChatCompletion."""
    return completion("", prompt, output, reasoning=reasoning).usage


def message(text: str | list[dict[str, Any]], request_id: str | None = None) -> Any:
    """An Anthropic Message, as messages.create returns it: one text block, or (a list) the content blocks given as
    JSON; its ``.content`` then holds them as the SDK parses them: TextBlock, ThinkingBlock, ToolUseBlock, ..."""
    from anthropic.types import Message

    made = Message.model_validate({
        "id": "msg_01Exercise", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": text}] if isinstance(text, str) else text,
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 8, "output_tokens": 3},
    })
    made._request_id = request_id
    return made


def anthropic_usage(input_tokens: int, output_tokens: int, cache_write: int | None = None,
                    cache_read: int | None = None) -> Any:
    """An Anthropic Usage. A cache write is all on the 5-minute TTL; with neither cache count given, the optional
    cache fields are missing (None), as in an older or partial usage object."""
    from anthropic.types import CacheCreation, Usage

    if cache_write is None and cache_read is None:
        return Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    breakdown = CacheCreation(ephemeral_5m_input_tokens=cache_write or 0, ephemeral_1h_input_tokens=0)
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_creation_input_tokens=cache_write,
                 cache_read_input_tokens=cache_read, cache_creation=breakdown, service_tier="standard")


def status_error(provider: str, cls_name: str, status: int, headers: dict[str, str] | None = None,
                 request_id: str | None = None) -> Any:
    """An SDK status error (openai.RateLimitError, anthropic.OverloadedError, ...) as the SDK builds it."""
    import httpx2

    headers = dict(headers or {})
    text = f"authored {status} for an exercise"
    if provider == "openai":
        headers.setdefault("x-request-id", request_id or "req_" + "0" * 32)
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body: dict[str, Any] = {"message": text, "type": kind, "param": None, "code": None}
    else:
        rid = request_id or "req_011C" + "0" * 20
        headers.setdefault("request-id", rid)
        body = {"type": "error", "error": {"type": "api_error", "message": text}, "request_id": rid}
    response = httpx2.Response(status, headers=headers, json=body, request=httpx2.Request("POST", _url(provider)))
    sdk = importlib.import_module(provider)  # the SDK's package has the provider's name
    return getattr(sdk, cls_name)(f"Error code: {status} - {body}", response=response, body=body)


def connection_error(provider: str, timeout: bool = False) -> Any:
    """An APIConnectionError (or APITimeoutError): the request got no answer at all."""
    import httpx2

    kind = getattr(importlib.import_module(provider), "APITimeoutError" if timeout else "APIConnectionError")
    return kind(request=httpx2.Request("POST", _url(provider)))


@lru_cache(maxsize=4)
def interactions(notebook: str) -> list[Any]:
    """The recorded interactions of a notebook's cassette (no call is made)."""
    from lessonlib.cassette import Cassette
    from lessonlib.config import Settings

    return Cassette.load(Settings.read().cassette(notebook)).interactions


def responses(notebook: str) -> list[tuple[Any, dict[str, Any]]]:
    """(SDK object, raw JSON) of every recorded non-streamed 200 ChatCompletion or Message in a cassette."""
    from anthropic.types import Message
    from openai.types.chat import ChatCompletion

    found = []
    for item in interactions(notebook):
        if item.response["status"]["code"] != 200 or not isinstance(item.body, dict) or item.body.get("stream"):
            continue
        try:
            body = json.loads(item.response["body"]["string"])
        except ValueError:
            continue
        kind = ChatCompletion if "choices" in body else Message if body.get("type") == "message" else None
        if kind is not None:
            found.append((kind.model_validate(body), body))
    return found


def _stream(path: str, note: str) -> dict[str, Any]:
    """The response in 04_streaming's cassette on `path` whose spec note starts with `note`, or, in a cassette
    recorded in record mode (it keeps no notes), the first streamed 200 on `path`."""
    on_path = [item for item in interactions("04_streaming") if item.path == path]
    for item in on_path:
        if str(item.raw.get("note", "")).startswith(note):
            return item.response
    for item in on_path:
        if item.response["status"]["code"] == 200 and isinstance(item.body, dict) and item.body.get("stream"):
            return item.response
    raise RuntimeError(f"cassettes/04_streaming.yaml has no {path} interaction noted {note!r}; re-render it.")


def _openai_data() -> list[tuple[float, dict[str, Any]]]:
    """(seconds since the request, chunk JSON) of 04_streaming's guarded OpenAI stream."""
    resp = _stream("/v1/chat/completions", "guarded loop")
    timed = zip(sse_events(resp["body"]["string"]), resp["event_times"])
    return [(round(float(resp["latency"]) + at, 3), data) for event, at in timed for data in sse_data(event)]


def openai_chunks(include_usage: bool = True) -> list[Any]:
    """The ChatCompletionChunk objects of 04_streaming's guarded OpenAI stream, as the SDK yields them."""
    from openai.types.chat import ChatCompletionChunk

    chunks = [ChatCompletionChunk.model_validate(data) for _, data in _openai_data()]
    return [c for c in chunks if c.choices or include_usage]


def openai_arrivals() -> list[tuple[float, str]]:
    """(seconds since the request, text) for every chunk with choices, as 04_streaming collects them."""
    return [(at, data["choices"][0]["delta"].get("content") or "") for at, data in _openai_data() if data["choices"]]


def anthropic_events() -> list[dict[str, Any]]:
    """The parsed `data:` JSON of every event of 04_streaming's raw Anthropic stream (pings included)."""
    body = _stream("/v1/messages", "the same stream read with httpx2")["body"]["string"]
    return [e for e in sse_data(body) if "type" in e]
