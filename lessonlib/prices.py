"""Prices per million tokens, in one dated table (update it here and nowhere else), and the cost of a ``usage``.

Each row says where the figure came from and when. The course's costs are estimates: the bill on your provider's
dashboard is the truth. Taught in: 02_openai_chat (cost of a call); used by the spending cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["price_for", "cost_usd", "usage_tokens"]


@dataclass(frozen=True)
class Price:
    input_per_m: float  # USD per 1,000,000 input (prompt) tokens
    output_per_m: float  # USD per 1,000,000 output (completion) tokens
    as_of: str  # date the figure was read
    source: str
    verified: bool  # True only when read from the provider's own pricing page


_OPENAI_SRC = "third-party pages quoting platform.openai.com/docs/pricing (tokenmix.ai, morphllm.com, 2026-04..06)"
_ANTHROPIC_SRC = ("third-party pages quoting Anthropic's pricing page "
                  "(release notes of public cost trackers, 2026-09..10)")
_LUNA_SRC = ("third-party pages quoting developers.openai.com/api/docs/pricing "
             "(Vercel AI Gateway, inference.sh, 2026-10)")

PRICES: dict[str, Price] = {
    "gpt-6-luna": Price(0.10, 0.50, "2026-10", _LUNA_SRC, False),
    "gpt-5.5": Price(5.00, 30.00, "2026-06", _OPENAI_SRC, False),
    "gpt-5.4": Price(2.50, 15.00, "2026-06", _OPENAI_SRC, False),
    "gpt-5.4-mini": Price(0.75, 4.50, "2026-06", _OPENAI_SRC, False),
    "gpt-5.4-nano": Price(0.20, 1.25, "2026-06", _OPENAI_SRC, False),
    "claude-sonnet-5-5": Price(2.00, 10.00, "2026-10", _ANTHROPIC_SRC, False),
    "claude-haiku-5-5": Price(0.10, 0.50, "2026-10", _ANTHROPIC_SRC, False),
}


_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")  # OpenAI's -2026-03-17, Anthropic's -20261001


def price_for(model: str) -> Price | None:
    """The price row for a model id, also for dated snapshots (``gpt-5.4-mini-2026-03-17``); another model whose
    name only starts with a priced one (``gpt-5.5-pro``) has none."""
    return PRICES.get(_SNAPSHOT.sub("", model)) or PRICES.get(model)


def _get(usage: Any, key: str) -> Any:
    """A field of either SDK's ``usage`` object (or of a part of one), or of a dict of one; None if absent."""
    return usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)


def usage_tokens(usage: Any) -> tuple[int, int]:
    """(input, output) tokens from either SDK's ``usage`` object, or a dict of one."""
    if _get(usage, "prompt_tokens") is not None:  # OpenAI
        return int(_get(usage, "prompt_tokens") or 0), int(_get(usage, "completion_tokens") or 0)
    parts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    inp = sum(int(_get(usage, k) or 0) for k in parts)
    return inp, int(_get(usage, "output_tokens") or 0)


def cost_usd(model: str, usage: Any) -> float | None:
    """Estimated USD cost of one response from its model id and ``usage`` (cache reads at the plain input rate, an
    over-estimate; Anthropic's cache writes at 1.25 times it, 2 times for its 1-hour cache); None if unpriced."""
    price = price_for(model)
    if price is None:
        return None
    inp, out = usage_tokens(usage)
    one_hour = _get(_get(usage, "cache_creation") or {}, "ephemeral_1h_input_tokens")
    inp += 0.25 * int(_get(usage, "cache_creation_input_tokens") or 0) + 0.75 * int(one_hour or 0)
    return inp * price.input_per_m / 1e6 + out * price.output_per_m / 1e6
