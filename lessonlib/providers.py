"""The one table of what differs between the providers; a third provider is one more row (plus its wire format).

Also the one SSE splitter that the replay server, the spending cap and the exercise checkers share, and each
wire format's usage reader (for the spending cap).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

__all__ = ["Provider", "PROVIDERS", "EVENT_END", "sse_events", "sse_data"]

EVENT_END = re.compile(r"\r?\n\r?\n")  # the blank line that ends an SSE event
Usage = tuple[str | None, dict[str, Any] | None, str]  # (model, usage, the text a stream carried)


def sse_events(body: str) -> list[str]:
    """Split a text/event-stream body into its events (without the blank line that ends each)."""
    return [e for e in EVENT_END.split(body) if e.strip()]


def sse_data(body: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a stream's ``data:`` lines, in order (OpenAI's final ``[DONE]`` and bad JSON skipped)."""
    for line in body.splitlines():  # the blank lines between events are no data: lines
        if line.startswith("data:") and line[5:].strip().startswith("{"):  # so JSON that parses is a dict
            with suppress(ValueError):
                yield json.loads(line[5:])


def _openai_stream(events: Iterator[dict[str, Any]]) -> Usage:
    """Chat Completions: usage in the last chunk (if asked for); Responses API: in the final event,
    ``response.completed``, or ``response.incomplete`` / ``response.failed`` (billed too)."""
    model, usage, text = None, None, []
    for event in events:
        if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response") or {}
            model, usage = response.get("model") or model, response.get("usage") or usage
        elif event.get("object") == "chat.completion.chunk":
            model, usage = event.get("model") or model, event.get("usage") or usage
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            text += [(call.get("function") or {}).get("arguments") or "" for call in delta.get("tool_calls") or []]
        if str(event.get("type", "")).endswith(".delta") and isinstance(event.get("delta"), str):
            text.append(event["delta"])  # Responses API text and argument deltas
    return model, usage, "".join(text)


def _anthropic_stream(events: Iterator[dict[str, Any]]) -> Usage:
    """Input tokens arrive in ``message_start``, output tokens in the last ``message_delta``; a stream cut short
    before that (the client hung up) has only its text to go by."""
    model, usage, ended, text = None, None, False, []
    for event in events:
        if event.get("type") == "message_start":
            message = event.get("message") or {}
            model, usage = message.get("model"), dict(message.get("usage") or {})
        elif event.get("type") == "message_delta" and usage is not None:
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            ended = True
        delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
        text.append(delta.get("text") or delta.get("partial_json") or delta.get("thinking") or "")
    return model, usage if ended or not "".join(text) else None, "".join(text)


@dataclass(frozen=True)
class Provider:
    name: str  # the path prefix on the course's local server: /openai/..., /anthropic/...
    title: str
    upstream: str  # the real API's base URL, as the SDK spells it
    v1_in_base_url: bool  # OpenAI's SDK puts /v1 in the base URL; Anthropic's puts it in every path
    endpoint: str  # the path the course's calls use
    key_env: str
    key_pattern: re.Pattern[str]  # what a real key looks like
    key_example: str
    key_page: str
    default_model: str  # listed by the pinned SDK, no announced shutdown (tests/test_models.py keeps it so)
    stream_usage: Callable[[Iterator[dict[str, Any]]], Usage]
    # openai 3.5x puts only a JSON body's error.message into str(err) ("Error code: 404" for plain text);
    # anthropic 2.15 prints a plain-text body verbatim but a JSON one as a dict.
    json_errors: bool
    token_env: str = ""  # another credential the SDK reads (ANTHROPIC_AUTH_TOKEN: a bearer token, for a gateway)

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper()}_BASE_URL"

    @property
    def upstream_env(self) -> str:
        return f"LESSON_{self.name.upper()}_UPSTREAM"

    @property
    def model_env(self) -> str:
        return f"LESSON_{self.name.upper()}_MODEL"

    def is_own_api(self, base_url: str) -> bool:
        """True for this provider's own API (billed), False for another server (Ollama, vLLM, a test fake)."""
        return base_url.rstrip("/") == self.upstream

    def origin(self, base_url: str) -> str:
        """What a base URL puts before the API paths (/v1/...): the base URL without the SDK's own /v1."""
        base = base_url.rstrip("/")
        return base.removesuffix("/v1") if self.v1_in_base_url else base

    def usage(self, body: bytes) -> Usage:
        """(model, usage, streamed text) of a JSON response or an SSE stream; (None, None, "") if absent."""
        text = body.decode("utf-8", "replace")
        if not text.lstrip().startswith("{"):
            return self.stream_usage(sse_data(text))
        try:
            data = json.loads(text)  # it starts with "{": a dict, or not JSON
        except ValueError:
            return None, None, ""
        return data.get("model"), data.get("usage"), ""


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("openai", "OpenAI", "https://api.openai.com/v1", True, "/v1/chat/completions", "OPENAI_API_KEY",
             re.compile(r"^sk-[A-Za-z0-9_\-]{20,}$"), "sk-...", "platform.openai.com/api-keys", "gpt-6-luna",
             _openai_stream, json_errors=True),
    Provider("anthropic", "Anthropic", "https://api.anthropic.com", False, "/v1/messages", "ANTHROPIC_API_KEY",
             re.compile(r"^sk-ant-[A-Za-z0-9_\-]{20,}$"), "sk-ant-...", "console.anthropic.com/settings/keys",
             "claude-haiku-5-5", _anthropic_stream, json_errors=False, token_env="ANTHROPIC_AUTH_TOKEN"),
)}
