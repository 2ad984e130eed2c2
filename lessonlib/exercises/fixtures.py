"""The SDK objects the checkers hand to answers, built from the SDKs' own public types so the exercises run
offline: ChatCompletions, Anthropic Messages, API errors around httpx2 answers, and a cassette's interactions."""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from typing import Any

from lessonlib.providers import PROVIDERS


def _url(provider: str) -> str:
    p = PROVIDERS[provider]
    return (p.upstream.removesuffix("/v1") if p.v1_in_base_url else p.upstream) + p.endpoint  # endpoint has the /v1


def _sdk(provider: str) -> Any:
    return importlib.import_module(provider)  # the SDK's package has the provider's name


def completion(text: str | None, prompt: int = 28, output: int = 40, *, finish: str = "stop", reasoning: int = 0,
               refusal: str | None = None, request_id: str | None = None) -> Any:
    """A ChatCompletion with one choice, as chat.completions.create returns it."""
    from openai.types.chat import ChatCompletion

    made = ChatCompletion.model_validate({
        "id": "chatcmpl-exercise", "object": "chat.completion", "created": 1795548733, "model": "gpt-5.4-mini-2026-03-17",
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": text, "refusal": refusal, "annotations": []}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_exercise",
    })
    made._request_id = request_id
    return made


def usage(prompt: int, output: int, reasoning: int = 0) -> Any:
    """The CompletionUsage of a ChatCompletion."""
    return completion("", prompt, output, reasoning=reasoning).usage


def message(text: str, request_id: str | None = None) -> Any:
    """An Anthropic Message with one text block, as messages.create returns it."""
    from anthropic.types import Message

    made = Message.model_validate({
        "id": "msg_01Exercise", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 8, "output_tokens": 3},
    })
    made._request_id = request_id
    return made


def status_error(provider: str, cls_name: str, status: int, headers: dict[str, str] | None = None,
                 request_id: str | None = None) -> Any:
    """An SDK status error (openai.RateLimitError, anthropic.OverloadedError, ...) as the SDK builds it."""
    import httpx2

    headers = dict(headers or {})
    if provider == "openai":
        headers.setdefault("x-request-id", request_id or "req_" + "0" * 32)
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body: dict[str, Any] = {"message": f"authored {status} for an exercise", "type": kind, "param": None, "code": None}
    else:
        rid = request_id or "req_011C" + "0" * 20
        headers.setdefault("request-id", rid)
        body = {"type": "error", "error": {"type": "api_error", "message": f"authored {status} for an exercise"},
                "request_id": rid}
    response = httpx2.Response(status, headers=headers, json=body, request=httpx2.Request("POST", _url(provider)))
    return getattr(_sdk(provider), cls_name)(f"Error code: {status} - {body}", response=response, body=body)


def connection_error(provider: str, timeout: bool = False) -> Any:
    """An APIConnectionError (or APITimeoutError): the request got no answer at all."""
    import httpx2

    kind = _sdk(provider).APITimeoutError if timeout else _sdk(provider).APIConnectionError
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
