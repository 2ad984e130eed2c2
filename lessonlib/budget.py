"""A spending cap for live and record modes: meter every response's usage, refuse what would exceed it.

Set ``LESSON_BUDGET_USD=0.50`` in ``.env``. Calls then go through the course's local server (in live
mode too), which reads ``usage`` from every response, streams included, prices it with
``lessonlib.prices`` and keeps a running total for this kernel. Once the total reaches the cap, the
next call is refused before it reaches the provider, with a message that says what to do.
``lessonlib.budget.spent()`` shows the total. Taught in: 01_setup (workshop notes).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from .prices import cost_usd, price_for

__all__ = ["Budget", "usage_from_response", "spent"]

_CURRENT: dict[str, "Budget"] = {}


def usage_from_response(body: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """(model, usage) from a JSON response or an SSE stream of either provider; (None, None) if absent."""
    text = body.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return None, None
        return data.get("model"), data.get("usage")
    model, usage = None, None
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload.startswith("{"):
            continue  # OpenAI's final "data: [DONE]"
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if event.get("type") == "message_start":  # Anthropic: input tokens arrive first ...
            message = event.get("message") or {}
            model, usage = message.get("model"), dict(message.get("usage") or {})
        elif event.get("type") == "message_delta" and usage is not None:  # ... output tokens last
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif event.get("object") == "chat.completion.chunk":  # OpenAI: usage in the last chunk
            model = event.get("model") or model
            if event.get("usage"):
                usage = event["usage"]
    return model, usage


@dataclass
class Budget:
    """The cap and the running total of one kernel session."""

    limit_usd: float
    spent_usd: float = 0.0
    calls: int = 0
    unpriced: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        _CURRENT["budget"] = self

    def refusal(self) -> str | None:
        """Why the next call must not go out, or None."""
        with self._lock:
            if self.spent_usd >= self.limit_usd:
                return (
                    f"Spending cap reached: this session has spent about ${self.spent_usd:.4f} of its "
                    f"LESSON_BUDGET_USD=${self.limit_usd:.2f} on {self.calls} calls, so this call was not sent. "
                    "Raise LESSON_BUDGET_USD in .env and restart the kernel, or switch to LESSON_MODE=replay."
                )
        return None

    def record(self, response_body: bytes) -> float:
        """Add one response's cost to the total; returns that cost in USD."""
        model, usage = usage_from_response(response_body)
        if not model or not usage:
            return 0.0
        cost = cost_usd(model, usage)
        with self._lock:
            self.calls += 1
            if cost is None:
                self.unpriced.add(model)
                return 0.0
            self.spent_usd += cost
        return cost

    def summary(self) -> str:
        text = f"spent about ${self.spent_usd:.4f} of ${self.limit_usd:.2f} on {self.calls} calls"
        if self.unpriced:
            text += f" (not priced, so not counted: {', '.join(sorted(self.unpriced))}; add them to lessonlib/prices.py)"
        return text


def spent() -> str:
    """The running total of this kernel's spending cap, as one line."""
    budget = _CURRENT.get("budget")
    return budget.summary() if budget else "no spending cap is set (LESSON_BUDGET_USD in .env)"


def check_model_is_priced(model: str) -> str | None:
    """A warning when a capped session uses a model the price table does not know."""
    if price_for(model) is None:
        return f"{model} has no price in lessonlib/prices.py, so the spending cap cannot count it."
    return None
