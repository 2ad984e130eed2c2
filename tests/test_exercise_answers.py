"""Every checker against wrong answers (one per known mistake, with the nudge it must print) and against
correct answers written differently from solutions/. The stubs and the solutions are in test_exercises.py.

Each answer is written as a learner would write it in the notebook's stub cell.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal

import openai
import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from lessonlib.exercises import EXERCISES, _load_all, run
from lessonlib.tokens import count_message, count_messages, count_text

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


class Developer(BaseModel):  # the lesson's model that 06.2 subclasses
    name: str
    age: int
    skills: list[str]
    years_experience: int


# ---- wrong answers: (exercise, answer, a piece of the nudge it must get) -------------------------

def _openai_client_without_base_url(base_url):
    return openai.OpenAI(api_key="not-needed")


def _client_from_environment(base_url):
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "not-needed"
    return openai.OpenAI()


def _client_from_environment_positional(base_url):
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "not-needed"
    return openai.OpenAI(base_url)  # TypeError: OpenAI takes keyword arguments only


def _cost_rounded(usage, input_per_m, output_per_m):
    return round(usage.prompt_tokens * input_per_m / 1e6 + usage.completion_tokens * output_per_m / 1e6, 6)


def _split_joins_with_newline(messages):
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    return "\n".join(system) or None, [m for m in messages if m["role"] not in ("system", "developer")]


def _split_empty_string(messages):
    return "\n\n".join(m["content"] for m in messages if m["role"] in ("system", "developer")), \
        [m for m in messages if m["role"] not in ("system", "developer")]


def _collect_str_none(chunks):
    return "".join(str(c.choices[0].delta.content) for c in chunks if c.choices)


def _collect_adds_none(chunks):
    text = ""
    for c in chunks:
        if c.choices:
            text += c.choices[0].delta.content
    return text


def _tool_input_schema_none(tool):
    f = tool["function"]
    out = {"name": f["name"], "input_schema": f.get("parameters")}
    if "description" in f:
        out["description"] = f["description"]
    return out


def _tool_pops(tool):
    f = tool["function"]
    out = {"name": f.pop("name"), "input_schema": f.get("parameters") or {"type": "object"}}
    if "description" in f:
        out["description"] = f["description"]
    return out


def _tool_extra_key(tool):
    f = tool["function"]
    out = {"name": f["name"], "input_schema": f.get("parameters") or {"type": "object"}, "function_type": "function"}
    if "description" in f:
        out["description"] = f["description"]
    return out


def _calls_after_the_text(response):  # Claude's reply has its text first, so the calls are content[1:]
    if hasattr(response, "choices"):
        return [(c.function.name, json.loads(c.function.arguments)) for c in response.choices[0].message.tool_calls or []]
    return [(b.name, b.input) for b in response.content[1:]]


def _calls_as_dicts(response):
    if hasattr(response, "choices"):
        return [{"name": c.function.name} for c in response.choices[0].message.tool_calls or []]
    return [{"name": b.name} for b in response.content if b.type == "tool_use"]


def _calls_keeping_text(response):
    if hasattr(response, "choices"):
        return [(c.function.name, json.loads(c.function.arguments)) for c in response.choices[0].message.tool_calls or []]
    return [(getattr(b, "name", "text"), getattr(b, "input", {})) for b in response.content]


def _results_user_role(response, results):
    if hasattr(response, "choices"):
        return [{"role": "user", "tool_call_id": c.id, "content": results[c.id]} for c in response.choices[0].message.tool_calls]
    return []


def _results_assistant_role(response, results):
    if hasattr(response, "choices"):
        return [{"role": "tool", "tool_call_id": c.id, "content": results[c.id]} for c in response.choices[0].message.tool_calls]
    blocks = [{"type": "tool_result", "tool_use_id": b.id, "content": results[b.id]} for b in response.content
              if b.type == "tool_use"]
    return [{"role": "assistant", "content": blocks}]


def _results_text_first(response, results):  # the API refuses text before the tool results
    if hasattr(response, "choices"):
        return [{"role": "tool", "tool_call_id": c.id, "content": results[c.id]} for c in response.choices[0].message.tool_calls]
    blocks = [{"type": "tool_result", "tool_use_id": b.id, "content": results[b.id]} for b in response.content
              if b.type == "tool_use"]
    return [{"role": "user", "content": [{"type": "text", "text": "Here are the results:"}, *blocks]}]


def _problems_echo_schema(schema, arguments):  # issue 17: one message that echoes the whole schema
    props = schema.get("properties", {})
    ok = (all(r in arguments for r in schema.get("required", [])) and all(a in props for a in arguments)
          and all(v in props[a].get("enum", [v]) for a, v in arguments.items())
          and all(isinstance(v, str) for a, v in arguments.items() if props[a].get("type") == "string"))
    return [] if ok else [f"arguments {arguments} do not match the schema {schema}"]


def _problems_hard_coded_city(schema, arguments):  # issue 17: ignores the schema argument
    problems = [] if "city" in arguments else ["missing required argument 'city'"]
    for name, value in arguments.items():
        if name not in ("city", "unit"):
            problems.append(f"unknown argument {name!r}")
        elif name == "unit" and value not in ("celsius", "fahrenheit"):
            problems.append(f"argument 'unit' must be celsius or fahrenheit, not {value!r}")
        elif not isinstance(value, str):
            problems.append(f"argument {name!r} must be a string")
    return problems


def _problems_every_non_string(schema, arguments):  # issue 17: flags every non-string value
    props = schema.get("properties", {})
    problems = [f"missing required argument {n!r}" for n in schema.get("required", []) if n not in arguments]
    for name, value in arguments.items():
        if name not in props:
            problems.append(f"unknown argument {name!r}")
        elif not isinstance(value, str):
            problems.append(f"argument {name!r} must be a string")
        elif "enum" in props[name] and value not in props[name]["enum"]:
            problems.append(f"argument {name!r} must be one of {props[name]['enum']}")
    return problems


def _problems_without_names(schema, arguments):
    return ["these arguments do not fit"] if _problems_strict(schema, arguments) else []


class _SalaryOk(BaseModel):
    min: int
    max: int
    currency: str


class _NoLiteral(BaseModel):
    title: str
    level: str
    remote: bool
    salary: _SalaryOk
    skills: list[str]


class _WithDefault(BaseModel):
    title: str
    level: Literal["junior", "mid", "senior"]
    remote: bool = False
    salary: _SalaryOk
    skills: list[str]


class _FloatSalary(BaseModel):
    min: float
    max: float
    currency: str


class _FloatPosting(BaseModel):
    title: str
    level: Literal["junior", "mid", "senior"]
    remote: bool
    salary: _FloatSalary
    skills: list[str]


class _SalaryWithDefault(BaseModel):  # a default inside Salary passed: only the top-level keys were tried without
    min: int
    max: int
    currency: str = "USD"


class _DefaultCurrency(BaseModel):
    title: str
    level: Literal["junior", "mid", "senior"]
    remote: bool
    salary: _SalaryWithDefault
    skills: list[str]


class _Level(str, Enum):
    junior = "junior"
    mid = "mid"
    senior = "senior"


class _StrictWithDefault(BaseModel):  # strict mode: a Python str is no _Level, so every dict was refused
    model_config = ConfigDict(strict=True)
    title: str
    level: _Level
    remote: bool = False
    salary: _SalaryOk
    skills: list[str]


class _ForgetsReturn(Developer):  # issue 17: a validator that forgets `return`
    @field_validator("skills")
    @classmethod
    def check(cls, skills):
        if not skills:
            raise ValueError("skills must not be empty")
        for skill in skills:
            if skill != skill.lower():
                raise ValueError(f"skill {skill!r} must be lowercase")


class _ReturnsTrue(Developer):  # returns True for "valid", as some validation libraries expect
    @field_validator("skills")
    @classmethod
    def check(cls, skills):
        if not skills:
            raise ValueError("skills must not be empty")
        for skill in skills:
            if skill != skill.lower():
                raise ValueError(f"skill {skill!r} must be lowercase")
        return True


class _FirstLetterOnly(Developer):  # issue 17: `if s[0].isupper()`
    @field_validator("skills")
    @classmethod
    def check(cls, skills):
        if not skills:
            raise ValueError("skills must not be empty")
        for s in skills:
            if s[0].isupper():
                raise ValueError(f"skill {s!r} must be lowercase")
        return skills


class _AllowsEmpty(Developer):
    @field_validator("skills")
    @classmethod
    def check(cls, skills):
        for s in skills:
            if s != s.lower():
                raise ValueError(f"skill {s!r} must be lowercase")
        return skills


def _parse_without_catching(completion):
    try:
        data = json.loads(completion.choices[0].message.content)
    except (json.JSONDecodeError, TypeError):
        return None
    return data


def _parse_requires_brace(completion):
    content = completion.choices[0].message.content
    if completion.choices[0].finish_reason != "stop" or not content or not content.startswith("{"):
        return None
    return json.loads(content)


def _parse_dict_access(completion):  # a crash on the complete answer was told "It should return None instead"
    choice = completion.choices[0]
    if choice["finish_reason"] != "stop":
        return None
    try:
        data = json.loads(choice["message"]["content"])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _parse_trusts_finished_json(completion):  # checks finish_reason, but json.loads can still raise
    choice = completion.choices[0]
    if choice.finish_reason != "stop" or choice.message.content is None:
        return None
    data = json.loads(choice.message.content)
    return data if isinstance(data, dict) else None


def _chat_user_only(client, model, history, user_message):
    history.append({"role": "user", "content": user_message})
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history)
    return response.choices[0].message.content


def _chat_sdk_message(client, model, history, user_message):
    history.append({"role": "user", "content": user_message})
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history)
    history.append(response.choices[0].message)
    return response.choices[0].message.content


def _chat_model_dump(client, model, history, user_message):  # a plain dict, but with refusal, annotations, ...
    history.append({"role": "user", "content": user_message})
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history)
    history.append(response.choices[0].message.model_dump())
    return response.choices[0].message.content


def _chat_other_cap(client, model, history, user_message):
    history.append({"role": "user", "content": user_message})
    response = client.chat.completions.create(model=model, max_completion_tokens=100, messages=history)
    text = response.choices[0].message.content
    history.append({"role": "assistant", "content": text})
    return text


def _chat_returns_response(client, model, history, user_message):
    history.append({"role": "user", "content": user_message})
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history)
    history.append({"role": "assistant", "content": response.choices[0].message.content})
    return response


def _count_no_tool_calls(messages, model="gpt-4o"):
    total = 0
    for msg in messages:
        total += 4
        content = msg.get("content")
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, list):
            total += sum(count_text(p["text"], model) for p in content if p.get("type") == "text")
    return total


def _count_list_crashes(messages, model="gpt-4o"):
    total = 0
    for msg in messages:
        total += 4
        if msg.get("content") is not None:
            total += count_text(msg["content"], model)
        for c in msg.get("tool_calls") or []:
            total += count_text(c["function"]["name"], model) + count_text(c["function"]["arguments"], model)
    return total


def _count_calls_as_objects(messages, model="gpt-4o"):  # was told to handle None content, which it did
    total = 0
    for msg in messages:
        total += 4
        content = msg.get("content")
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, list):
            total += sum(count_text(p["text"], model) for p in content if p.get("type") == "text")
        for c in msg.get("tool_calls") or []:
            total += count_text(c.function.name, model) + count_text(c.function.arguments, model)
    return total


def _count_image_as_text(messages, model="gpt-4o"):
    total = 0
    for msg in messages:
        total += 4
        content = msg.get("content")
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, list):
            total += sum(count_text(json.dumps(p), model) for p in content)
        for c in msg.get("tool_calls") or []:
            total += count_text(c["function"]["name"], model) + count_text(c["function"]["arguments"], model)
    return total


def _walk_back(messages, max_tokens):
    system = [m for m in messages if m["role"] == "system"]
    kept, used = [], count_messages(system)
    for msg in reversed([m for m in messages if m["role"] != "system"]):
        if used + count_message(msg) > max_tokens:
            break
        kept.insert(0, msg)
        used += count_message(msg)
    return system, kept


def _trim_drops_tools_only(messages, max_tokens):
    system, kept = _walk_back(messages, max_tokens)
    while kept and kept[0]["role"] == "tool":
        kept.pop(0)
    return system + kept


def _trim_last_user_only(messages, max_tokens):
    system, kept = _walk_back(messages, max_tokens)
    users = [i for i, m in enumerate(kept) if m["role"] == "user"]
    return system + (kept[users[-1]:] if users else [])


def _trim_no_system(messages, max_tokens):
    system, kept = _walk_back(messages, max_tokens)
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


def _trim_ignores_budget(messages, max_tokens):
    return messages


def _blocks(data, media_type, *, decode=True, prefix=False, label=None):
    b64 = base64.standard_b64encode(data)
    b64 = b64.decode("ascii") if decode else b64
    url = f"data:{label or media_type};base64,{b64 if decode else b64.decode()}"
    return ({"type": "image_url", "image_url": {"url": url}},
            {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": url if prefix else b64}})


def _sniff_jpeg_fallback(data):  # issue 17: unknown bytes fall back to JPEG
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def _sniff_riff_only(data):
    for magic, kind in ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
                        (b"RIFF", "image/webp")):
        if data.startswith(magic):
            return kind
    return None


def _sniff_str_magic(data):  # a PNG that raised was told "Return None for anything it does not recognise"
    return "image/png" if data.startswith("\x89PNG") else None


def _sniff_by_index(data):  # data[0] raises IndexError on an empty file
    if data[0] == 0x89:
        return "image/png"
    if data[0] == 0xFF:
        return "image/jpeg"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def _sniff_format_names(data):
    return {b"\x89P": "png", b"\xff\xd8": "jpeg"}.get(data[:2])


def _fit_enlarges(width, height, max_side):
    scale = max_side / max(width, height)
    return round(width * scale), round(height * scale)


def _fit_zero_side(width, height, max_side):
    scale = min(1, max_side / max(width, height))
    return int(width * scale), int(height * scale)


def _retry_status_only(err):
    return err.status_code in (408, 409, 429) or err.status_code >= 500


def _retry_headers_typo(err):  # err.headers on a 429 was told "check isinstance(err, APIConnectionError) first"
    import anthropic

    if isinstance(err, (openai.APIConnectionError, anthropic.APIConnectionError)):
        return True
    if isinstance(err, (openai.APIStatusError, anthropic.APIStatusError)):
        return err.headers.get("x-should-retry") == "true" or err.status_code in (408, 409, 429) or err.status_code >= 500
    return False


def _retry_no_header(err):
    if isinstance(err, (openai.APIConnectionError,)) or type(err).__name__ in ("APIConnectionError", "APITimeoutError"):
        return True
    return hasattr(err, "status_code") and (err.status_code in (408, 409, 429) or err.status_code >= 500)


def _retry_classic(err):
    if type(err).__name__ in ("APIConnectionError", "APITimeoutError"):
        return True
    if not hasattr(err, "status_code"):
        return False
    header = err.response.headers.get("x-should-retry")
    if header in ("true", "false"):
        return header == "true"
    return err.status_code == 429 or err.status_code >= 500


def _wait_uncapped(n, retry_after=None):
    if retry_after is not None and 0 < retry_after <= 120:
        return retry_after, retry_after
    return 0.5 * 2 ** n * 0.75, 0.5 * 2 ** n


def _wait_off_by_one(n, retry_after=None):
    if retry_after is not None and 0 < retry_after <= 120:
        return retry_after, retry_after
    top = min(0.5 * 2 ** (n + 1), 8.0)
    return top * 0.75, top


def _wait_swapped(n, retry_after=None):
    low, high = _wait_alternative(n, retry_after)
    return high, low


def _wait_trusts_any_retry_after(n, retry_after=None):
    if retry_after is not None:
        return retry_after, retry_after
    return _wait_alternative(n)


def _wait_retry_after_below_cap(n, retry_after=None):  # `<`: a retry-after of exactly 120 s falls to the backoff
    if retry_after is not None and 0 < retry_after < 120:
        return retry_after, retry_after
    return _wait_alternative(n)


def _wait_wrong_jitter(n, retry_after=None):
    low, high = _wait_alternative(n, retry_after)
    return (high * 0.5, high) if retry_after is None else (low, high)



async def _gather_semaphore_per_task(coros, limit):  # issue 17: a new Semaphore inside each wrapper
    async def one(c):
        async with asyncio.Semaphore(limit):
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def _gather_tasks_first(coros, limit):  # was told only "not around the whole gather", which it was not
    sem = asyncio.Semaphore(limit)
    tasks = [asyncio.create_task(c) for c in coros]  # started here, before the semaphore

    async def one(task):
        async with sem:
            return await task

    return await asyncio.gather(*(one(t) for t in tasks))


_NOTEBOOK_SEM = asyncio.Semaphore(2)  # 10_async defines `sem = asyncio.Semaphore(2)` just above the exercise


async def _gather_notebook_semaphore(coros, limit):
    async def one(c):
        async with _NOTEBOOK_SEM:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def _gather_without_await(coros, limit):  # the checker once graded this "could not use (CancelledError)"
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return asyncio.gather(*(one(c) for c in coros))


async def _retry_without_await(call, items, attempts=2):  # once told "raised NotYet: ... use return_exceptions=True"
    return asyncio.gather(*(call(x) for x in items), return_exceptions=True)


async def _gather_around_whole_gather(coros, limit):
    sem = asyncio.Semaphore(limit)
    async with sem:
        return await asyncio.gather(*coros)



async def _retry_one_round_too_few(call, items, attempts=2):
    results = await asyncio.gather(*(call(x) for x in items), return_exceptions=True)
    for _ in range(attempts - 2):
        failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
        for i, outcome in zip(failed, await asyncio.gather(*(call(items[i]) for i in failed), return_exceptions=True)):
            results[i] = outcome
    return results


async def _retry_keeps_first_error(call, items, attempts=2):  # puts back only the successes
    results = await asyncio.gather(*(call(x) for x in items), return_exceptions=True)
    for _ in range(attempts - 1):
        failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
        for i, outcome in zip(failed, await asyncio.gather(*(call(items[i]) for i in failed), return_exceptions=True)):
            if not isinstance(outcome, Exception):
                results[i] = outcome
    return results


async def _retry_failures_as_indexes(call, items, attempts=2):  # its own TypeError was told "use return_exceptions"
    results = await asyncio.gather(*(call(x) for x in items), return_exceptions=True)
    for _ in range(attempts - 1):
        for i in [r for r in results if isinstance(r, Exception)]:  # the exceptions, not their indexes
            results[i] = (await asyncio.gather(call(items[i]), return_exceptions=True))[0]
    return results


async def _retry_one_at_a_time(call, items, attempts=2):
    results = []
    for x in items:
        for _ in range(attempts):
            try:
                results.append(await call(x))
                break
            except Exception as exc:  # noqa: BLE001
                last = exc
        else:
            results.append(last)
    return results


def _wall_time_range_of_float(n, concurrency, latency):  # its TypeError was told "concurrency None means no limit"
    if concurrency is None:
        return latency if n else 0.0
    return sum(latency for _ in range(n / concurrency))


WRONG = [
    ("01.1", lambda env: {n: env.get(n) for n in KEYS}, "contains the key itself"),
    ("01.1", lambda env: {"openai": bool(env.get(KEYS[0])), "anthropic": bool(env.get(KEYS[1]))}, "keys should be exactly"),
    ("01.1", lambda env: {n: n in env for n in KEYS}, "an empty value counts as not set"),
    ("01.1", lambda env: [bool(env.get(n)) for n in KEYS], "returned a list: return a dict of two booleans"),
    ("01.1", lambda env: {n: "set" if env.get(n) else "missing" for n in KEYS}, "True or False (a bool)"),
    ("01.1", lambda env: {n: bool(os.environ.get(n)) for n in KEYS}, "read the two names from `env`"),
    ("01.2", _openai_client_without_base_url, "pass base_url="),
    ("01.2", lambda base_url: openai.OpenAI(base_url=base_url, api_key="sk-local"), "api_key='not-needed'"),
    ("01.2", lambda base_url: base_url, "returned a str: return an openai.OpenAI client"),
    ("01.2", _client_from_environment, "changed the environment (OPENAI_API_KEY, OPENAI_BASE_URL; the check put"),
    ("02.1", lambda c: {"text": c.choices[0].message.content, "prompt_tokens": c.usage.total_tokens,
                        "completion_tokens": c.usage.completion_tokens}, "total_tokens"),
    ("02.1", lambda c: {"text": c.choices[0].message.content, "prompt_tokens": c.usage.completion_tokens,
                        "completion_tokens": c.usage.prompt_tokens}, "swapped"),
    ("02.1", lambda c: {"text": c.choices[0].message.content, "prompt_tokens": 1,
                        "completion_tokens": len(c.choices[0].message.content.split())}, "do not count words"),
    ("02.1", lambda c: {"text": c.choices[0].message, "prompt_tokens": 1, "completion_tokens": 1}, "one level deeper"),
    ("02.1", lambda c: {"text": c.choices[0].message.content}, "missing prompt_tokens, completion_tokens"),
    ("02.1", lambda c: (c.choices[0].message.content, 1, 2), "returned a tuple: return a dict"),
    ("02.2", lambda u, i, o: u.prompt_tokens * i + u.completion_tokens * o, "per million"),
    ("02.2", lambda u, i, o: (u.prompt_tokens * o + u.completion_tokens * i) / 1e6, "swapped"),
    ("02.2", lambda u, i, o: u.total_tokens * i / 1e6, "total_tokens"),
    ("02.2", lambda u, i, o: (u.prompt_tokens * i + (u.completion_tokens + u.completion_tokens_details.reasoning_tokens)
                              * o) / 1e6, "twice"),
    ("02.2", _cost_rounded, "don't round: return the full value. Expected 0.0018275, you returned 0.001828"),
    ("02.2", lambda u, i, o: f"${(u.prompt_tokens * i + u.completion_tokens * o) / 1e6:.6f}", "returned a str"),
    ("02.3", lambda s, q: [{"role": "user", "content": q}, {"role": "system", "content": s}], "the order matters"),
    ("02.3", lambda s, q: [{"role": "assistant", "content": s}, {"role": "user", "content": q}], "roles are"),
    ("02.3", lambda s, q: [{"role": "system", "content": q}, {"role": "user", "content": s}], "put the arguments in"),
    ("02.3", lambda s, q: [{"role": "system", "content": s, "id": 1}, {"role": "user", "content": q}], "unexpected keys"),
    ("02.3", lambda s, q: [{"role": "user", "content": s + "\n" + q}], "expected 2 messages"),
    ("02.3", lambda s, q: ({"role": "system", "content": s}, {"role": "user", "content": q}), "returned a tuple"),
    ("02.4", lambda c: not (c.choices[0].message.content or "").rstrip().endswith("."), "finish_reason"),
    ("02.4", lambda c: c.choices[0].finish_reason == "length" and bool(c.choices[0].message.content), "reasoning"),
    ("02.4", lambda c: c.choices[0].finish_reason, "returned a str: return True or False"),
    ("02.4", lambda c: c.usage.completion_tokens >= 20, "the token count does not say whether the cap was hit"),
    ("03.1", lambda content: "".join(b.text for b in content), "block.type"),
    ("03.1", lambda content: "\n".join(b.text for b in content if b.type == "text"), "join them with ''"),
    ("03.1", lambda content: [b.text for b in content if b.type == "text"], "one string"),
    ("03.1", lambda content: "".join(getattr(b, "text", None) or getattr(b, "thinking", "") for b in content),
     "the thinking block's text"),
    ("03.1", lambda content: "".join(b.text if b.type == "text" else str(getattr(b, "input", "")) for b in content),
     "tool_use content"),
    ("03.1", lambda content: "".join(b.text for b in content.content if b.type == "text"),
     "your code raised AttributeError: 'list' object has no attribute 'content'"),
    ("03.2", lambda ms: (ms.pop(0)["content"], ms), "changed the list"),
    ("03.2", lambda ms: ("\n\n".join(m["content"] for m in ms if m["role"] == "system") or None,
                         [m for m in ms if m["role"] != "system"]), "developer"),
    ("03.2", _split_joins_with_newline, "join their texts with a blank line"),
    ("03.2", _split_empty_string, "return None as the system text"),
    ("03.2", lambda ms: [m for m in ms if m["role"] != "system"], "return a pair (system, messages)"),
    ("03.2", lambda ms: (ms[0]["content"], ms[1:]), "collect every system message"),
    ("03.2", lambda ms: (ms[0]["content"], [m for m in ms if m["role"] == "user"][-1:]), "for a multi-turn chat"),
    ("03.2", lambda ms: ("\n\n".join(m["content"] for m in ms if m["role"] in ("system", "developer")) or None,
                         [m["content"] for m in ms if m["role"] not in ("system", "developer")]),
     "keep the other messages as the dicts they are"),
    ("03.3", lambda u: u.input_tokens + u.output_tokens, "does not include"),
    ("03.3", lambda u: u.input_tokens + u.output_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens,
     "None"),
    ("03.3", lambda u: u.input_tokens + u.output_tokens + (u.cache_read_input_tokens or 0)
     + (u.cache_creation_input_tokens or 0) + u.cache_creation.ephemeral_5m_input_tokens, "twice"),
    ("03.3", lambda u: str(u.input_tokens + u.output_tokens), "returned a str: return the total as an int"),
    ("03.3", lambda u: u["input_tokens"] + u["output_tokens"], "your code raised TypeError: 'Usage' object is not"),
    ("04.1", lambda chunks: "".join(c.choices[0].delta.content or "" for c in chunks), "choices == []"),
    ("04.1", _collect_adds_none, "`delta.content` is None on some chunks"),
    ("04.1", _collect_str_none, "contains 'None'"),
    ("04.1", lambda chunks: "", "you returned an empty string"),
    ("04.1", lambda chunks: [c.choices[0].delta.content for c in chunks if c.choices], "returned a list"),
    ("04.1", lambda chunks: "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c["choices"]),
     "your code raised TypeError: 'ChatCompletionChunk' object is not subscriptable"),
    ("04.2", lambda arrivals: (arrivals[0][0], arrivals[-1][0]), "role chunk"),
    ("04.2", lambda arrivals: (next(t for t, text in arrivals if text), arrivals[-1][0]), "return (None, total) there"),
    ("04.2", lambda arrivals: (next((t for t, x in arrivals if x), None), sum(t for t, _ in arrivals)),
     "the total should be the time of the last arrival"),
    ("04.2", lambda arrivals: next((t for t, x in arrivals if x), None), "returned a float"),
    ("04.3", lambda events: "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta"),
     "input_json_delta"),
    ("04.3", lambda events: "".join(e["delta"].get("text", "") for e in events), "a ping is just"),
    ("04.3", lambda events: "".join(e["delta"]["text"] for e in events if e.get("delta", {}).get("type") == "text_delta")
     [:-1], "the stream's text starts"),
    ("05.1", lambda t: {"name": t["function"]["name"], "description": t["function"].get("description"),
                        "input_schema": t["function"].get("parameters") or {"type": "object"}}, "description"),
    ("05.1", lambda t: {"type": "function", "name": t["function"]["name"], "input_schema": t["function"]["parameters"]},
     "wrapper"),
    ("05.1", lambda t: {"name": t["function"]["name"], "input_schema": t["function"]["parameters"],
                        **({"description": t["function"]["description"]} if "description" in t["function"] else {})},
     "OpenAI allows leaving parameters out"),
    ("05.1", _tool_input_schema_none, "still needs an input_schema"),
    # the nudge used to stop at "raise KeyError 'name'; ", saying nothing about where the name is
    ("05.1", lambda t: {"name": t["name"], "input_schema": t["parameters"]}, "parameters inside tool['function']"),
    ("05.1", lambda t: {"name": t["function"]["name"], "parameters": t["function"].get("parameters")}, "rename `parameters`"),
    ("05.1", lambda t: dict(t["function"]), "rename `parameters`"),
    ("05.1", _tool_pops, "changed the dict it was given"),
    ("05.1", _tool_extra_key, "no 'function_type' key"),
    ("05.1", lambda t: {"name": t["function"]["name"].upper(), "input_schema": t["function"].get("parameters")
                        or {"type": "object"}, "description": t["function"].get("description", "")}, "name and description"),
    ("05.1", lambda t: {"name": t["function"]["name"], "description": t["function"].get("description", ""),
                        "input_schema": {**(t["function"].get("parameters") or {}), "type": "object",
                                         "additionalProperties": False}}, "as it is"),
    ("05.2", lambda r: [(c.function.name, c.function.arguments) for c in r.choices[0].message.tool_calls or []]
     if hasattr(r, "choices") else [(b.name, b.input) for b in r.content if b.type == "tool_use"], "json.loads"),
    ("05.2", lambda r: [(c.function.name, json.loads(c.function.arguments)) for c in r.choices[0].message.tool_calls]
     if hasattr(r, "choices") else [(b.name, b.input) for b in r.content if b.type == "tool_use"], "use `or []`"),
    ("05.2", _calls_keeping_text, "did you keep the text block too?"),
    ("05.2", _calls_as_dicts, "each item should be a (name, arguments) pair"),
    ("05.2", _calls_after_the_text, "not by position"),
    ("05.3", _results_user_role, "role 'tool'"),
    ("05.3", _results_assistant_role, "role 'user'"),
    ("05.3", _results_text_first, "put the tool_result blocks first"),
    ("05.3", lambda r, results: [{"role": "tool", "tool_call_id": "call_1", "content": v} for v in results.values()]
     if hasattr(r, "choices") else [], "needs the tool_call_id"),
    ("05.3", lambda r, results: {"role": "tool"}, "returned a dict: return a list of messages"),
    ("05.4", lambda schema, arguments: [f"missing {n!r}" for n in schema["required"] if n not in arguments], "town"),
    ("05.4", _problems_echo_schema, "names every property of the schema"),
    ("05.4", _problems_hard_coded_city, "it is not always WEATHER_SCHEMA"),
    ("05.4", _problems_every_non_string, "An integer property may hold a number"),
    ("05.4", _problems_without_names, "name the argument"),
    ("05.4", lambda schema, arguments: None, "returned None"),
    ("05.4", lambda schema, arguments: "; ".join(_problems_strict(schema, arguments)), "returned a str: return a list"),
    ("05.4", lambda schema, arguments: not _problems_strict(schema, arguments), "returned a bool: return a list"),
    ("06.1", _NoLiteral, "level='wizard'"),
    ("06.1", _WithDefault, "without 'remote'"),
    ("06.1", _FloatPosting, "should be an int"),
    ("06.1", _StrictWithDefault, "without 'remote'"),
    ("06.1", _DefaultCurrency, "without 'salary.currency'"),
    ("06.1", _SalaryOk, "does not accept JOB_JSON"),
    ("06.1", lambda: None, "pass the class itself"),
    ("06.2", _ForgetsReturn, "your validator must return the value"),
    ("06.2", _ReturnsTrue, "your validator must return the value"),
    ("06.2", _FirstLetterOnly, "fastAPI"),
    ("06.2", _AllowsEmpty, "skills=[]"),
    ("06.3", lambda c: json.loads(c.choices[0].message.content), "should return None instead"),
    ("06.3", _parse_without_catching, "expected None"),
    ("06.3", _parse_requires_brace, "leading whitespace it returned None"),
    ("06.3", _parse_dict_access, "on a complete JSON answer your function raised TypeError: 'Choice' object is not "
     "subscriptable. It should return the parsed dict."),
    ("06.3", _parse_trusts_finished_json, "on a finished answer that is not valid JSON (a trailing comma) your "
     "function raised JSONDecodeError"),
    ("07.1", _chat_user_only, "only one message was added"),
    ("07.1", _chat_sdk_message, "not the SDK's message object"),
    ("07.1", _chat_other_cap, "the request was not the lesson's"),
    ("07.1", _chat_model_dump, "the assistant message you appended also has 'annotations'"),
    ("07.1", _chat_returns_response, "return the assistant's reply text"),
    ("07.2", _count_no_tool_calls, "you counted only the overhead"),
    ("07.2", _count_list_crashes, "when content is a list"),
    ("07.2", _count_image_as_text, "Keep 4 per message"),
    ("07.2", _count_calls_as_objects, "raise AttributeError: 'dict' object has no attribute 'function'; "),
    ("07.3", _trim_drops_tools_only, "opens with an 'assistant' message"),
    ("07.3", _trim_last_user_only, "cut only as much as you must"),
    ("07.3", _trim_no_system, "the system prompt is not first"),
    ("07.3", _trim_ignores_budget, "it must fit"),
    ("08.1", lambda data, mt: _blocks(data, mt, decode=False), "add .decode('ascii')"),
    ("08.1", lambda data, mt: _blocks(data, mt, label="image/png"), "JPEG bytes labelled image/png"),
    ("08.1", lambda data, mt: _blocks(data, mt, prefix=True), "bare base64 text"),
    ("08.1", lambda data, mt: ({"type": "image_url", "url": "x"}, {}), "OpenAI nests the URL"),
    ("08.2", _sniff_riff_only, "b'RIFF' alone is not enough"),
    ("08.2", _sniff_jpeg_fallback, "you returned 'image/jpeg'; expected None"),
    ("08.2", _sniff_format_names, "not a format name"),
    ("08.2", _sniff_by_index, "for an empty file (starts with b'') your function raised IndexError"),
    ("08.2", _sniff_str_magic, "raised TypeError: startswith first arg must be bytes or a tuple of bytes, not str. "
     "It should return 'image/png'."),
    ("08.3", _fit_enlarges, "never enlarge"),
    ("08.3", lambda w, h, m: (w * min(1, m / max(w, h)), h * min(1, m / max(w, h))), "whole numbers"),
    ("08.3", _fit_zero_side, "at least 1 pixel"),
    ("08.3", lambda w, h, m: (min(w, m), min(h, m)), "Scale both sides by the same factor"),
    ("09.1", _retry_status_only, "check isinstance(err, APIConnectionError) first"),
    ("09.1", _retry_no_header, "x-should-retry"),
    ("09.1", _retry_headers_typo, "your code raised AttributeError: 'RateLimitError' object has no attribute 'headers'"),
    ("09.1", _retry_classic, "409"),
    ("09.1", lambda err: "yes", "return True or False"),
    ("09.2", _wait_uncapped, "MAX_RETRY_DELAY caps"),
    ("09.2", _wait_off_by_one, "0.5 s at most"),
    ("09.2", _wait_swapped, "put the shortest wait first"),
    ("09.2", _wait_trusts_any_retry_after, "ignores a retry-after of 0 or above"),
    ("09.2", _wait_wrong_jitter, "0.75x the longest"),
    ("09.2", _wait_retry_after_below_cap, "sdk_wait(4, retry_after=120) should be (120, 120)"),
    ("09.2", lambda n, retry_after=None: 0.5, "return a tuple of two numbers"),
    ("09.3", lambda obj: obj.request_id, "a successful response keeps its id in `_request_id`"),
    ("09.3", lambda obj: obj._request_id, "an APIStatusError has `err.request_id`"),
    ("09.3", lambda obj: getattr(obj, "request_id", None) or getattr(obj, "_request_id", None) or "none",
     "no request id: return None"),
    ("10.1", lambda coros, limit: asyncio.gather(*coros), "running at the same time"),
    ("10.1", _gather_semaphore_per_task, "the semaphore is not shared: create one outside and use it in every task"),
    ("10.1", _gather_around_whole_gather, "acquire a semaphore around each `await`"),
    ("10.1", _gather_tasks_first, "nor around a task (asyncio.create_task starts its coroutine at once)"),
    ("10.1", _gather_notebook_semaphore, "never reads `limit`: create one asyncio.Semaphore(limit) inside it"),
    ("10.1", _gather_without_await, "instead of its result: await it, e.g. `return await asyncio.gather(...)`"),
    ("10.2", lambda call, items, attempts=2: asyncio.gather(*(call(x) for x in items)), "must not sink the batch"),
    ("10.2", lambda call, items, attempts=2: asyncio.gather(*(call(x) for x in items), return_exceptions=True),
     "retry the failed items"),
    ("10.2", _retry_without_await, "your function returned a _GatheringFuture instead of its result: await it"),
    ("10.2", _retry_one_round_too_few, "'e' should be tried 3 times in all, not 2"),
    ("10.2", _retry_one_at_a_time, "start all of them together"),
    ("10.2", _retry_keeps_first_error, "keep the last one, from its third try"),
    ("10.2", _retry_failures_as_indexes, "your code raised TypeError: list indices must be integers"),
    ("10.3", lambda n, c, latency: n / c * latency, "waves of 2, 2 and 1"),
    ("10.3", _wall_time_range_of_float, "your code raised TypeError: 'float' object cannot be interpreted as an integer"),
    ("10.3", lambda n, c, latency: math.ceil(n / c) * latency, "concurrency None means no limit"),
    ("10.3", lambda n, c, latency: math.ceil(n / c) * latency if c else 0.0, "no limit: everything in one wave"),
    ("10.3", lambda n, c, latency: latency if c is None else math.ceil(n / c) * latency,
     "no calls, no time, with no limit too"),
]


# ---- correct answers written differently from solutions/ -----------------------------------------

def _key_status(env):
    return {"OPENAI_API_KEY": len(env.get("OPENAI_API_KEY") or "") > 0,
            "ANTHROPIC_API_KEY": len(env.get("ANTHROPIC_API_KEY") or "") > 0}


def _cost_decimal(usage, input_per_m, output_per_m):  # issue 17: a Decimal is a right answer
    million = Decimal(1_000_000)
    return (Decimal(usage.prompt_tokens) * Decimal(str(input_per_m))
            + Decimal(usage.completion_tokens) * Decimal(str(output_per_m))) / million


def _split_as_list(messages):  # issue 17: a two-item list is a pair too
    system, rest = [], []
    for m in messages:
        (system if m["role"] in ("system", "developer") else rest).append(m)
    texts = [m["content"] for m in system]
    return ["\n\n".join(texts) if texts else None, rest]


def _collect_loop(chunks):
    pieces = []
    for chunk in chunks:
        for choice in chunk.choices:
            if isinstance(choice.delta.content, str):
                pieces.append(choice.delta.content)
    return "".join(pieces)


def _events_loop(events):
    text = ""
    for event in events:
        delta = event.get("delta") or {}
        if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            text += delta["text"]
    return text


def _events_as_sdk_types(events):  # used to be refused: the check's tool stream began with no valid message_start
    from anthropic.types import RawContentBlockDeltaEvent, RawMessageStreamEvent, TextDelta
    from pydantic import TypeAdapter

    parsed = [TypeAdapter(RawMessageStreamEvent).validate_python(e) for e in events if e["type"] != "ping"]
    return "".join(e.delta.text for e in parsed
                   if isinstance(e, RawContentBlockDeltaEvent) and isinstance(e.delta, TextDelta))


def _tool_custom(tool):  # issue 17: {"type": "object"} for no parameters, and "type": "custom"
    function = tool["function"]
    out = {"type": "custom", "name": function["name"], "input_schema": function.get("parameters", {"type": "object"})}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_empty_description(tool):
    function = dict(tool["function"])
    return {"name": function["name"], "description": function.get("description", ""),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}, "required": []}}


def _calls_match(response):
    if isinstance(response, openai.types.chat.ChatCompletion):
        return [[c.function.name, json.loads(c.function.arguments)] for c in response.choices[0].message.tool_calls or ()]
    return [[b.name, dict(b.input)] for b in response.content if b.type == "tool_use"]


def _results_loop(response, results):
    if hasattr(response, "choices"):
        out = []
        for call in response.choices[0].message.tool_calls or []:
            out.append({"role": "tool", "content": results[call.id], "tool_call_id": call.id})
        return out
    content = []
    for block in response.content:
        if block.type == "tool_use":
            content.append({"type": "tool_result", "tool_use_id": block.id, "content": results[block.id],
                            "is_error": False})
    return [{"role": "user", "content": content}]


def _results_with_a_note(response, results):  # a text block after the tool results: the checker once crashed on it
    if hasattr(response, "choices"):
        return _results_loop(response, results)
    blocks = [{"type": "tool_result", "tool_use_id": b.id, "content": results[b.id]}
              for b in response.content if b.type == "tool_use"]
    return [{"role": "user", "content": blocks + [{"type": "text", "text": "Those are all the results."}]}]


def _results_as_text_blocks(response, results):  # content as a list of one text block: both SDKs take it
    def text(call_id):
        return [{"type": "text", "text": results[call_id]}]

    if hasattr(response, "choices"):
        return [{"role": "tool", "tool_call_id": c.id, "content": text(c.id)} for c in response.choices[0].message.tool_calls]
    return [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": text(b.id)}
                                         for b in response.content if b.type == "tool_use"]}]


def _problems_strict(schema, arguments):
    """Also checks integers; words its messages differently."""
    props = schema.get("properties", {})
    found = []
    for name in schema.get("required", []):
        if name not in arguments:
            found.append(f"'{name}' is required but missing")
    for name, value in arguments.items():
        spec = props.get(name)
        if spec is None:
            found.append(f"'{name}' is not a known argument (known: {', '.join(props)})")
        elif spec.get("type") == "string" and not isinstance(value, str):
            found.append(f"'{name}' should be a string")
        elif spec.get("type") == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            found.append(f"'{name}' should be an integer")
        elif value not in spec.get("enum", [value]):
            found.append(f"'{name}'={value!r} is not one of {spec['enum']}")
    return found


def _problems_yielded(schema, arguments):  # a generator of problems is fine too
    yield from _problems_strict(schema, arguments)


class _Salary(BaseModel):
    min: int = Field(ge=0)
    max: int
    currency: str = Field(min_length=3, max_length=3)


class _JobPosting(BaseModel):
    title: str = Field(description="job title")
    level: Literal["junior", "mid", "senior"]
    remote: bool
    salary: _Salary
    skills: list[str]


class _StrictPosting(BaseModel):  # strict mode and an Enum: JSON's "senior" is still a _Level
    model_config = ConfigDict(strict=True)
    title: str
    level: _Level
    remote: bool
    salary: _Salary
    skills: list[str]


class _TuplePosting(BaseModel):  # skills as a tuple, which JSON's array validates into: was "should be a list"
    title: str
    level: Literal["junior", "mid", "senior"]
    remote: bool
    salary: _Salary
    skills: tuple[str, ...]


class _SalaryAliased(BaseModel):  # min and max would shadow the builtins: other names, JSON's keys as aliases
    minimum: int = Field(alias="min")
    maximum: int = Field(alias="max")
    currency: str


class _PostingAliased(BaseModel):
    title: str
    level: Literal["junior", "mid", "senior"]
    is_remote: bool = Field(alias="remote")
    salary: _SalaryAliased
    skills: list[str]


def _lowercase(skills: list[str]) -> list[str]:
    if not skills:
        raise ValueError("skills must not be empty")
    bad = [s for s in skills if not s.islower()]
    if bad:
        raise ValueError(f"these skills are not lowercase: {', '.join(bad)}")
    return skills


class _TaggedAnnotated(Developer):
    skills: Annotated[list[str], AfterValidator(_lowercase)]


def _parse_isinstance(completion):
    choice = completion.choices[0]
    if choice.finish_reason == "stop" and isinstance(choice.message.content, str):
        try:
            data = json.loads(choice.message.content)
        except ValueError:
            return None
        if isinstance(data, dict):
            return data
    return None


def _chat_append_after(client, model, history, user_message):  # the robust pattern: append once the answer arrived
    turn = {"role": "user", "content": user_message}
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=[*history, turn])
    text = response.choices[0].message.content
    history.extend([turn, {"role": "assistant", "content": text}])
    return text


def _count_parts(messages, model="gpt-4o"):
    total = 0
    for msg in messages:
        content = msg.get("content") or []
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = [p["text"] for p in parts if p.get("type") == "text"]
        texts += [t for c in msg.get("tool_calls") or [] for t in (c["function"]["name"], c["function"]["arguments"])]
        total += 4 + sum(count_text(t, model) for t in texts)
    return total


def _trim_by_user_turns(messages, max_tokens):
    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    starts = [i for i, m in enumerate(rest) if m["role"] == "user"]
    for start in starts:  # the earliest user turn whose tail fits
        if count_messages(system + rest[start:]) <= max_tokens:
            return system + rest[start:]
    return system


def _blocks_alt(data, media_type):
    text = base64.b64encode(data).decode()
    return [{"type": "image_url", "image_url": {"url": "data:" + media_type + ";base64," + text, "detail": "auto"}},
            {"source": {"data": text, "media_type": media_type, "type": "base64"}, "type": "image"}]


MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


def _sniff_table(data):
    for magic, kind in MAGIC.items():
        if data[:len(magic)] == magic:
            return kind
    return "image/webp" if (data[0:4], data[8:12]) == (b"RIFF", b"WEBP") else None


def _fit_min_ratio(width, height, max_side):
    if max(width, height) <= max_side:
        return width, height
    ratio = min(max_side / width, max_side / height)
    return max(1, int(width * ratio + 0.5)), max(1, int(height * ratio + 0.5))


def _retry_by_sets(err):
    import anthropic

    if isinstance(err, (openai.APITimeoutError, anthropic.APITimeoutError, openai.APIConnectionError,
                        anthropic.APIConnectionError)):
        return True
    if not isinstance(err, (openai.APIStatusError, anthropic.APIStatusError)):
        return False
    verdict = {"true": True, "false": False}.get(err.response.headers.get("x-should-retry", ""))
    return verdict if verdict is not None else (err.status_code in {408, 409, 429} or 500 <= err.status_code)


def _wait_alternative(n, retry_after=None):
    if retry_after and retry_after <= 120:
        return [float(retry_after)] * 2
    top = min(0.5 * (2 ** n), 8)
    return [top - top / 4, top]


def _request_id(obj):
    return getattr(obj, "request_id", None) or getattr(obj, "_request_id", None)


async def _gather_workers(coros, limit):
    results = [None] * len(coros)
    queue = list(enumerate(coros))

    async def worker():
        while queue:
            i, coro = queue.pop(0)
            results[i] = await coro

    await asyncio.gather(*(worker() for _ in range(min(limit, len(coros)))))
    return results


async def _retry_per_item(call, items, attempts=2):
    async def one(item):
        for _ in range(attempts):
            try:
                return await call(item)
            except Exception as exc:  # noqa: BLE001
                last = exc
        return last

    return list(await asyncio.gather(*(one(x) for x in items)))


async def _retry_task_group(call, items, attempts=2):  # TaskGroup; each item keeps its own last exception
    async def one(item):
        for attempt in range(attempts):
            try:
                return await call(item)
            except Exception as exc:  # noqa: BLE001
                if attempt == attempts - 1:
                    return exc

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(x)) for x in items]
    return [t.result() for t in tasks]


def _wall_time_floor_division(n, concurrency, latency):
    waves = 1 if concurrency is None else -(-n // concurrency)
    return waves * latency if n else 0


RIGHT = [
    ("01.1", _key_status),
    ("01.2", lambda base_url: openai.OpenAI(api_key="not-needed", base_url=base_url.rstrip("/") + "/")),
    ("02.1", lambda c: dict(text=c.choices[0].message.content, **c.usage.model_dump(
        include={"prompt_tokens", "completion_tokens"}))),
    ("02.2", _cost_decimal),
    ("02.2", lambda u, i, o: (u.prompt_tokens * i + u.completion_tokens * o) / 1e6),
    ("02.3", lambda s, q: [{"role": "developer", "content": s}, {"role": "user", "content": q}]),
    ("02.4", lambda c: c.choices[0].finish_reason != "stop"),
    ("03.1", lambda content: "".join(getattr(b, "text", "") for b in content if b.type == "text")),
    ("03.2", _split_as_list),
    ("03.3", lambda u: sum(x or 0 for x in (u.input_tokens, u.output_tokens, u.cache_read_input_tokens,
                                            u.cache_creation_input_tokens))),
    ("04.1", _collect_loop),
    ("04.2", lambda arrivals: [next((t for t, x in arrivals if x != ""), None), max(t for t, _ in arrivals)]),
    ("04.3", _events_loop),
    ("04.3", _events_as_sdk_types),
    ("05.1", _tool_custom),
    ("05.1", _tool_empty_description),
    ("05.2", _calls_match),
    ("05.3", _results_loop),
    ("05.3", _results_with_a_note),
    ("05.3", _results_as_text_blocks),
    ("05.4", _problems_strict),
    ("05.4", _problems_yielded),
    ("06.1", _JobPosting),
    ("06.1", _StrictPosting),
    ("06.1", _PostingAliased),
    ("06.1", _TuplePosting),
    ("06.2", _TaggedAnnotated),
    ("06.3", _parse_isinstance),
    ("07.1", _chat_append_after),
    ("07.2", _count_parts),
    ("07.3", _trim_by_user_turns),
    ("08.1", _blocks_alt),
    ("08.2", _sniff_table),
    ("08.3", _fit_min_ratio),
    ("09.1", _retry_by_sets),
    ("09.2", _wait_alternative),
    ("09.3", _request_id),
    ("10.1", _gather_workers),
    ("10.2", _retry_per_item),
    ("10.2", _retry_task_group),
    ("10.3", _wall_time_floor_division),
]


def _id(case) -> str:
    answer = case[1]
    return f"{case[0]}-{getattr(answer, '__name__', 'answer').strip('<>_')}"


@pytest.fixture()
def replay(monkeypatch):
    """07.1 makes the lesson's recorded calls: serve notebook 07's cassette, instantly."""
    import lessonlib
    from lessonlib.config import _stop_active

    monkeypatch.delenv("LESSON_USAGE_DIR", raising=False)
    monkeypatch.setenv("LESSON_REPLAY_SPEED", "0")
    lessonlib.setup("07_multi_turn", quiet=True)
    yield
    _stop_active()


@pytest.mark.parametrize("case", WRONG, ids=[_id(c) for c in WRONG])
def test_wrong_answer_gets_its_nudge(case, request):
    exercise_id, answer, nudge = case
    if exercise_id == "07.1":
        request.getfixturevalue("replay")
    result = run(exercise_id, answer)
    assert not result.passed, f"{exercise_id} accepted a wrong answer"
    assert nudge in result.message


@pytest.mark.parametrize("case", RIGHT, ids=[_id(c) for c in RIGHT])
def test_right_answer_written_differently_passes(case, request):
    exercise_id, answer = case
    if exercise_id == "07.1":
        request.getfixturevalue("replay")
    result = run(exercise_id, answer)
    assert result.passed, result.message


def test_every_exercise_has_wrong_and_alternative_answers():
    _load_all()
    assert set(EXERCISES) == {c[0] for c in WRONG} == {c[0] for c in RIGHT}


def test_a_key_read_from_os_environ_is_never_shown(monkeypatch):
    """01.1: an answer that returns the kernel's own key, read from os.environ, gets a nudge without the key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-kernel-" + "k" * 30)
    for answer in (lambda env: {n: os.environ.get(n) for n in KEYS},
                   lambda env: {n: os.environ.get(n, "")[:12] or None for n in KEYS}):
        result = run("01.1", answer)
        assert not result.passed and "sk-proj-kernel" not in result.message, result.message


def test_an_answer_that_sets_environment_variables_leaves_them_as_they_were(monkeypatch):
    """01.2: the learner's key (or its absence) survives an answer that sets OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-learner-own-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert not run("01.2", _client_from_environment).passed
    assert os.environ["OPENAI_API_KEY"] == "sk-learner-own-key" and "OPENAI_BASE_URL" not in os.environ
    # an answer that raised after setting them left them set, and later cells called 127.0.0.1:11434 as "not-needed"
    assert "your code raised TypeError" in run("01.2", _client_from_environment_positional).message
    assert os.environ["OPENAI_API_KEY"] == "sk-learner-own-key" and "OPENAI_BASE_URL" not in os.environ


def test_a_client_that_reads_the_servers_url_is_not_shown_its_secret(monkeypatch):
    """01.2 in record or capped live mode: the nudge printed OPENAI_BASE_URL with the server's per-kernel secret."""
    from types import SimpleNamespace

    from lessonlib.config import _ACTIVE

    token = "FAKEkernelSecret0123456"  # made up: not a key
    monkeypatch.setitem(_ACTIVE, "server", SimpleNamespace(token=token))
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:41234/{token}/openai/v1")
    result = run("01.2", _openai_client_without_base_url)
    assert not result.passed and token not in result.message and "/<secret>/openai/v1" in result.message, result.message


def test_a_jpeg_fallback_is_not_told_about_webp():
    """Issue 17: the RIFF/WebP note belongs only to answers that said 'image/webp' for a WAV file."""
    from lessonlib.exercises import run

    assert "RIFF' alone" not in run("08.2", _sniff_jpeg_fallback).message


def _gather_in_asyncio_run(coros, limit):
    return asyncio.run(asyncio.gather(*coros))  # RuntimeError: the check's loop is running


def test_a_list_of_unawaited_calls_is_named_and_leaves_no_warning(recwarn):
    # 10.2 said "'a' ... was called 0 times: retry only the items whose result is an exception", and then printed
    # "RuntimeWarning: coroutine ... was never awaited"; 10.1's tasks got "results are not in input order"
    import gc

    async def gather_with_retry(call, items, attempts=2):
        return [call(x) for x in items]

    async def bounded_gather(coros, limit):
        return [asyncio.create_task(c) for c in coros]

    for exercise_id, answer, kind in (("10.2", gather_with_retry, "list of coroutine objects"),
                                      ("10.1", bounded_gather, "list of Task objects")):
        message = run(exercise_id, answer).message
        assert f"returned a {kind} instead of their results: await them" in message, message
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_an_unawaited_gather_leaves_no_log_behind(caplog):
    """The cancelled future of `return asyncio.gather(...)` once logged "exception was never retrieved" with a
    traceback, which a notebook shows under the check's one line."""
    import gc

    result = run("10.1", _gather_without_await)
    gc.collect()
    assert not result.passed and "await it" in result.message
    # asyncio.run(asyncio.gather(...)) logged the same 30-line traceback, of lessonlib's frames, under the verdict
    result = run("10.1", _gather_in_asyncio_run)
    gc.collect()
    assert not result.passed and "asyncio.run() cannot be called from a running event loop" in result.message
    assert "never retrieved" not in caplog.text
