"""Token arithmetic for chat histories: count, estimate image cost, trim to a budget.

Works on OpenAI-style and Anthropic-style message lists alike, with plain-string content, content
lists (text, images, tool blocks), ``None`` content and SDK message objects.
Taught in: 07_multi_turn (counting and trimming), 08_vision (image tokens).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = [
    "count_text",
    "count_message",
    "count_messages",
    "image_tokens",
    "trim_messages",
]

ANTHROPIC_MAX_IMAGE_TOKENS = 1600  # Anthropic's vision guide: larger images are scaled down first
MESSAGE_OVERHEAD = 3  # tokens OpenAI's chat format adds around every message
REPLY_PRIMING = 3  # tokens that prime the assistant's reply
_CACHE = Path(__file__).resolve().parent / "tiktoken_cache"


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_CACHE))  # ships with the repo: no download
    import tiktoken

    return tiktoken.get_encoding(name)


def _encoding_for(model: str | None) -> Any:
    # gpt-4o, gpt-4.1, gpt-5.x and o-series use o200k_base; gpt-4 and gpt-3.5 used cl100k_base.
    if model and model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4":
        return _encoding("cl100k_base")
    return _encoding("o200k_base")


def count_text(text: str | None, model: str | None = None) -> int:
    """Tokens in a string (0 for None), with the tokenizer of ``model`` (o200k_base by default)."""
    if not text:
        return 0
    return len(_encoding_for(model).encode(text, disallowed_special=()))


def image_tokens(width: int, height: int, provider: str = "openai", detail: str = "high") -> int:
    """Estimated input tokens for one image.

    OpenAI (gpt-4o-style tiling): ``low`` is a flat 85; ``high`` scales the image to fit 2048x2048,
    then its short side to 768, and charges 170 per 512-px tile plus 85. Anthropic: about
    ``width * height / 750``, after the image is scaled down so that its long side is at most 1568 px
    and it costs at most about 1,600 tokens (~1.15 megapixels). Both are the providers' published
    rules of thumb for their widely used models (newer models may allow more); the bill is in ``usage``.
    """
    if provider == "anthropic":
        scale = min(1.0, 1568 / max(width, height), math.sqrt(ANTHROPIC_MAX_IMAGE_TOKENS * 750 / (width * height)))
        w, h = width * scale, height * scale
        return max(1, math.ceil(w * h / 750))
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def _image_size_from_base64(data: str) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            return img.size
    except Exception:  # noqa: BLE001 - not an image we can read: fall back to a default estimate
        return None


def _part_tokens(part: Any, model: str | None) -> int:
    if isinstance(part, str):
        return count_text(part, model)
    if not isinstance(part, dict):
        part = _as_dict(part)
    kind = part.get("type")
    if kind == "text":
        return count_text(part.get("text"), model)
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        detail = (part.get("image_url") or {}).get("detail", "high")
        size = _image_size_from_base64(url.split(",", 1)[1]) if url.startswith("data:") and "," in url else None
        return image_tokens(*(size or (1024, 1024)), provider="openai", detail="low" if detail == "low" else "high")
    if kind == "image":
        source = part.get("source") or {}
        size = _image_size_from_base64(source.get("data", "")) if source.get("type") == "base64" else None
        return image_tokens(*(size or (1092, 1092)), provider="anthropic")
    if kind == "tool_use":
        return count_text(part.get("name"), model) + count_text(json.dumps(part.get("input", {})), model)
    if kind == "tool_result":
        content = part.get("content")
        if isinstance(content, list):
            return sum(_part_tokens(p, model) for p in content)
        return count_text(content if isinstance(content, str) else json.dumps(content), model)
    # Unknown block: count its JSON so nothing is silently free.
    return count_text(json.dumps(part, default=str), model)


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    if hasattr(message, "model_dump"):
        return message.model_dump(exclude_none=True)
    return dict(message)


def count_message(message: Any, model: str | None = None) -> int:
    """Tokens one message costs in a prompt: its content, tool calls and the per-message overhead."""
    msg = _as_dict(message)
    total = MESSAGE_OVERHEAD
    content = msg.get("content")
    if isinstance(content, str):
        total += count_text(content, model)
    elif isinstance(content, Iterable) and content is not None:
        total += sum(_part_tokens(part, model) for part in content)
    if msg.get("name"):
        total += 1 + count_text(msg["name"], model)
    for call in msg.get("tool_calls") or []:
        fn = _as_dict(call).get("function") or {}
        total += count_text(fn.get("name"), model) + count_text(fn.get("arguments"), model)
    return total


def count_messages(messages: Iterable[Any], model: str | None = None) -> int:
    """Tokens a whole message list costs as a prompt (an estimate within a few tokens of ``usage``)."""
    return REPLY_PRIMING + sum(count_message(m, model) for m in messages)


def _is_tool_followup(msg: dict[str, Any]) -> bool:
    """True for messages that answer a tool call and cannot stand without it: OpenAI's ``tool``
    role, or an Anthropic user turn holding any ``tool_result`` block (text may follow it)."""
    if msg.get("role") == "tool":
        return True
    content = msg.get("content")
    return (
        msg.get("role") == "user"
        and isinstance(content, list)
        and any(_as_dict(p).get("type") == "tool_result" for p in content)
    )


def _units(history: list[dict[str, Any]]) -> list[list[int]]:
    """Group message indexes so that a tool call and its results always stay together."""
    units: list[list[int]] = []
    for i, msg in enumerate(history):
        if units and _is_tool_followup(msg):
            units[-1].append(i)
        else:
            units.append([i])
    return units


def trim_messages(
    messages: list[Any],
    max_tokens: int,
    model: str | None = None,
    *,
    count: Callable[[Any], int] | None = None,
) -> list[Any]:
    """Keep the system prompt and the most recent turns that fit in ``max_tokens``, in one pass.

    Unlike the lesson's ``trim_conversation`` it never separates a tool call from its result, never
    returns a history that starts with an assistant turn or an orphaned tool result (Anthropic
    rejects both), and builds its result by appending (the lesson's ``insert(0, ...)`` makes it
    quadratic in the number of kept messages). Pass ``count=`` a cached counter to avoid
    re-tokenizing on every call. If even the newest user turn does not fit, only the system prompt
    comes back: check for that before sending. Returns the original message objects, in order.
    """
    count = count or (lambda m: count_message(m, model))
    as_dicts = [_as_dict(m) for m in messages]
    system_idx = [i for i, m in enumerate(as_dicts) if m.get("role") in ("system", "developer")]
    rest_idx = [i for i, m in enumerate(as_dicts) if m.get("role") not in ("system", "developer")]
    budget = max_tokens - REPLY_PRIMING - sum(count(messages[i]) for i in system_idx)
    history = [as_dicts[i] for i in rest_idx]
    kept_units: list[list[int]] = []
    used = 0
    for unit in reversed(_units(history)):
        cost = sum(count(messages[rest_idx[j]]) for j in unit)
        if used + cost > budget:
            break
        kept_units.append(unit)
        used += cost
    kept_units.reverse()
    # The kept history must open with a user turn that is not a tool result.
    while kept_units and history[kept_units[0][0]].get("role") != "user":
        kept_units.pop(0)
    keep = [rest_idx[j] for unit in kept_units for j in unit]
    return [messages[i] for i in system_idx] + [messages[i] for i in keep]
