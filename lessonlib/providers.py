"""The one table of what differs between the providers; a third provider is one more row (plus its wire format).

Also the one SSE splitter that the replay server, the spending cap and the exercise checkers share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Provider", "PROVIDERS", "sse_events", "sse_data"]


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

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper()}_BASE_URL"

    @property
    def upstream_env(self) -> str:
        return f"LESSON_{self.name.upper()}_UPSTREAM"

    @property
    def model_env(self) -> str:
        return f"LESSON_{self.name.upper()}_MODEL"


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("openai", "OpenAI", "https://api.openai.com/v1", True, "/v1/chat/completions", "OPENAI_API_KEY",
             re.compile(r"^sk-[A-Za-z0-9_\-]{20,}$"), "sk-...", "platform.openai.com/api-keys", "gpt-6-luna"),
    Provider("anthropic", "Anthropic", "https://api.anthropic.com", False, "/v1/messages", "ANTHROPIC_API_KEY",
             re.compile(r"^sk-ant-[A-Za-z0-9_\-]{20,}$"), "sk-ant-...", "console.anthropic.com/settings/keys",
             "claude-haiku-5-5"),
)}

_EVENT_SPLIT = re.compile(r"\r?\n\r?\n")


def sse_events(body: str) -> list[str]:
    """Split a text/event-stream body into its events (without the blank line that ends each)."""
    return [e for e in _EVENT_SPLIT.split(body) if e.strip()]


def sse_data(body: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a stream's ``data:`` lines, in order (OpenAI's final ``[DONE]`` and bad JSON skipped)."""
    for event in sse_events(body):
        for line in event.splitlines():
            if line.startswith("data:") and line[5:].strip().startswith("{"):
                try:
                    data = json.loads(line[5:])
                except ValueError:
                    continue
                if isinstance(data, dict):
                    yield data
