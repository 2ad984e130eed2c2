"""Solutions to the exercises of notebook 05_tool_use."""

import json


def openai_tool_to_anthropic(tool: dict) -> dict:
    function = tool["function"]
    converted = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def tool_calls_in(response) -> list[tuple[str, dict]]:
    if hasattr(response, "choices"):  # OpenAI ChatCompletion
        calls = response.choices[0].message.tool_calls or []
        return [(call.function.name, json.loads(call.function.arguments)) for call in calls if call.type == "function"]
    return [(block.name, block.input) for block in response.content if block.type == "tool_use"]  # Anthropic Message


def tool_result_messages(response, results: dict[str, str]) -> list[dict]:
    if hasattr(response, "choices"):
        calls = response.choices[0].message.tool_calls or []
        return [{"role": "tool", "tool_call_id": call.id, "content": results[call.id]} for call in calls]
    blocks = [
        {"type": "tool_result", "tool_use_id": block.id, "content": results[block.id]}
        for block in response.content
        if block.type == "tool_use"
    ]
    return [{"role": "user", "content": blocks}]


def argument_problems(schema: dict, arguments: dict) -> list[str]:
    properties = schema.get("properties", {})
    problems = [f"missing required argument {name!r}" for name in schema.get("required", []) if name not in arguments]
    for name, value in arguments.items():
        spec = properties.get(name)
        if spec is None:
            problems.append(f"unknown argument {name!r}; expected one of {sorted(properties)}")
            continue
        if spec.get("type") == "string" and not isinstance(value, str):
            problems.append(f"argument {name!r} must be a string, not {type(value).__name__}")
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"argument {name!r} must be one of {spec['enum']}, not {value!r}")
    return problems


ANSWERS = {
    "05.1": openai_tool_to_anthropic,
    "05.2": tool_calls_in,
    "05.3": tool_result_messages,
    "05.4": argument_problems,
}
