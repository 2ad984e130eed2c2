"""Token arithmetic for chat histories: count, estimate image cost, trim to a budget.

Reads OpenAI- and Anthropic-style messages alike (strings, content lists, tool blocks, ``None``, SDK objects).
On the real OpenAI recordings in tests/wire/real/, ``count_messages`` comes within 3 tokens of
``usage.prompt_tokens`` on at least 10 of 11 (tests/test_tokens.py, bench/p6_token_estimate.py).
Taught in: 07_multi_turn (counting and trimming), 08_vision (image tokens).
"""

from __future__ import annotations

import base64
import io
import json
import math
import numbers
import os
from contextlib import suppress
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .cassette import Cassette
from .config import TIKTOKEN_CACHE
from .providers import PROVIDERS

__all__ = ["clear_count_cache", "count_text", "count_message", "count_messages", "image_tokens", "recorded_bills",
           "tool_definitions_text", "trim_messages"]

MESSAGE_OVERHEAD = 3  # tokens OpenAI's chat format adds around every message
REPLY_PRIMING = 3  # tokens that prime the assistant's reply
TOOLS_OVERHEAD = 9  # tokens around the tool block (fitted on the real recordings in tests/wire/real/)
ANTHROPIC_MAX_IMAGE_TOKENS = 1600  # Anthropic's vision guide: larger images are scaled down first
WIRE = Path(__file__).resolve().parent.parent / "tests" / "wire" / "real"  # real traffic, see its SOURCES.md


@lru_cache(maxsize=64)
def _encoding_for(model: str | None) -> Any:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE))  # ships with the repo: no download
    import tiktoken

    # gpt-4o, gpt-4.1, gpt-5.x and o-series use o200k_base; gpt-4 and gpt-3.5 used cl100k_base.
    old = model and model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4"
    return tiktoken.get_encoding("cl100k_base" if old else "o200k_base")


def count_text(text: str | None, model: str | None = None) -> int:
    """Tokens in a string (0 for None), with the tokenizer of ``model`` (o200k_base by default)."""
    return len(_encoding_for(model).encode(text or "", disallowed_special=()))


def image_tokens(width: int, height: int, provider: str = "openai", detail: str = "high",
                 model: str | None = None) -> int:
    """Estimated input tokens for one image, by the providers' published rules of thumb (``usage`` has the bill).

    OpenAI: ``low`` is a flat 85; ``high`` fits the image in 2048x2048, then its short side in 768, and
    charges 170 per 512-px tile plus 85 (``gpt-4o-mini``: 5,667 per tile plus 2,833, about the same price).
    Anthropic: about ``width * height / 750`` once the long side is at most 1568 px and the cost at most 1,600.
    """
    if not all(isinstance(n, numbers.Real) and not isinstance(n, bool) and math.isfinite(n) and n >= 1
               for n in (width, height)):  # 0 once raised ZeroDivisionError; inf, NaN and True are no sizes either
        raise ValueError(f"image_tokens needs a width and a height of at least 1 pixel, not {width!r} x {height!r}")
    if provider == "anthropic":
        scale = min(1.0, 1568 / max(width, height), math.sqrt(ANTHROPIC_MAX_IMAGE_TOKENS * 750 / (width * height)))
        tokens = math.ceil((width * scale) * (height * scale) / 750)
        return max(1, min(tokens, ANTHROPIC_MAX_IMAGE_TOKENS))  # min: the scaled product can round to 1600.0000001
    base, per_tile = (2833, 5667) if model and str(model).startswith("gpt-4o-mini") else (85, 170)
    if detail == "low":
        return base
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    return base + per_tile * math.ceil(w * scale / 512) * math.ceil(h * scale / 512)


def _image_size(data: str) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            return img.size
    except Exception:  # noqa: BLE001 - not an image we can read: fall back to a default estimate
        return None


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    if hasattr(message, "model_dump"):
        return message.model_dump(exclude_none=True)
    if isinstance(message, Mapping):
        return dict(message)
    raise TypeError(f"a message (or content block) must be a dict such as {{'role': 'user', 'content': 'Hi'}} "
                    f"or an SDK object, not a {type(message).__name__}")


def _part_tokens(part: Any, model: str | None) -> int:
    if isinstance(part, str):
        return count_text(part, model)
    part = _as_dict(part)
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):  # input_text, output_text: the Responses API parts
        return count_text(part.get("text"), model)
    if kind in ("image_url", "input_image"):
        image = part.get("image_url") or {}  # the Responses API's input_image holds the URL and its detail itself
        image = {"url": image, "detail": part.get("detail") or "high"} if isinstance(image, str) else image
        url = image.get("url", "")
        size = _image_size(url.split(",", 1)[1]) if url.startswith("data:") and "," in url else None
        return image_tokens(*(size or (1024, 1024)), "openai", image.get("detail", "high"), model)
    if kind == "image":
        source = part.get("source") or {}
        size = _image_size(source.get("data", "")) if source.get("type") == "base64" else None
        return image_tokens(*(size or (1092, 1092)), "anthropic")
    if kind == "tool_use":
        return count_text(part.get("name"), model) + count_text(json.dumps(part.get("input", {})), model)
    if kind == "tool_result":
        content = part.get("content")
        if isinstance(content, (list, tuple)):
            return sum(_part_tokens(p, model) for p in content)
        return count_text(content if isinstance(content, str) else json.dumps(content), model)
    return count_text(json.dumps(part, default=str), model)  # unknown block: its JSON, so nothing is free


# ---- counting, with a cache keyed by the message's value ------------------------------------------

_COUNTS: dict[Any, int] = {}  # (model, role, content) or (model, frozen message) -> tokens
_COUNTS_MAX = 1 << 18  # entries; when full, the older half is dropped


def _freeze(value: Any) -> Any:
    """A hashable copy of a JSON-like value, tagged with each part's type so that 1, 1.0 and True, or {"a": 1}
    and [["a", 1]], never share a key. TypeError for anything else (which is then not cached)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind in (int, float, bool):
        return (kind, value)
    if kind is dict:
        return (dict, *((k, _freeze(v)) for k, v in value.items()))
    if kind in (list, tuple):
        return (kind, *map(_freeze, value))
    raise TypeError(kind)


def _cache_key(msg: dict[str, Any], model: str | None) -> Any:
    """The message's whole value, never its identity: a message changed in place gets a new key."""
    role, content = msg.get("role"), msg.get("content")
    if len(msg) == 2 and type(role) is str and type(content) is str:
        return (model, role, content)  # the chat-loop case: str hashes are cached, a lookup is cheap
    try:
        return (model, _freeze(msg))
    except TypeError:
        return None


def clear_count_cache() -> None:
    """Forget every cached message count (counts never go stale; this only frees memory or times a cold run)."""
    _COUNTS.clear()


def _count_uncached(msg: dict[str, Any], model: str | None) -> int:
    role, content = msg.get("role"), msg.get("content")
    if role is None and content is None:  # a Responses API item (function_call, function_call_output): its JSON
        return MESSAGE_OVERHEAD + count_text(json.dumps(msg, default=str), model)
    calls = msg.get("tool_calls") or []
    total = 0
    if content or not calls:  # an assistant turn that only calls tools is read as the calls alone
        total += MESSAGE_OVERHEAD
        if role != "tool":  # a tool result's header (functions.NAME) is charged to its call, below
            total += count_text(str(role or ""), model)
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, Iterable):
            total += sum(_part_tokens(part, model) for part in content)
        if msg.get("name"):
            total += 1 + count_text(msg["name"], model)
    for call in calls:
        fn = _as_dict(call).get("function") or {}
        name = fn.get("name") or ""
        total += MESSAGE_OVERHEAD + count_text(f"{role or 'assistant'} to=functions.{name}", model)
        total += count_text(fn.get("arguments"), model) + count_text(f"functions.{name}", model)
    return total


def count_message(message: Any, model: str | None = None) -> int:
    """Tokens one message costs in a prompt: role, content, name, tool calls and the per-message overhead.

    Tool calls are read as community counters reconstruct OpenAI's format: each call is a message
    ``assistant to=functions.NAME`` plus its arguments, and the ``functions.NAME`` header of the tool
    message that answers it is charged to the call, so a history's count is the sum of its messages'.
    Counts are cached by the message's value: counting a message again is a dict lookup."""
    msg = _as_dict(message)
    key = _cache_key(msg, model)
    if key is None:  # not JSON-like: counted every time
        return _count_uncached(msg, model)
    if (tokens := _COUNTS.get(key)) is None:
        if len(_COUNTS) >= _COUNTS_MAX:
            for old in list(islice(_COUNTS, _COUNTS_MAX // 2)):  # dicts keep insertion order: oldest first
                del _COUNTS[old]
        tokens = _COUNTS[key] = _count_uncached(msg, model)
    return tokens


def _ts_type(schema: dict[str, Any], indent: str) -> str:
    if not isinstance(schema, dict):  # a boolean schema (true: anything), or draft-4 tuple items (a list)
        return "any"
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):  # {"type": ["string", "null"]}, as OpenAI's strict schemas write an optional field
        return " | ".join(_ts_type({**schema, "type": k}, indent) for k in kind)
    if kind == "array":
        return _ts_type(schema.get("items") or {}, indent) + "[]"
    if kind == "object" and schema.get("properties"):
        return "{\n" + _ts_properties(schema, indent + "  ") + "\n" + indent + "}"
    return {"integer": "number", "number": "number", "string": "string", "boolean": "boolean",
            "null": "null", "object": "object"}.get(kind, "any")


def _ts_properties(schema: dict[str, Any], indent: str = "") -> str:
    required = set(schema.get("required") or [])
    lines = []
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("description"):
            lines.append(f"{indent}// {prop['description']}")
        lines.append(f"{indent}{name}{'' if name in required else '?'}: {_ts_type(prop, indent)},")
    return "\n".join(lines)


def tool_definitions_text(tools: Iterable[Any]) -> str:
    """Tool definitions as the model reads them: a TypeScript-like ``namespace functions`` block, as community
    counters reconstruct it (OpenAI does not publish it), from OpenAI's or Anthropic's tool shape."""
    lines = ["namespace functions {", ""]
    for tool in map(_as_dict, tools):
        fn = tool.get("function") or tool
        if fn.get("description"):
            lines.append(f"// {fn['description']}")
        params = fn.get("parameters") or fn.get("input_schema") or {}
        args = "(_: {\n" + _ts_properties(params) + "\n})" if params.get("properties") else "()"
        lines += [f"type {fn.get('name')} = {args} => any;", ""]
    return "\n".join(lines + ["} // namespace functions"])


def count_messages(messages: Iterable[Any], model: str | None = None, *, tools: Iterable[Any] | None = None,
                   response_format: dict[str, Any] | None = None) -> int:
    """Tokens a whole request costs as a prompt: its messages, plus the ``tools`` it offers and a
    ``response_format`` JSON schema, if you pass them (an estimate; ``usage`` has the bill)."""
    total = REPLY_PRIMING + sum(count_message(m, model) for m in messages)
    if tools := list(tools or []):
        total += count_text(tool_definitions_text(tools), model) + TOOLS_OVERHEAD
    schema = (response_format.get("json_schema") or {}).get("schema") if isinstance(response_format, dict) else None
    if schema:
        total += count_text(json.dumps(schema, separators=(",", ":")), model)
    return total


# ---- trimming -------------------------------------------------------------------------------------


def _positions(items: list[Any], value: Any) -> list[int]:
    """Every index of ``value`` in ``items``: list.index scans at C speed, and system prompts are few."""
    found: list[int] = []
    with suppress(ValueError):
        while True:
            found.append(items.index(value, found[-1] + 1 if found else 0))
    return found


def _is_tool_followup(message: Any) -> bool:
    """True for a message that answers a tool call and cannot stand without it: OpenAI's ``tool`` role,
    or an Anthropic user turn holding any ``tool_result`` block (text may follow it)."""
    msg = _as_dict(message)
    content = msg.get("content")
    if msg.get("role") == "user" and isinstance(content, (list, tuple)):
        return any(not isinstance(p, str) and _as_dict(p).get("type") == "tool_result" for p in content)
    return msg.get("role") == "tool"


def trim_messages(messages: list[Any], max_tokens: int, model: str | None = None, *,
                  count: Callable[[Any], int] | None = None) -> list[Any]:
    """Keep the system prompt and the most recent turns that fit in ``max_tokens``.

    Unlike the lesson's ``trim_conversation`` it never separates a tool call from its results, never
    returns a history that starts with an assistant turn or an orphaned tool result (Anthropic rejects
    both), and reads only the messages it keeps: it walks back from the newest and stops at the budget,
    looking each count up in ``count_message``'s cache, so a chat loop tokenizes only the newest turn.
    ``count=`` replaces the counter. If even the newest user turn does not fit, only the system prompt
    comes back: check for that before sending. Returns the original message objects, in order.
    """
    if not isinstance(max_tokens, numbers.Real) or isinstance(max_tokens, bool):  # None: a TypeError deep inside
        raise TypeError(f"trim_messages needs max_tokens, a number of tokens, not {max_tokens!r}")
    n = len(messages)
    try:  # plain dicts (the usual case): one pass over the roles at C speed
        roles = list(map(itemgetter("role"), messages))
    except (TypeError, KeyError, IndexError):
        roles = [m.role if hasattr(m, "role") else _as_dict(m).get("role") for m in messages]
    system_idx = sorted(_positions(roles, "system") + _positions(roles, "developer"))
    counter = count or (lambda m: count_message(m, model))
    budget = max_tokens - REPLY_PRIMING - sum(counter(messages[i]) for i in system_idx)
    get = _COUNTS.get if count is None else {}.get  # count_message's cache, looked up inline (none with count=)
    start = None  # index of the oldest user turn whose unit, and everything after it, fits
    used = pending = 0  # pending: tool results waiting for the call (or user turn) they belong to
    for i, item, role in zip(range(n - 1, -1, -1), reversed(messages), reversed(roles)):
        if role == "system" or role == "developer":
            continue
        # {"role": ..., "content": "..."}, the chat-loop case: its key in count_message's cache, looked up inline
        text = item.get("content") if type(item) is dict and len(item) == 2 else None
        plain = type(text) is str and type(role) is str
        cost = get((model, role, text)) if plain else None
        if cost is None:
            cost = counter(item)
        if role == "tool" or (role == "user" and not plain and _is_tool_followup(item)):
            pending += cost  # belongs to the unit of the nearest older message that is not a follow-up
            continue
        used += pending + cost
        pending = 0
        if used > budget:
            break
        if role == "user":
            start = i  # the kept history may open here: a user turn that answers no tool call
    system = [messages[i] for i in system_idx]
    if start is None:
        return system
    if system_idx and system_idx[-1] > start:  # a system prompt among the kept turns: it comes first, once
        return system + [messages[i] for i in range(start, n) if roles[i] != "system" and roles[i] != "developer"]
    return [*system, *messages[start:]]  # unpacked, not +: messages may be a tuple


# ---- real bills to compare against ----------------------------------------------------------------


def recorded_bills(folder: Path | str | None = None) -> list[dict[str, Any]]:
    """The OpenAI chat requests recorded by other public projects in ``tests/wire/real/`` (see
    ``tests/wire/SOURCES.md``), each with the ``prompt_tokens`` OpenAI billed for it (a stream's from its
    usage chunk): ``[{"name": ..., "source": ..., "body": {...}, "prompt_tokens": N}, ...]``."""
    out = []
    for path in sorted(Path(folder or WIRE).glob("openai_chat_*.yaml")):
        for item in Cassette.load(path).interactions:  # gzip bodies and SSE streams read as replay reads them
            if not item.body or item.response["status"]["code"] != 200:
                continue  # errors bill nothing
            if usage := PROVIDERS["openai"].usage(item.response_body())[1]:
                name = path.stem.split("__")[0].removeprefix("openai_chat_") + (f" #{item.index}" if item.index else "")
                out.append({"name": name, "source": path.stem.split("__")[-1], "body": item.body,
                            "prompt_tokens": usage["prompt_tokens"]})
    return out
