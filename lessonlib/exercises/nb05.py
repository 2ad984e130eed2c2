"""Checks for 05_tool_use. 05.1 validates the converted tool with the anthropic SDK's ``ToolParam`` type; 05.2 and
05.3 run on the notebook's recorded responses, with the expected answers computed from their raw JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lessonlib.exercises import NotYet, an, call, compare, exercise
from lessonlib.exercises.fixtures import responses

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
    },
    "required": ["city"],
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Get current weather for a city", "parameters": WEATHER_SCHEMA},
}
OPENAI_NO_ARGS = {"type": "function", "function": {"name": "get_server_time", "description": "Current UTC time"}}
OPENAI_NO_DESCRIPTION = {
    "type": "function",
    "function": {"name": "get_local_time",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}


def _recorded() -> dict[str, Any]:
    """A parallel-call and a text-only response per provider from the cassette: {key: (SDK object, raw JSON)}."""
    found: dict[str, Any] = {}
    for response, body in responses("05_tool_use"):
        calls = _expected_calls(body)
        if len(calls) != 1:
            provider = "openai" if "choices" in body else "anthropic"
            found.setdefault(f"{provider}_{'parallel' if calls else 'text'}", (response, body))
    missing = {"openai_parallel", "anthropic_parallel", "openai_text", "anthropic_text"} - set(found)
    if missing:
        raise NotYet(f"the cassette 05_tool_use.yaml lacks responses this check needs ({sorted(missing)}); "
                     "restore it with git.")
    return found


def _expected_calls(body: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """(id, name, arguments) of every tool call in a raw response."""
    if "choices" in body:
        return [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in body["choices"][0]["message"].get("tool_calls") or []]
    return [(b["id"], b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"]


def _check_tool_param(out: dict[str, Any]) -> None:
    """Raise NotYet with what the anthropic SDK's ToolParam type (the shape the API accepts) says is wrong."""
    from anthropic.types import ToolParam
    from pydantic import TypeAdapter, ValidationError

    unknown = sorted(set(map(str, out)) - ToolParam.__required_keys__ - ToolParam.__optional_keys__)
    if unknown:
        raise NotYet(f"Anthropic's tools have no {', '.join(map(repr, unknown))} key: keep name, description and "
                     "input_schema.")
    try:
        TypeAdapter(ToolParam).validate_python(out)
    except ValidationError as err:
        first = err.errors()[0]
        raise NotYet(f"Anthropic would refuse this tool: {'.'.join(map(str, first['loc']))}: {first['msg']}.") from None


@exercise("05.1", title="OpenAI tool schema to Anthropic",
          idea="Put anthropic_weather_tool next to openai_weather_tool: the same three pieces, one level up, and one "
               "of them renamed.",
          hint="Anthropic wants name, description and input_schema at the top level, with no 'type': 'function' "
               "wrapper. input_schema is OpenAI's function['parameters']; when parameters is missing, use "
               "{'type': 'object', 'properties': {}}. Copy description only when there is one. Build a new dict "
               "rather than editing the one you were given.")
def _check_tool_conversion(fn: Any) -> str:
    cases = [
        (OPENAI_WEATHER, "the weather tool", "OpenAI's tool has only 'type' and 'function' at the top, and name, "
                                             "description and parameters inside tool['function']."),
        (OPENAI_NO_DESCRIPTION, "a tool without a description",
         "description is optional in both APIs, so copy it only when it is there."),
        (OPENAI_NO_ARGS, "a tool without `parameters`",
         "OpenAI allows leaving parameters out, so use .get() and a default."),
    ]
    for tool, label, why in cases:
        out = call(fn, tool, returns=dict, want="a dict (the Anthropic tool definition)",
                   raises={KeyError: f"{label} made your function raise KeyError {{exc}}; {why}"})
        function = tool["function"]
        schema = out.get("input_schema")
        if "function" in out or out.get("type") == "function":
            raise NotYet("Anthropic tools have no {'type': 'function', 'function': {...}} wrapper: "
                         "move name, description and the schema to the top level.")
        if "parameters" in out:
            raise NotYet("rename `parameters` to `input_schema`; Anthropic does not know `parameters`.")
        if not (isinstance(schema, dict) and schema.get("type") == "object"):
            if "parameters" not in function:
                raise NotYet("a tool without `parameters` still needs an input_schema on Anthropic: "
                             "use {'type': 'object', 'properties': {}}.")
            raise NotYet("Anthropic calls the JSON Schema `input_schema`; in OpenAI's tool it is "
                         "function['parameters'].")
        if "description" in out and out["description"] is None:
            raise NotYet("for a tool without a description, leave `description` out rather than sending None.")
        _check_tool_param(out)
        if out["name"] != function["name"] or (out.get("description") or None) != function.get("description"):
            raise NotYet(f"for {label}, name and description should be the function's: {function['name']!r}"
                         + (f" and {function['description']!r}." if "description" in function else ", no description."))
        if "parameters" in function and schema != function["parameters"]:
            raise NotYet(f"for {label}, input_schema should be function['parameters'] as it is; "
                         f"got {json.dumps(schema)}.")
        if "parameters" not in function and (schema.get("properties") or schema.get("required")):
            raise NotYet(f"{label} takes no arguments, so its input_schema has no properties; "
                         f"got {json.dumps(schema)}.")
    return "that dict can go straight into messages.create(tools=[...])."


@exercise("05.2", title="every tool call in a response",
          idea="Tell the two response types apart first; then each has its own place for the calls, and only "
               "one of them gives arguments as a string.",
          hint="Tell the providers apart with hasattr(response, 'choices'). OpenAI: "
               "response.choices[0].message.tool_calls is None or a list; each call has .function.name and "
               ".function.arguments (a JSON string: json.loads it). Anthropic: loop over response.content and keep "
               "blocks with block.type == 'tool_use'; each has .name and .input (already a dict).")
def _check_extract(fn: Any) -> str:
    recorded = _recorded()
    for key, label in (("openai_parallel", "OpenAI"), ("anthropic_parallel", "Anthropic")):
        response, raw = recorded[key]
        out = list(call(fn, response, want="a list of (name, arguments) pairs"))
        expected = [(name, args) for _, name, args in _expected_calls(raw)]
        if len(out) != len(expected):
            extra = " (did you keep the text block too?)" if label == "Anthropic" and len(out) > len(expected) else ""
            raise NotYet(f"the recorded {label} parallel response has {len(expected)} tool calls; "
                         f"you returned {len(out)} items{extra}.")
        for got, pair in zip(out, expected):
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise NotYet(f"each item should be a (name, arguments) pair; got {got!r}.")
            if isinstance(got[1], str):
                raise NotYet(f"{label}: arguments should be a dict, not the JSON string {got[1]!r}; parse it with "
                             "json.loads.")
            compare(tuple(got), pair, otherwise=f"{label}: expected {pair!r}, got {tuple(got)!r}.")
    from anthropic.types import Message

    raw = recorded["anthropic_parallel"][1]  # the same reply without its leading text: Claude may call tools at once
    calls_only = Message.model_validate({**raw, "content": [b for b in raw["content"] if b["type"] == "tool_use"]})
    out = list(call(fn, calls_only, want="a list of (name, arguments) pairs"))
    compare(out, [(name, args) for _, name, args in _expected_calls(raw)],
            otherwise=f"on the same Anthropic reply without its leading text block you returned {len(out)} of its "
                      f"{len(calls_only.content)} tool calls: find the tool_use blocks by block.type, not by position.")
    for key, label, why in (("openai_text", "OpenAI", "message.tool_calls is None there, not []: use `or []`."),
                            ("anthropic_text", "Anthropic", "it holds only text blocks.")):
        out = call(fn, recorded[key][0], want="[] for a response without tool calls", raises={
            TypeError: f"on {an(label)} response with no tool calls your function raised TypeError ({{exc}}); {why}"})
        if list(out):
            raise NotYet(f"on {an(label)} response with no tool calls, return [] (you returned {out!r}); {why}")
    return "works on both providers' recorded responses, including text-only ones."


def _carries(content: Any, text: str) -> bool:
    """Whether a tool result's content is `text`: the string, or a list of one text block of it (both SDKs take it)."""
    return content == text or content == [{"type": "text", "text": text}]


@exercise("05.3", title="tool-result messages for both providers",
          idea="Each result must say which call it answers. The providers differ in how many messages carry the "
               "results, and in the role of that message.",
          hint="OpenAI: for each call in response.choices[0].message.tool_calls, one "
               "{'role': 'tool', 'tool_call_id': call.id, 'content': results[call.id]}. Anthropic: a list with ONE "
               "{'role': 'user', 'content': [...]} whose content has a "
               "{'type': 'tool_result', 'tool_use_id': block.id, 'content': results[block.id]} for every tool_use "
               "block.")
def _check_results(fn: Any) -> str:
    recorded = _recorded()
    for key, label in (("openai_parallel", "OpenAI"), ("anthropic_parallel", "Anthropic")):
        response, raw = recorded[key]
        ids = [call_id for call_id, _, _ in _expected_calls(raw)]
        results = {i: json.dumps({"result for": i}) for i in ids}
        out = call(fn, response, results, returns=list, want="a list of messages to append")
        if not all(isinstance(m, dict) for m in out):
            raise NotYet(f"{label}: every message should be a plain dict.")
        if label == "OpenAI":
            if len(out) != len(ids):
                raise NotYet(f"OpenAI needs one message per tool call: {len(ids)} calls, you returned "
                             f"{len(out)} messages.")
            for msg, call_id in zip(out, ids):
                if msg.get("role") != "tool":
                    raise NotYet(f"OpenAI tool results have role 'tool', not {msg.get('role')!r}.")
                if msg.get("tool_call_id") != call_id:
                    raise NotYet("each tool message needs the tool_call_id of the call it answers "
                                 f"(expected {call_id}, got {msg.get('tool_call_id')!r}).")
                if not _carries(msg.get("content"), results[call_id]):
                    raise NotYet(f"the content of the answer to {call_id} should be results[{call_id!r}].")
            continue
        if len(out) != 1:
            raise NotYet(f"Anthropic wants ONE user message holding every tool_result; you returned "
                         f"{len(out)} messages.")
        if out[0].get("role") != "user":
            raise NotYet(f"Anthropic tool results go in a message with role 'user', not {out[0].get('role')!r}.")
        blocks = out[0].get("content")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise NotYet("the user message's content should be a list of tool_result blocks (dicts).")
        tool_results = [b for b in blocks if b.get("type") == "tool_result"]  # a text block may follow them
        got_ids = [b.get("tool_use_id") for b in tool_results]
        if sorted(map(str, got_ids)) != sorted(ids):
            missing = sorted(set(ids) - set(got_ids))
            raise NotYet("every tool_use block needs a tool_result with its tool_use_id"
                         + (f"; missing: {missing}" if missing else f"; expected {ids}, got {got_ids}") + ".")
        if any(b.get("type") != "tool_result" for b in blocks[:len(tool_results)]):
            raise NotYet("put the tool_result blocks first in the user message's content, any text of your own "
                         "after them: Anthropic wants the results first.")
        for b in tool_results:
            if not _carries(b.get("content"), results[b["tool_use_id"]]):
                raise NotYet(f"the tool_result for {b['tool_use_id']} should carry "
                             f"results[{b['tool_use_id']!r}] as content.")
    return "one tool message per call for OpenAI, one user message of tool_result blocks for Anthropic."


# A second schema, so an answer must read the schema it is given: an integer property (not every
# non-string is wrong), a string property without an enum, and a different required argument.
SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "limit": {"type": "integer", "description": "How many results"},
        "sort": {"type": "string", "enum": ["new", "top"]},
    },
    "required": ["query"],
}
_GOOD_ARGS = [(WEATHER_SCHEMA, {"city": "Tokyo"}), (WEATHER_SCHEMA, {"city": "Paris", "unit": "fahrenheit"}),
              (SEARCH_SCHEMA, {"query": "python asyncio"}),
              (SEARCH_SCHEMA, {"query": "httpx", "limit": 5, "sort": "top"})]
_BAD_ARGS = [
    (WEATHER_SCHEMA, {}, "city", "a missing required argument"),
    (WEATHER_SCHEMA, {"town": "Tokyo"}, "town", "an argument the schema does not list"),
    (WEATHER_SCHEMA, {"city": "Tokyo", "unit": "kelvin"}, "unit", "a value outside the enum"),
    (WEATHER_SCHEMA, {"city": 42}, "city", "a number where the schema says string"),
    (SEARCH_SCHEMA, {"limit": 3}, "query", "a missing required argument"),
    (SEARCH_SCHEMA, {"query": "httpx", "sort": "oldest"}, "sort", "a value outside the enum"),
    (SEARCH_SCHEMA, {"query": ["httpx", "aiohttp"]}, "query", "a list where the schema says string"),
    (SEARCH_SCHEMA, {"query": "httpx", "page": 2}, "page", "an argument the schema does not list"),
]


def _names(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


@exercise("05.4", title="check arguments against the schema",
          idea="Everything you need is in the schema you are given: its 'required' list, its 'properties', and "
               "each property's 'enum' and 'type'. Read those, don't hard-code the weather tool.",
          hint="Walk the schema: for each name in schema.get('required', []) that is not in arguments, report it; "
               "for each argument not in schema['properties'], report it; for each argument whose property has an "
               "'enum', check the value is in it; where the property says 'type': 'string', check "
               "isinstance(value, str). Put the argument's name in every message, e.g. "
               "f\"missing required argument {name!r}\".")
def _check_validation(fn: Any) -> str:
    want = "a list of problems: [] when the arguments are fine"
    kinds = (list, tuple, set, Iterator)  # not a str: its characters are no list of problems
    for schema, args in _GOOD_ARGS:
        out = list(call(fn, schema, args, want=want, returns=kinds))
        if out:
            raise NotYet(f"{args} fits its schema (properties {sorted(schema['properties'])}), but you reported {out}."
                         + (" An integer property may hold a number: check the type only where it says 'string'."
                            if "limit" in args else "")
                         + (" Read the names from the `schema` you are given: it is not always WEATHER_SCHEMA."
                            if any("city" in str(p) for p in out) and schema is SEARCH_SCHEMA else ""))
    for schema, args, name, what in _BAD_ARGS:
        out = [str(p) for p in call(fn, schema, args, want=want, returns=kinds)]
        if not out:
            raise NotYet(f"{args} has {what} ({name!r}), but you reported no problem.")
        if not any(_names(p, name) for p in out):
            raise NotYet(f"for {args} ({what}), name the argument {name!r} in the problem text; you returned {out}.")
        fine = set(schema["properties"]) - set(args) - {name}
        if "does not list" not in what and fine and any(all(_names(p, n) for n in schema["properties"]) for p in out):
            raise NotYet(f"for {args} ({what}) your problem text names every property of the schema: say what is "
                         f"wrong with {name!r} alone, e.g. f\"missing required argument {{name!r}}\"; you returned "
                         f"{out[0][:100]!r}.")
    return "plug it into run_tool to refuse bad calls before they reach your function."
