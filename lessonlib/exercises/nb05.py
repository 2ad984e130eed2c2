"""Checks for notebook 05_tool_use.

05.2 and 05.3 run the learner's function on real response objects: the notebook's own recorded
parallel-call responses, read from its cassette and parsed with the SDKs' response types (no call is
made). The expected answers are computed from the raw JSON, so a re-recorded cassette still works.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from lessonlib.exercises import NotYet, exercise

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


# ---- recorded responses -------------------------------------------------------------------------

def _cassette_path() -> Path:
    from lessonlib.config import CASSETTE_DIR

    return Path(os.environ.get("LESSON_CASSETTE_DIR") or CASSETTE_DIR) / "05_tool_use.yaml"


def _recorded() -> dict[str, Any]:
    """Raw JSON bodies from the cassette: a parallel-call and a text-only response per provider."""
    from lessonlib.cassette import Cassette

    found: dict[str, Any] = {}
    for item in Cassette.load(_cassette_path()).interactions:
        if item.response["status"]["code"] != 200 or not isinstance(item.body, dict) or item.body.get("stream"):
            continue
        try:
            body = json.loads(item.response["body"]["string"])
        except ValueError:
            continue
        if "choices" in body:
            calls = body["choices"][0]["message"].get("tool_calls") or []
            provider = "openai"
        elif body.get("type") == "message":
            calls = [b for b in body["content"] if b["type"] == "tool_use"]
            provider = "anthropic"
        else:
            continue
        if len(calls) >= 2:
            found.setdefault(f"{provider}_parallel", body)
        elif not calls:
            found.setdefault(f"{provider}_text", body)
    missing = {"openai_parallel", "anthropic_parallel", "openai_text", "anthropic_text"} - set(found)
    if missing:
        raise NotYet(f"the cassette {_cassette_path().name} lacks responses this check needs ({sorted(missing)}); "
                     "restore it with git.")
    return found


def _responses() -> dict[str, Any]:
    from anthropic.types import Message
    from openai.types.chat import ChatCompletion

    raw = _recorded()
    out = {}
    for key, body in raw.items():
        out[key] = (ChatCompletion if key.startswith("openai") else Message).model_validate(body)
    out["raw"] = raw
    return out


def _expected_calls(body: dict[str, Any]) -> list[tuple[str, dict]]:
    if "choices" in body:
        return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in body["choices"][0]["message"].get("tool_calls") or []]
    return [(b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"]


def _expected_ids(body: dict[str, Any]) -> list[str]:
    if "choices" in body:
        return [c["id"] for c in body["choices"][0]["message"].get("tool_calls") or []]
    return [b["id"] for b in body["content"] if b["type"] == "tool_use"]


# ---- 05.1 ---------------------------------------------------------------------------------------

@exercise(
    "05.1",
    title="OpenAI tool schema to Anthropic",
    hint=("Anthropic wants name, description and input_schema at the top level, with no 'type': 'function' "
          "wrapper. input_schema is OpenAI's function['parameters']; when parameters is missing, use "
          "{'type': 'object', 'properties': {}}. Copy only description when there is one. Build a new dict "
          "rather than editing the one you were given."),
)
def _check_tool_conversion(fn: Any) -> str:
    given = copy.deepcopy(OPENAI_WEATHER)
    out = fn(given)
    if not isinstance(out, dict):
        raise NotYet(f"return a dict (the Anthropic tool definition); your function returned {type(out).__name__}.")
    if given != OPENAI_WEATHER:
        raise NotYet("your function changed the OpenAI tool it was given; build a new dict instead.")
    if "function" in out or out.get("type") == "function":
        raise NotYet("Anthropic tools have no {'type': 'function', 'function': {...}} wrapper: "
                     "move name, description and the schema to the top level.")
    if "input_schema" not in out:
        raise NotYet("Anthropic calls the JSON Schema `input_schema`; in OpenAI's tool it is function['parameters'].")
    if "parameters" in out:
        raise NotYet("rename `parameters` to `input_schema`; Anthropic does not know `parameters`.")
    expected = {"name": "get_weather", "description": "Get current weather for a city", "input_schema": WEATHER_SCHEMA}
    if out != expected:
        raise NotYet(f"for the weather tool, expected exactly {json.dumps(expected)}, "
                     f"got {json.dumps(out, default=str)}.")
    try:
        no_desc = fn(copy.deepcopy(OPENAI_NO_DESCRIPTION))
    except KeyError as exc:
        raise NotYet(f"a tool without a description made your function raise KeyError {exc}; "
                     "description is optional in both APIs, so copy it only when it is there.") from None
    if not isinstance(no_desc, dict) or "description" in no_desc and no_desc["description"] in (None, ""):
        raise NotYet("for a tool without a description, leave `description` out rather than sending None or ''.")
    if no_desc.get("input_schema") != OPENAI_NO_DESCRIPTION["function"]["parameters"]:
        raise NotYet("the tool without a description lost its schema; input_schema should still be its parameters.")
    try:
        no_args = fn(copy.deepcopy(OPENAI_NO_ARGS))
    except KeyError as exc:
        raise NotYet(f"a tool without `parameters` made your function raise KeyError {exc}; "
                     "OpenAI allows leaving parameters out, so use .get() and a default.") from None
    if not isinstance(no_args, dict) or no_args.get("input_schema") != {"type": "object", "properties": {}}:
        raise NotYet("a tool without `parameters` still needs an input_schema on Anthropic: "
                     "use {'type': 'object', 'properties': {}}.")
    return "that dict can go straight into messages.create(tools=[...])."


# ---- 05.2 ---------------------------------------------------------------------------------------

@exercise(
    "05.2",
    title="every tool call in a response",
    hint=("Tell the providers apart with hasattr(response, 'choices'). OpenAI: "
          "response.choices[0].message.tool_calls is None or a list; each call has .function.name and "
          ".function.arguments (a JSON string: json.loads it). Anthropic: loop over response.content and keep "
          "blocks with block.type == 'tool_use'; each has .name and .input (already a dict)."),
)
def _check_extract(fn: Any) -> str:
    responses = _responses()
    for key, label in (("openai_parallel", "OpenAI"), ("anthropic_parallel", "Anthropic")):
        out = fn(responses[key])
        expected = _expected_calls(responses["raw"][key])
        if out is None:
            raise NotYet(f"on the {label} parallel response your function returned None; "
                         "return a list of (name, arguments).")
        out = list(out)
        if len(out) != len(expected):
            extra = " (did you keep the text block too?)" if label == "Anthropic" and len(out) > len(expected) else ""
            raise NotYet(f"the recorded {label} parallel response has {len(expected)} tool calls; "
                         f"you returned {len(out)} items{extra}.")
        for got, want in zip(out, expected):
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise NotYet(f"each item should be a (name, arguments) pair; got {got!r}.")
            if isinstance(got[1], str):
                raise NotYet(f"{label}: arguments should be a dict, not the JSON string {got[1]!r}; "
                             "parse it with json.loads.")
            if (got[0], got[1]) != want:
                raise NotYet(f"{label}: expected {want!r}, got {tuple(got)!r}.")
    for key, label in (("openai_text", "OpenAI"), ("anthropic_text", "Anthropic")):
        try:
            out = fn(responses[key])
        except TypeError as exc:
            raise NotYet(f"on a {label} response with no tool calls your function raised TypeError ({exc}); "
                         + ("message.tool_calls is None there, not []: use `or []`." if label == "OpenAI"
                            else "it holds only text blocks.")) from None
        if out is None or list(out) != []:
            raise NotYet(f"on a {label} response with no tool calls, return [] (you returned {out!r}); "
                         + ("message.tool_calls is None there." if label == "OpenAI" else "it holds only text blocks."))
    return "works on both providers' recorded responses, including text-only ones."


# ---- 05.3 ---------------------------------------------------------------------------------------

@exercise(
    "05.3",
    title="tool-result messages for both providers",
    hint=("OpenAI: for each call in response.choices[0].message.tool_calls, one "
          "{'role': 'tool', 'tool_call_id': call.id, 'content': results[call.id]}. Anthropic: a list with ONE "
          "{'role': 'user', 'content': [...]} whose content has a {'type': 'tool_result', 'tool_use_id': block.id, "
          "'content': results[block.id]} for every tool_use block."),
)
def _check_results(fn: Any) -> str:
    responses = _responses()
    for key, label in (("openai_parallel", "OpenAI"), ("anthropic_parallel", "Anthropic")):
        ids = _expected_ids(responses["raw"][key])
        results = {i: json.dumps({"result for": i}) for i in ids}
        out = fn(responses[key], dict(results))
        if not isinstance(out, list):
            raise NotYet(f"return a list of messages to append; for {label} your function returned "
                         f"{type(out).__name__}.")
        if not all(isinstance(m, dict) for m in out):
            raise NotYet(f"{label}: every message should be a plain dict.")
        if label == "OpenAI":
            if len(out) != len(ids):
                raise NotYet(f"OpenAI needs one message per tool call: {len(ids)} calls, "
                             f"you returned {len(out)} messages.")
            for msg, call_id in zip(out, ids):
                if msg.get("role") != "tool":
                    raise NotYet(f"OpenAI tool results have role 'tool', not {msg.get('role')!r}.")
                if msg.get("tool_call_id") != call_id:
                    raise NotYet("each tool message needs the tool_call_id of the call it answers "
                                 f"(expected {call_id}, got {msg.get('tool_call_id')!r}).")
                if msg.get("content") != results[call_id]:
                    raise NotYet(f"the content of the answer to {call_id} should be results[{call_id!r}].")
        else:
            if len(out) != 1:
                raise NotYet("Anthropic wants ONE user message holding every tool_result; "
                             f"you returned {len(out)} messages.")
            msg = out[0]
            if msg.get("role") != "user":
                raise NotYet(f"Anthropic tool results go in a message with role 'user', not {msg.get('role')!r}.")
            blocks = msg.get("content")
            if not isinstance(blocks, list):
                raise NotYet("the user message's content should be a list of tool_result blocks.")
            got_ids = [b.get("tool_use_id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
            if sorted(got_ids) != sorted(ids):
                missing = sorted(set(ids) - set(got_ids))
                raise NotYet("every tool_use block needs a tool_result with its tool_use_id"
                             + (f"; missing: {missing}" if missing else f"; expected {ids}, got {got_ids}") + ".")
            for b in blocks:
                if b.get("content") != results[b["tool_use_id"]]:
                    raise NotYet(f"the tool_result for {b['tool_use_id']} should carry "
                                 f"results[{b['tool_use_id']!r}] as content.")
    return "one tool message per call for OpenAI, one user message of tool_result blocks for Anthropic."


# ---- 05.4 ---------------------------------------------------------------------------------------

@exercise(
    "05.4",
    title="check arguments against the schema",
    hint=("Walk the schema: for each name in schema.get('required', []) that is not in arguments, report it; "
          "for each argument not in schema['properties'], report it; for each argument whose property has an "
          "'enum', check the value is in it; where the property says 'type': 'string', check isinstance(value, str). "
          "Put the argument's name in every message, e.g. f\"missing required argument {name!r}\"."),
)
def _check_validation(fn: Any) -> str:
    good = [{"city": "Tokyo"}, {"city": "Paris", "unit": "fahrenheit"}]
    for args in good:
        out = fn(copy.deepcopy(WEATHER_SCHEMA), dict(args))
        if out is None:
            raise NotYet("return a list of problems: [] when the arguments are fine.")
        if list(out):
            raise NotYet(f"{args} fits the schema, but you reported {list(out)}.")
    bad = [
        ({}, "city", "a missing required argument"),
        ({"town": "Tokyo"}, "town", "an argument the schema does not list"),
        ({"city": "Tokyo", "unit": "kelvin"}, "unit", "a value outside the enum"),
        ({"city": 42}, "city", "a number where the schema says string"),
    ]
    for args, name, what in bad:
        out = fn(copy.deepcopy(WEATHER_SCHEMA), dict(args))
        if not out:
            raise NotYet(f"{args} has {what}, but you reported no problem.")
        if not any(name in str(p) for p in out):
            raise NotYet(f"for {args} ({what}), name the argument {name!r} in the problem text; "
                         f"you returned {list(out)}.")
    return "plug it into run_tool to refuse bad calls before they reach your function."
