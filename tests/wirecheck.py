"""Checks that a recorded or authored HTTP exchange is shaped like real provider traffic.

Used by tests/test_wire_fidelity.py (the course's cassettes) and tests/test_real_traffic.py (real
recordings in tests/wire/real/, vendored from ../shared/wire/). Facts come from the installed SDKs
(their response models and request TypedDicts) and from OpenAI's OpenAPI spec
(tests/wire/spec/openai-openapi.yaml); nothing here is hand-written wire knowledge except the SSE
event order, which the SDKs' stream parsers assume but do not check.

Every check returns a list of problems (strings); an empty list means the exchange passes.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from lessonlib.cassette import Cassette, Interaction, response_headers
from lessonlib.providers import sse_events

ROOT = Path(__file__).resolve().parent.parent
WIRE = ROOT / "tests" / "wire"  # vendored copy of ../shared/wire (see tests/wire/README.md)
REAL = WIRE / "real"
OPENAPI_SPEC = WIRE / "spec" / "openai-openapi.yaml"
SHARED_WIRE = ROOT.parent / "shared" / "wire"  # CI clones the repo with shared/ beside it
CASSETTES = ROOT / "notebooks" / "cassettes"


def course_cassettes() -> list[Path]:
    return sorted(p for p in CASSETTES.glob("*.yaml") if not p.name.endswith((".recording.yaml", ".partial.yaml")))


def real_recordings() -> list[Path]:
    return sorted(REAL.glob("*.yaml"))


# ---- one exchange, whatever the file's layout ------------------------------------------------


@dataclass
class Exchange:
    """One interaction of a cassette file, normalised (vcrpy, ours, or pydantic-ai's parsed_body)."""

    file: str
    index: int
    provider: str  # openai | anthropic
    method: str
    route: str  # path without query, e.g. /v1/messages
    query: dict[str, list[str]]
    request: Any  # parsed JSON body, or None
    status: int
    headers: dict[str, list[str]]  # lower-case names, transport headers included
    body: bytes  # as the client receives it (gzip undone)
    interaction: Interaction = field(repr=False)

    @property
    def where(self) -> str:
        return f"{self.file} #{self.index} ({self.method} {self.route} -> {self.status})"

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type") or [""])[0]

    @property
    def is_sse(self) -> bool:
        return "text/event-stream" in self.content_type

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def exchanges(path: Path) -> list[Exchange]:
    """The interactions of a cassette file (a fresh list; the parsed file is cached per session)."""
    return list(_exchanges(Path(path), Path(path).stat().st_mtime_ns))


@functools.lru_cache(maxsize=None)
def _exchanges(path: Path, mtime: int) -> tuple[Exchange, ...]:
    cassette = Cassette.load(path)
    out = []
    for item in cassette.interactions:
        uri = urlsplit(str(item.raw["request"]["uri"]))
        # a recording from a local server (issue 13) has a loopback host: its path says which API it speaks
        provider = "anthropic" if "anthropic" in uri.netloc or uri.path.startswith("/v1/messages") else "openai"
        headers: dict[str, list[str]] = {}
        for name, value in response_headers(item, transport=True):
            headers.setdefault(name.lower(), []).append(value)
        out.append(
            Exchange(
                file=path.name,
                index=item.index,
                provider=provider,
                method=item.method,
                route=uri.path,
                query=parse_qs(uri.query),
                request=item.body,
                status=int(item.response["status"]["code"]),
                headers=headers,
                body=item.response_body(),
                interaction=item,
            )
        )
    return tuple(out)


# ---- SSE -------------------------------------------------------------------------------------


@dataclass
class SSEEvent:
    event: str | None
    data: str
    lines: list[str]


def parse_sse(text: str) -> list[SSEEvent]:
    """Events of a text/event-stream body, as the SDKs' decoders read them (blank line ends an event)."""
    events = []
    for event in sse_events(text):
        lines = [line for line in event.splitlines() if line]
        name, data = None, []
        for item in lines:
            if item.startswith(":"):
                continue
            key, _, value = item.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        events.append(SSEEvent(name, "\n".join(data), lines))
    return events


# ---- strict validation against the SDKs' response models ------------------------------------


def _extras(value: Any, where: str, out: list[tuple[str, str, str]]) -> None:
    """Collect (path, model class, field) for every field a model does not declare, at any depth."""
    if isinstance(value, BaseModel):
        for key in (value.__pydantic_extra__ or {}):
            out.append((f"{where}.{key}", type(value).__name__, key))
        for name in type(value).model_fields:
            _extras(getattr(value, name, None), f"{where}.{name}", out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _extras(item, f"{where}[{i}]", out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _extras(item, f"{where}.{key}", out)


@functools.lru_cache(maxsize=None)
def _adapter(tp: Any) -> TypeAdapter:
    return TypeAdapter(tp)


@dataclass
class Strict:
    """Validate JSON against an SDK type; a field the SDK does not model is a problem unless real
    traffic was seen carrying it (``allowed``: (model class, field) pairs from tests/wire/real)."""

    allowed: frozenset[tuple[str, str]] = frozenset()
    seen: set[tuple[str, str]] = field(default_factory=set)  # extras met (filled in when collecting)

    def check(self, tp: Any, data: Any, where: str) -> list[str]:
        try:
            value = _adapter(tp).validate_python(data)
        except ValidationError as exc:
            return [f"{where}: not a valid {getattr(tp, '__name__', tp)}: {_short(exc)}"]
        found: list[tuple[str, str, str]] = []
        _extras(value, where, found)
        problems = []
        for path, cls, key in found:
            self.seen.add((cls, key))
            if (cls, key) not in self.allowed:
                problems.append(f"{path}: {cls} has no field {key!r} (not in the SDK's model, "
                                "nor seen in real traffic)")
        return problems


def _short(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:limit]]
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _types() -> dict[str, Any]:
    import anthropic.types as A
    import anthropic.types.beta as AB
    import anthropic.types.messages as AM
    import openai.types.chat as OC
    import openai.types.responses as OR
    from anthropic.types import shared as AS
    from openai.types.shared import ErrorObject

    return dict(
        chat_completion=OC.ChatCompletion,
        chat_chunk=OC.ChatCompletionChunk,
        completion_usage=__import__("openai.types.completion_usage", fromlist=["CompletionUsage"]).CompletionUsage,
        response=OR.Response,
        openai_error=ErrorObject,
        message=A.Message,
        beta_message=AB.BetaMessage,
        tokens_count=A.MessageTokensCount,
        beta_tokens_count=AB.BetaMessageTokensCount,
        batch=AM.MessageBatch,
        batch_result=AM.MessageBatchIndividualResponse,
        anthropic_error=AS.ErrorResponse,
        stream_events={
            "message_start": A.RawMessageStartEvent,
            "message_delta": A.RawMessageDeltaEvent,
            "message_stop": A.RawMessageStopEvent,
            "content_block_start": A.RawContentBlockStartEvent,
            "content_block_delta": A.RawContentBlockDeltaEvent,
            "content_block_stop": A.RawContentBlockStopEvent,
        },
    )


T = _types()


def response_problems(ex: Exchange, strict: Strict) -> list[str]:
    """Does the response validate against the SDK type for its endpoint, strictly, in a legal order?"""
    where = ex.where
    if ex.status >= 400:
        return error_problems(ex, strict)
    if ex.provider == "openai":
        if ex.method == "POST" and ex.route == "/v1/chat/completions":
            if ex.is_sse:
                return openai_stream_problems(ex, strict)
            return strict.check(T["chat_completion"], ex.json(), where)
        if ex.method == "POST" and ex.route == "/v1/responses" and not ex.is_sse:
            return strict.check(T["response"], ex.json(), where)
    else:
        beta = ex.query.get("beta") == ["true"]
        if ex.method == "POST" and ex.route == "/v1/messages":
            if ex.is_sse:
                return anthropic_stream_problems(ex, strict)
            return strict.check(T["beta_message" if beta else "message"], ex.json(), where)
        if ex.method == "POST" and ex.route == "/v1/messages/count_tokens":
            return strict.check(T["beta_tokens_count" if beta else "tokens_count"], ex.json(), where)
        if ex.route.startswith("/v1/messages/batches"):
            if ex.route.endswith("/results"):
                problems = []
                lines = [line for line in ex.body.decode("utf-8").splitlines() if line.strip()]
                if not lines:
                    problems.append(f"{where}: batch results are empty")
                for n, line in enumerate(lines):
                    problems += strict.check(T["batch_result"], json.loads(line), f"{where} line {n + 1}")
                return problems
            return strict.check(T["batch"], ex.json(), where)
    return [f"{where}: no SDK type is known for this endpoint; add one to tests/wirecheck.py"]


def error_problems(ex: Exchange, strict: Strict) -> list[str]:
    where = ex.where
    try:
        body = ex.json()
    except ValueError:
        return [f"{where}: an error body must be JSON, got {ex.body[:80]!r}"]
    if ex.provider == "openai":
        if not isinstance(body, dict) or set(body) != {"error"}:
            return [f"{where}: an OpenAI error body is exactly {{'error': {{...}}}}, got keys {sorted(body)}"]
        problems = strict.check(T["openai_error"], body["error"], f"{where} error")
        missing = {"message", "type", "param", "code"} - set(body["error"])
        if missing:  # real errors always carry all four, null when empty
            problems.append(f"{where}: OpenAI error lacks {sorted(missing)} "
                            "(real ones carry message, type, param, code)")
        return problems
    return strict.check(T["anthropic_error"], body, where)


def openai_stream_problems(ex: Exchange, strict: Strict) -> list[str]:
    """data-only events of chat.completion.chunk JSON, a usage chunk if asked for, then [DONE]."""
    where = ex.where
    events = parse_sse(ex.body.decode("utf-8"))
    problems: list[str] = []
    if any(e.event is not None for e in events):
        problems.append(f"{where}: OpenAI streams have no `event:` lines")
    if not events or events[-1].data != "[DONE]":
        problems.append(f"{where}: the stream must end with `data: [DONE]`")
    if sum(e.data == "[DONE]" for e in events) > 1:
        problems.append(f"{where}: `data: [DONE]` appears more than once")
    chunks = []
    for n, event in enumerate(e for e in events if e.data != "[DONE]"):
        data = json.loads(event.data)
        problems += strict.check(T["chat_chunk"], data, f"{where} chunk {n}")
        chunks.append(data)
    if not chunks:
        return problems + [f"{where}: no chunks"]
    ids = {c["id"] for c in chunks}
    if len(ids) != 1:
        problems.append(f"{where}: chunks of one stream share one id, got {sorted(ids)}")
    include_usage = bool(((ex.request or {}).get("stream_options") or {}).get("include_usage"))
    body_chunks = chunks
    if include_usage:
        last = chunks[-1]
        if last.get("choices") != [] or not last.get("usage"):
            problems.append(f"{where}: with stream_options.include_usage the last chunk has choices [] and the usage")
        body_chunks = chunks[:-1]
        for n, c in enumerate(body_chunks):
            if "usage" not in c or c["usage"] is not None:
                problems.append(f"{where} chunk {n}: with include_usage every other chunk has \"usage\": null")
    else:
        for n, c in enumerate(chunks):
            if c.get("usage"):
                problems.append(f"{where} chunk {n}: usage was not asked for (stream_options.include_usage)")
    finished: dict[int, int] = {}
    seen_choice: set[int] = set()
    tool_seen: set[tuple[int, int]] = set()
    for n, c in enumerate(body_chunks):
        if not c.get("choices"):
            problems.append(f"{where} chunk {n}: a chunk before the usage chunk has no choices")
        for choice in c.get("choices") or []:
            i = choice["index"]
            delta = choice.get("delta") or {}
            if i in finished:
                problems.append(f"{where} chunk {n}: choice {i} continues after its finish_reason")
            if i not in seen_choice:
                seen_choice.add(i)
                if delta.get("role") != "assistant":
                    problems.append(f"{where} chunk {n}: the first delta of choice {i} carries role 'assistant'")
            for call in delta.get("tool_calls") or []:
                key = (i, call["index"])
                if key not in tool_seen:
                    tool_seen.add(key)
                    if not str(call.get("id", "")).startswith("call_") or not (call.get("function") or {}).get("name"):
                        problems.append(f"{where} chunk {n}: a tool call's first fragment has its call_ id and name")
            if choice.get("finish_reason") is not None:
                finished[i] = n
    for i in seen_choice - set(finished):
        problems.append(f"{where}: choice {i} never gets a finish_reason")
    return problems


_BLOCK_DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def anthropic_stream_problems(ex: Exchange, strict: Strict) -> list[str]:
    """message_start, then per block start → deltas → stop, then message_delta, message_stop."""
    where = ex.where
    problems: list[str] = []
    events = parse_sse(ex.body.decode("utf-8"))
    state = "start"  # start -> blocks -> delta -> stopped
    open_block: tuple[int, str] | None = None
    next_index = 0
    partial_json: dict[int, str] = {}
    for n, event in enumerate(events):
        at = f"{where} event {n} ({event.event})"
        if event.event is None:
            problems.append(f"{at}: every Anthropic event has an `event:` line (the SDK skips events without one)")
            continue
        try:
            data = json.loads(event.data)
        except ValueError:
            problems.append(f"{at}: data is not JSON")
            continue
        if data.get("type") != event.event:
            problems.append(f"{at}: event name and data.type differ ({data.get('type')!r})")
        name = event.event
        if state == "stopped":
            problems.append(f"{at}: nothing may follow message_stop")
        if name == "ping":
            if data != {"type": "ping"}:
                problems.append(f"{at}: a ping is exactly {{'type': 'ping'}}")
            if state == "start":
                problems.append(f"{at}: ping before message_start")
            continue
        if name == "error":
            problems += strict.check(T["anthropic_error"], data, at)
            state = "stopped"
            continue
        model = T["stream_events"].get(name)
        if model is None:
            problems.append(f"{at}: unknown event type")
            continue
        problems += strict.check(model, data, at)
        if name == "message_start":
            if state != "start":
                problems.append(f"{at}: message_start comes first and once")
            if data.get("message", {}).get("content") != []:
                problems.append(f"{at}: message_start's message has empty content")
            state = "blocks"
        elif name == "content_block_start":
            if state != "blocks" or open_block is not None:
                problems.append(f"{at}: a block starts only after message_start and after the previous block stopped")
            if data.get("index") != next_index:
                problems.append(f"{at}: blocks are numbered 0, 1, 2...; expected index {next_index}")
            open_block = (data.get("index"), data.get("content_block", {}).get("type"))
            next_index += 1
        elif name == "content_block_delta":
            if open_block is None or data.get("index") != open_block[0]:
                problems.append(f"{at}: a delta belongs to the open block")
            else:
                kind = data.get("delta", {}).get("type")
                if kind not in _BLOCK_DELTAS.get(open_block[1], set()):
                    problems.append(f"{at}: a {kind} cannot extend a {open_block[1]} block")
                if kind == "input_json_delta":
                    partial_json[open_block[0]] = partial_json.get(open_block[0], "") + data["delta"]["partial_json"]
        elif name == "content_block_stop":
            if open_block is None or data.get("index") != open_block[0]:
                problems.append(f"{at}: content_block_stop closes the open block")
            open_block = None
        elif name == "message_delta":
            if state != "blocks" or open_block is not None:
                problems.append(f"{at}: message_delta comes once, after every block stopped")
            state = "delta"
        elif name == "message_stop":
            if state != "delta":
                problems.append(f"{at}: message_stop follows message_delta")
            state = "stopped"
    if state != "stopped":
        problems.append(f"{where}: the stream must end with message_stop (or an error event)")
    for index, text in partial_json.items():
        try:
            if not isinstance(json.loads(text or "{}"), dict):
                raise ValueError
        except ValueError:
            problems.append(f"{where}: block {index}'s input_json_delta fragments do not join into a JSON object")
    return problems


# ---- requests: OpenAI against the OpenAPI spec ----------------------------------------------


def _nullable_to_2020(node: Any) -> Any:
    """The spec says OpenAPI 3.1 but still marks nulls with 3.0's ``nullable: true``; JSON Schema
    2020-12 ignores that keyword, so turn each such schema into ``anyOf: [schema, {type: null}]``."""
    if isinstance(node, list):
        return [_nullable_to_2020(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_2020(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _close_objects(spec: dict) -> dict:
    """Make the spec's object schemas reject keys they do not define (``unevaluatedProperties:
    false``), except where that would be wrong: schemas that are a part of an ``allOf`` (their
    siblings define the other keys), and objects that declare ``additionalProperties`` (maps, and
    user-supplied JSON Schemas such as function parameters)."""
    schemas = spec["components"]["schemas"]
    in_all_of: set[str] = set()

    def find_all_of(node: Any) -> None:
        if isinstance(node, dict):
            for part in node.get("allOf", []):
                if isinstance(part, dict) and "$ref" in part:
                    in_all_of.add(part["$ref"].rsplit("/", 1)[-1])
            for value in node.values():
                find_all_of(value)
        elif isinstance(node, list):
            for value in node:
                find_all_of(value)

    find_all_of(spec)

    def close(node: Any, part_of_all_of: bool = False) -> Any:
        if isinstance(node, list):
            return [close(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "allOf":
                out[key] = [close(v, part_of_all_of=True) for v in value]
            elif key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
                out[key] = {k: close(v) for k, v in value.items()} if isinstance(value, dict) else value
            else:
                out[key] = close(value)
        is_object = "properties" in node or "allOf" in node and node.get("type") in (None, "object")
        if is_object and not part_of_all_of and "additionalProperties" not in node and "$ref" not in node:
            out["unevaluatedProperties"] = False
        return out

    closed = dict(spec)
    closed["components"] = dict(spec["components"])
    closed["components"]["schemas"] = {
        name: close(schema, part_of_all_of=name in in_all_of) for name, schema in schemas.items()
    }
    return closed


@functools.lru_cache(maxsize=1)
def openapi_registry() -> tuple[Any, str]:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~1 s instead of ~20 s
    with OPENAPI_SPEC.open("rb") as fh:
        spec = yaml.load(fh, Loader=loader)
    uri = "urn:openai-openapi"
    resource = Resource.from_contents(_close_objects(_nullable_to_2020(spec)), default_specification=DRAFT202012)
    return Registry().with_resource(uri, resource), uri


OPENAI_REQUEST_SCHEMAS = {
    ("POST", "/v1/chat/completions"): "CreateChatCompletionRequest",
    ("POST", "/v1/responses"): "CreateResponse",
    ("POST", "/v1/embeddings"): "CreateEmbeddingRequest",
}


@functools.lru_cache(maxsize=None)
def _openai_validator(schema_name: str) -> Any:
    from jsonschema import Draft202012Validator

    registry, uri = openapi_registry()
    # unevaluatedProperties at the top: a parameter the spec does not define fails, even though the
    # spec's own object schemas leave additionalProperties open.
    schema = {"$ref": f"{uri}#/components/schemas/{schema_name}", "unevaluatedProperties": False}
    return Draft202012Validator(schema, registry=registry)


def openai_request_problems(ex: Exchange) -> list[str]:
    schema_name = OPENAI_REQUEST_SCHEMAS.get((ex.method, ex.route))
    if schema_name is None:
        if ex.method == "GET" and ex.request is None:
            return []
        return [f"{ex.where}: no OpenAPI request schema is mapped for this endpoint in tests/wirecheck.py"]
    return [f"{ex.where} request{p} (spec {schema_name})" for p in schema_problems(schema_name, ex.request)]


def schema_problems(schema_name: str, instance: Any) -> list[str]:
    """Readable schema errors: in a oneOf/anyOf, those of the alternative that came closest; and an
    "unevaluated properties" complaint only where it is not the echo of a deeper error."""
    leaves = [leaf for error in _openai_validator(schema_name).iter_errors(instance) for leaf in _explain(error)]
    kept = []
    for leaf in leaves:
        path = list(leaf.absolute_path)
        echo = _unevaluated(leaf) and any(
            other is not leaf and len(other.absolute_path) > len(path)
            and list(other.absolute_path)[: len(path)] == path
            for other in leaves)
        if not echo:
            text = ("".join(f"[{p!r}]" for p in path) or " (body)") + f": {leaf.message[:300]}"
            if text not in kept:
                kept.append(text)
    return kept


def _unevaluated(error: Any) -> bool:
    return error.validator == "unevaluatedProperties"


def _explain(error: Any) -> list[Any]:
    """The leaf errors behind an error; for oneOf/anyOf, only the closest alternative's."""
    if not error.context:
        return [error]
    alternatives: dict[Any, list[Any]] = {}
    for sub in error.context:
        alternatives.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(error.absolute_path)

    def distance(errs: list[Any]) -> tuple[bool, int, int, int]:
        # furthest: a wrong kind of value right here; then a wrong `role`/`type` tag; then anything else
        wrong_kind = any(e.validator == "type" and len(e.absolute_path) == depth for e in errs)
        wrong_tag = sum(e.validator in ("enum", "const") for e in errs)
        return wrong_kind, wrong_tag, sum(not _unevaluated(e) for e in errs), len(errs)

    closest = min(alternatives.values(), key=distance)
    return [leaf for sub in closest for leaf in _explain(sub)]


# ---- requests: Anthropic against the SDK's TypedDicts ---------------------------------------


def _typed_dict_keys(td: type) -> dict[str, tuple[str, Any]]:
    """wire key -> (attribute name, annotation), honouring the SDK's PropertyInfo(alias=...)."""
    hints = typing.get_type_hints(td, include_extras=True)
    out = {}
    for name, tp in hints.items():
        key = name
        for meta in getattr(_strip_required(tp), "__metadata__", ()):
            alias = getattr(meta, "alias", None)
            if alias:
                key = alias
        out[key] = (name, tp)
    return out


def _strip_required(tp: Any) -> Any:
    import typing_extensions

    wrappers = {typing.Required, typing.NotRequired, typing_extensions.Required, typing_extensions.NotRequired,
                typing_extensions.ReadOnly}
    while typing.get_origin(tp) in wrappers:
        tp = typing.get_args(tp)[0]
    return tp


def shape_problems(tp: Any, value: Any, path: str = "") -> list[str]:
    """Recursive strict check of JSON against a TypedDict annotation: unknown keys, missing
    required keys, wrong literals and wrong JSON types are problems. Iterables are checked eagerly."""
    from typing_extensions import is_typeddict

    tp = _strip_required(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return shape_problems(typing.get_args(tp)[0], value, path)
    if tp in (Any, object):
        return []
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        results = [(m, shape_problems(m, value, path)) for m in members]
        if any(not problems for _, problems in results):
            return []
        # report against the member the value meant to be: the one whose `type` literal matches
        typed = [r for r in results if _literal_type_matches(r[0], value)]
        # otherwise the member that got furthest: one that rejects the value's very kind ranks last
        here = (f"{path}: ", f"{path or 'body'}: ")
        return min(typed or results, key=lambda r: (all(p.startswith(here) for p in r[1]), len(r[1])))[1]
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        return [] if value in allowed else [f"{path or 'body'}: {value!r} is not one of {allowed}"]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null"]
    if tp is str:
        return [] if isinstance(value, str) else [f"{path}: expected a string, got {type(value).__name__}"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]
    if tp is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    if tp is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number"]
    if isinstance(tp, type) and is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({tp.__name__})"]
        keys = _typed_dict_keys(tp)
        problems = [f"{path}.{k}: {tp.__name__} has no key {k!r}" for k in value if k not in keys]
        required = {k for k, (name, _) in keys.items() if name in tp.__required_keys__}
        problems += [f"{path}: {tp.__name__} requires {k!r}" for k in sorted(required - set(value))]
        for k, v in value.items():
            if k in keys:
                problems += shape_problems(keys[k][1], v, f"{path}.{k}")
        return problems
    if isinstance(tp, type) and issubclass(tp, BaseModel):  # a response block sent back as-is
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({tp.__name__})"]
        keys = {f.alias or name: f.annotation for name, f in tp.model_fields.items()}
        problems = [f"{path}.{k}: {tp.__name__} has no field {k!r}" for k in value if k not in keys]
        for k, v in value.items():
            if k in keys:
                problems += shape_problems(keys[k], v, f"{path}.{k}")
        return problems
    is_mapping = origin is not None and isinstance(origin, type) and issubclass(origin, Mapping)
    if not is_mapping and origin is not None and isinstance(origin, type) and issubclass(origin, Iterable):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        args = typing.get_args(tp) or (Any,)
        return [p for i, v in enumerate(value) for p in shape_problems(args[0], v, f"{path}[{i}]")]
    if origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)) or tp is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        args = typing.get_args(tp)
        return [p for k, v in value.items() for p in shape_problems(args[1] if args else Any, v, f"{path}.{k}")]
    # SequenceNotStr and friends are Protocols; anything else here is a file/bytes type that JSON cannot carry
    name = getattr(tp, "__name__", str(tp))
    if name == "SequenceNotStr":
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        (arg,) = typing.get_args(tp) or (Any,)
        return [p for i, v in enumerate(value) for p in shape_problems(arg, v, f"{path}[{i}]")]
    return [] if isinstance(value, str) else [f"{path}: cannot check a value against {tp!r}"]


def _literal_type_matches(tp: Any, value: Any) -> bool:
    from typing_extensions import is_typeddict

    tp = _strip_required(tp)
    if not (isinstance(value, dict) and "type" in value):
        return False
    if isinstance(tp, type) and is_typeddict(tp):
        ann = _typed_dict_keys(tp).get("type")
        return ann is not None and value["type"] in typing.get_args(_strip_required(ann[1]))
    if isinstance(tp, type) and issubclass(tp, BaseModel) and "type" in tp.model_fields:
        return value["type"] in typing.get_args(tp.model_fields["type"].annotation)
    return False


def anthropic_request_problems(ex: Exchange) -> list[str]:
    import anthropic.types as A
    import anthropic.types.beta as AB
    import anthropic.types.messages as AM

    beta = ex.query.get("beta") == ["true"]
    body = ex.request
    if ex.method == "GET":
        return [] if body is None else [f"{ex.where}: a GET carries no body"]
    if ex.route == "/v1/messages":
        params = (AB if beta else A).message_create_params
        streaming = (body or {}).get("stream")
        tp = params.MessageCreateParamsStreaming if streaming else params.MessageCreateParamsNonStreaming
    elif ex.route == "/v1/messages/count_tokens":
        tp = (AB.message_count_tokens_params if beta else A.message_count_tokens_params).MessageCountTokensParams
    elif ex.route == "/v1/messages/batches":
        tp = AM.batch_create_params.BatchCreateParams
    else:
        return [f"{ex.where}: no SDK request type is mapped for this endpoint in tests/wirecheck.py"]
    return [f"{ex.where} request{p}" for p in shape_problems(tp, body)]


def request_problems(ex: Exchange) -> list[str]:
    return openai_request_problems(ex) if ex.provider == "openai" else anthropic_request_problems(ex)


# ---- extras real traffic carries ----------------------------------------------------------


@functools.lru_cache(maxsize=1)
def real_extras() -> frozenset[tuple[str, str]]:
    """(model class, field) pairs that real recordings carry beyond the SDKs' models (e.g. OpenAI's
    stream `obfuscation`): authored cassettes may carry these and nothing else."""
    collector = Strict(allowed=frozenset())
    for path in real_recordings():
        for ex in exchanges(path):
            response_problems(ex, collector)
    return frozenset(collector.seen)


# ---- headers and ids ---------------------------------------------------------------------------

# Response headers the course's cassettes may carry although no public recording shows them, and why.
EXTRA_HEADER_NAMES = {
    ("openai", "retry-after"): "authored 429s: the SDK honours it; no public recording holds a real 429",
    ("anthropic", "x-should-retry"): "Anthropic error responses carry it and the SDK obeys it; public recordings "
    "of errors (pydantic-ai) dropped most headers",
}
GO_DURATION = r"(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)"
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
OPENAI_RATE_LIMIT = [f"x-ratelimit-{a}-{b}" for a in ("limit", "remaining", "reset") for b in ("requests", "tokens")]
ANTHROPIC_RATE_LIMIT = [
    f"anthropic-ratelimit-{b}-{a}"
    for a in ("limit", "remaining", "reset")
    for b in ("requests", "tokens", "input-tokens", "output-tokens")
]


@functools.lru_cache(maxsize=1)
def real_header_names() -> dict[str, frozenset[str]]:
    names: dict[str, set[str]] = {"openai": set(), "anthropic": set()}
    for path in real_recordings():
        for ex in exchanges(path):
            names[ex.provider] |= set(ex.headers)
    return {k: frozenset(v) for k, v in names.items()}


def header_problems(ex: Exchange) -> list[str]:
    """Header names real traffic has, the request-id the SDK exposes as ``_request_id``, and
    well-formed rate-limit headers where the lessons read them."""
    import re

    where = ex.where
    h = ex.headers
    problems = []
    known = real_header_names()[ex.provider]
    for name in h:
        if name not in known and (ex.provider, name) not in EXTRA_HEADER_NAMES:
            problems.append(f"{where}: header {name!r} appears in no real {ex.provider} recording")

    def need(name: str, pattern: str) -> None:
        value = ex.header(name)
        if value is None:
            problems.append(f"{where}: no {name} header")
        elif not re.fullmatch(pattern, value):
            problems.append(f"{where}: {name}: {value!r} is not shaped like {pattern}")

    rate_limited = ex.status in (200, 429) and ex.route in ("/v1/chat/completions", "/v1/responses", "/v1/messages")
    if ex.provider == "openai":
        need("x-request-id", r"req_[0-9a-f]{32}")
        need("openai-version", r"2020-10-01")
        need("openai-processing-ms", r"\d+")
        if rate_limited:
            for name in OPENAI_RATE_LIMIT:
                need(name, GO_DURATION if "reset" in name else r"\d+")
        expected_type = ("text/event-stream; charset=utf-8" if ex.is_sse
                         else "application/json; charset=utf-8" if ex.status >= 400 else "application/json")
        if ex.status >= 400 and ex.content_type == "application/json":
            expected_type = None  # real 400s come as either (pydantic-ai's recording has no charset)
    else:
        need("request-id", r"req_011C[0-9A-Za-z]{20}")
        if rate_limited:
            for name in ANTHROPIC_RATE_LIMIT:
                need(name, RFC3339 if name.endswith("reset") else r"\d+")
        if ex.is_sse and ex.header("cache-control") != "no-cache":
            problems.append(f"{where}: Anthropic streams carry cache-control: no-cache")
        if ex.status >= 400:
            try:
                body_id = ex.json().get("request_id")
            except (ValueError, AttributeError):
                body_id = None
            if body_id != ex.header("request-id"):
                problems.append(f"{where}: the error body's request_id {body_id!r} differs from its request-id header")
        expected_type = "text/event-stream; charset=utf-8" if ex.is_sse else None
        if ex.route.endswith("/results"):
            expected_type = None  # JSONL
        elif not ex.is_sse:
            expected_type = "application/json"
    if expected_type and ex.content_type != expected_type:
        problems.append(f"{where}: content-type {ex.content_type!r}, real traffic sends {expected_type!r}")
    return problems


ID_SHAPES = {  # what real traffic's ids look like, by kind of object
    "chat.completion": r"chatcmpl-[A-Za-z0-9]{20,}",
    "tool_call": r"call_[A-Za-z0-9]{20,}",
    "message": r"msg_01[A-Za-z0-9]{20,}",
    "tool_use": r"toolu_01[A-Za-z0-9]{20,}",
    "response": r"resp_[0-9a-f]{20,}",
    "response_message": r"msg_[0-9a-f]{20,}",
    "function_call": r"fc_[0-9a-f]{20,}",
    "message_batch": r"msgbatch_01[A-Za-z0-9]{20,}",
    "system_fingerprint": r"fp_[0-9a-f]{10}",
}


def _payloads(ex: Exchange) -> list[Any]:
    if ex.is_sse:
        return [json.loads(e.data) for e in parse_sse(ex.body.decode("utf-8")) if e.data and e.data != "[DONE]"]
    if ex.route.endswith("/results"):
        return [json.loads(line) for line in ex.body.decode("utf-8").splitlines() if line.strip()]
    try:
        return [ex.json()]
    except ValueError:
        return []


def id_problems(ex: Exchange) -> list[str]:
    """Every id in the response has the prefix real traffic uses for that kind of object."""
    import re

    problems: list[str] = []

    def expect(kind: str, value: Any, path: str) -> None:
        if not isinstance(value, str) or not re.fullmatch(ID_SHAPES[kind], value):
            problems.append(f"{ex.where} {path}: {value!r} is not a {kind} id ({ID_SHAPES[kind]})")

    def walk(node: Any, path: str, parent: str | None) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]", parent)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("object") or node.get("type")
        if "id" in node:
            if kind in ("chat.completion", "chat.completion.chunk"):
                expect("chat.completion", node["id"], path)
            elif parent == "tool_calls" and node.get("id") is not None:
                expect("tool_call", node["id"], path)
            elif kind == "message" and ex.provider == "anthropic":
                expect("message", node["id"], path)
            elif kind == "message" and ex.provider == "openai":
                expect("response_message", node["id"], path)
            elif kind == "tool_use":
                expect("tool_use", node["id"], path)
            elif kind == "response":
                expect("response", node["id"], path)
            elif kind == "function_call":
                expect("function_call", node["id"], path)
            elif kind == "message_batch":
                expect("message_batch", node["id"], path)
        if kind == "function_call" and "call_id" in node:
            expect("tool_call", node["call_id"], path)
        if node.get("system_fingerprint") is not None:
            expect("system_fingerprint", node["system_fingerprint"], path)
        if "tool_use_id" in node:
            expect("tool_use", node["tool_use_id"], path)
        for key, value in node.items():
            walk(value, f"{path}.{key}", key)

    for n, payload in enumerate(_payloads(ex)):
        walk(payload, f"body[{n}]" if ex.is_sse else "body", None)
    return problems


def request_id_problems(ex: Exchange) -> list[str]:
    """Ids the request carries back (tool results, assistant tool calls) have real prefixes too."""
    import re

    problems: list[str] = []

    def walk(node: Any, path: str, parent: str | None) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]", parent)
        elif isinstance(node, dict):
            checks = []
            if node.get("type") == "tool_use":
                checks.append(("tool_use", node.get("id")))
            if "tool_use_id" in node:
                checks.append(("tool_use", node["tool_use_id"]))
            if parent == "tool_calls":
                checks.append(("tool_call", node.get("id")))
            if "tool_call_id" in node:
                checks.append(("tool_call", node["tool_call_id"]))
            for kind, value in checks:
                if not isinstance(value, str) or not re.fullmatch(ID_SHAPES[kind], value):
                    problems.append(f"{ex.where} request{path}: {value!r} is not a {kind} id")
            for key, value in node.items():
                walk(value, f"{path}.{key}", key)

    walk(ex.request, "", None)
    return problems


# ---- calling the SDKs with a recorded request ----------------------------------------------


def sdk_kwargs(method: Any, body: dict) -> dict:
    """SDK keyword arguments for a recorded body; what the signature lacks goes in extra_body."""
    import inspect

    params = inspect.signature(method).parameters
    kwargs = {k: v for k, v in body.items() if k in params}
    extra = {k: v for k, v in body.items() if k not in params}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def sdk_raw_call(ex: Exchange, oai: Any, ant: Any) -> Any:
    """Make, through the official SDK, the call this recording answers; return the SDK's raw
    response (``.headers``, ``.parse()``). Errors raise the SDK's own exceptions."""
    body = dict(ex.request or {})
    if ex.provider == "openai":
        resource = {"/v1/chat/completions": oai.chat.completions, "/v1/responses": oai.responses}[ex.route]
        return resource.with_raw_response.create(**sdk_kwargs(resource.create, body))
    beta = ex.query.get("beta") == ["true"]
    messages = ant.beta.messages if beta else ant.messages
    if ex.route == "/v1/messages":
        return messages.with_raw_response.create(**sdk_kwargs(messages.create, body))
    if ex.route == "/v1/messages/count_tokens":
        return messages.with_raw_response.count_tokens(**sdk_kwargs(messages.count_tokens, body))
    batches = messages.batches
    if ex.method == "POST" and ex.route == "/v1/messages/batches":
        return batches.with_raw_response.create(**sdk_kwargs(batches.create, body))
    batch_id = ex.route.split("/")[4]
    if ex.route.endswith("/results"):
        return batches.with_raw_response.results(batch_id)
    return batches.with_raw_response.retrieve(batch_id)


def sdk_payload(ex: Exchange, parsed: Any) -> Any:
    """What the SDK handed over, as JSON, to compare with what was recorded."""
    if ex.is_sse or ex.route.endswith("/results"):
        return [item.to_dict(mode="json") for item in parsed]
    return parsed.to_dict(mode="json")


def recorded_payload(ex: Exchange) -> Any:
    """The recorded body as the SDK should hand it over (stream: data payloads minus pings, [DONE])."""
    if ex.is_sse:
        return [json.loads(e.data) for e in parse_sse(ex.body.decode("utf-8"))
                if e.data and e.data != "[DONE]" and e.event != "ping"]
    return _payloads(ex) if ex.route.endswith("/results") else ex.json()
