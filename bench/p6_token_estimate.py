"""P6: how close ``lessonlib.tokens.count_messages`` comes to what OpenAI billed.

Input: the request bodies of real OpenAI chat-completions recordings made by other public projects
(tests/wire/real/, see tests/wire/SOURCES.md): non-streaming and streaming-with-usage, with and without
tools, JSON mode, a JSON schema and an image. Each request's estimate is compared with the
``usage.prompt_tokens`` recorded in its response (gzip bodies are decompressed; streams are read for
their final usage chunk).

Columns:

- *shipped*: ``count_messages(body["messages"], body["model"])`` exactly as lessonlib ships it. It counts
  messages only: tool definitions and ``response_format`` schemas are not part of it.
- *shipped + tools*: the same, plus the tool definitions estimated as below, to separate what the
  tools cost from what the messages cost ("with and without tools").
- *VARIANT* (a proposal, not shipped): :func:`estimate_prompt_tokens` below, which adds what the
  shipped estimate leaves out: the role name of every message (1 token: ``<|start|>{role}\n{content}``,
  as OpenAI's cookbook counts it), tool definitions rendered the way community token counters
  reconstruct them (a TypeScript-like ``namespace functions`` block, + 9 tokens, as in the npm package
  openai-chat-tokens), gpt-4o-mini's published image rate (2,833 + 5,667 per 512-px tile instead of
  gpt-4o's 85 + 170), and a JSON schema's compact JSON. Honest caveat: the rendering of tool calls *in
  the history* (``assistant to=functions.NAME`` + arguments; tool results as ``functions.NAME`` +
  content) is a hypothesis chosen while looking at these very recordings (it fits the three requests
  that have them); it needs more recordings before it goes into lessonlib.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, Result  # noqa: E402

GOAL = 3


# ---- reading the recordings ------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return (gzip.decompress(value) if value[:2] == b"\x1f\x8b" else value).decode("utf-8")
    return str(value)


def recorded_requests(data: Path = DATA) -> list[dict[str, Any]]:
    """Every OpenAI chat request in tests/wire/real with the prompt_tokens its response reported."""
    import yaml

    out = []
    for path in sorted(data.glob("openai_chat_*.yaml")):
        cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
        for n, item in enumerate(cassette["interactions"]):
            if not item["request"].get("body") or item["response"]["status"]["code"] != 200:
                continue  # error recordings (pydantic-ai's parsed_body form) bill nothing to compare
            body = json.loads(_text(item["request"]["body"]))
            response = _text((item["response"].get("body") or {}).get("string", ""))
            usage = None
            if response.lstrip().startswith("data:"):
                for event in response.split("\n\n"):
                    payload = event.strip().removeprefix("data:").strip()
                    if payload and payload != "[DONE]":
                        usage = json.loads(payload).get("usage") or usage
            else:
                usage = json.loads(response).get("usage")
            if usage:
                out.append({"file": path.name, "n": n, "body": body, "prompt_tokens": usage["prompt_tokens"]})
    return out


# ---- the proposal --------------------------------------------------------------------------


def _ts_type(schema: dict[str, Any], indent: str) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return _ts_type(schema.get("items") or {}, indent) + "[]"
    if kind == "object" and schema.get("properties"):
        return "{\n" + _ts_properties(schema, indent + "  ") + "\n" + indent + "}"
    return {
        "integer": "number",
        "number": "number",
        "string": "string",
        "boolean": "boolean",
        "null": "null",
        "object": "object",
    }.get(kind, "any")


def _ts_properties(schema: dict[str, Any], indent: str = "") -> str:
    required = set(schema.get("required") or [])
    lines = []
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("description"):
            lines.append(f"{indent}// {prop['description']}")
        lines.append(f"{indent}{name}{'' if name in required else '?'}: {_ts_type(prop, indent)},")
    return "\n".join(lines)


def tool_definitions_text(tools: list[dict[str, Any]]) -> str:
    """Tool definitions as the model reads them: a TypeScript-like namespace (as reconstructed by
    community token counters; OpenAI does not publish it)."""
    lines = ["namespace functions {", ""]
    for tool in tools:
        fn = tool.get("function") or tool
        if fn.get("description"):
            lines.append(f"// {fn['description']}")
        params = fn.get("parameters") or {}
        if params.get("properties"):
            lines += [f"type {fn['name']} = (_: {{", _ts_properties(params), "}) => any;"]
        else:
            lines.append(f"type {fn['name']} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """PROPOSAL: prompt tokens of a whole chat.completions request body (messages, tools, schema)."""
    from lessonlib.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, _part_tokens, count_text, image_tokens

    model = body.get("model")
    total = REPLY_PRIMING
    call_names: dict[str, str] = {}
    for msg in body.get("messages", []):
        role, content = msg.get("role"), msg.get("content")
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            call_names[call.get("id", "")] = fn.get("name", "")
            total += MESSAGE_OVERHEAD + count_text(f"{role} to=functions.{fn.get('name')}", model)
            total += count_text(fn.get("arguments"), model)
        if msg.get("tool_calls") and not content:
            continue
        header = f"functions.{call_names.get(msg.get('tool_call_id', ''), '')}" if role == "tool" else role
        total += MESSAGE_OVERHEAD + count_text(header, model)
        if msg.get("name"):
            total += 1 + count_text(msg["name"], model)
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, list):
            for part in content:
                tokens = _part_tokens(part, model)
                if part.get("type") == "image_url" and str(model).startswith("gpt-4o-mini"):
                    tiles = (tokens - image_tokens(1, 1, detail="low")) // 170  # gpt-4o's count -> tiles
                    tokens = 2833 + 5667 * tiles  # gpt-4o-mini bills images ~33x gpt-4o's rate
                total += tokens
    if body.get("tools"):
        total += count_text(tool_definitions_text(body["tools"]), model) + 9
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if schema:
        total += count_text(json.dumps(schema, separators=(",", ":")), model)
    return total


# ---- the benchmark -------------------------------------------------------------------------


def _features(body: dict[str, Any]) -> str:
    found = []
    if body.get("stream"):
        found.append("stream")
    if body.get("tools"):
        found.append(f"{len(body['tools'])} tools")
    if any(m.get("tool_calls") for m in body["messages"]):
        found.append("tool calls in history")
    kind = (body.get("response_format") or {}).get("type")
    if kind:
        found.append(kind)
    if any(
        isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
        for m in body["messages"]
    ):
        found.append("image")
    return ", ".join(found) or "plain"


def measure(data: Path = DATA) -> Result:
    from lessonlib.tokens import count_messages, count_text

    rows = []
    for req in recorded_requests(data):
        body = req["body"]
        shipped = count_messages(body["messages"], body["model"])
        proposal = estimate_prompt_tokens(body)
        with_tools = shipped + (
            count_text(tool_definitions_text(body["tools"]), body["model"]) + 9 if body.get("tools") else 0
        )
        extras = bool(body.get("tools") or body.get("response_format", {}).get("type") == "json_schema")
        rows.append(
            {
                **req,
                "shipped": shipped,
                "with_tools": with_tools,
                "proposal": proposal,
                "extras": extras,
                "features": _features(body),
            }
        )
    ok = [r for r in rows if abs(r["shipped"] - r["prompt_tokens"]) <= GOAL]
    plain = [r for r in rows if not r["extras"] and "image" not in r["features"]]
    plain_ok = [r for r in plain if abs(r["shipped"] - r["prompt_tokens"]) <= GOAL]
    prop_ok = [r for r in rows if abs(r["proposal"] - r["prompt_tokens"]) <= GOAL]
    detail = [
        f"{'file #request':<58} {'model':<12} {'billed':>6} {'shipped':>8} {'diff':>6} "
        f"{'+tools':>7} {'diff':>5} {'VARIANT':>8} {'diff':>5}  features"
    ]
    for r in rows:
        name = f"{r['file'].removesuffix('.yaml')} #{r['n']}"
        detail.append(
            f"{name:<58} {r['body']['model']:<12} {r['prompt_tokens']:>6} {r['shipped']:>8} "
            f"{r['shipped'] - r['prompt_tokens']:>+6} {r['with_tools']:>7} {r['with_tools'] - r['prompt_tokens']:>+5} "
            f"{r['proposal']:>8} {r['proposal'] - r['prompt_tokens']:>+5}  "
            f"{r['features']}"
        )
    detail += [
        f"shipped count_messages within ±{GOAL}: {len(ok)}/{len(rows)} requests; on the requests with no tool "
        f"definitions, schema or image: {len(plain_ok)}/{len(plain)} (each is 1 token per message short: the "
        "role name is not counted)",
        "shipped + tools: tool definitions are most of the gap where tools are offered; what is left comes "
        "from tool calls and results in the history (about 6-8 tokens per call/result pair)",
        f"VARIANT estimate_prompt_tokens within ±{GOAL}: {len(prop_ok)}/{len(rows)}; what it adds is in this "
        "file's docstring. The JSON-schema request stays off: how OpenAI renders response_format is not "
        "published, and one recording is not enough to fit it",
    ]
    return Result(
        key="P6",
        title="token estimate vs billed usage",
        figure=f"{len(ok)}/{len(rows)} within ±{GOAL} ({len(plain_ok)}/{len(plain)} plain)",
        goal=f"±{GOAL} tokens on each",
        passed=len(ok) == len(rows),
        detail=detail,
        data={"rows": [{k: v for k, v in r.items() if k != "body"} for r in rows]},
    )


if __name__ == "__main__":
    result = measure()
    print(result.line())
    for line in result.detail:
        print("    " + line)
