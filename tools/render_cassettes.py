"""Render authored cassettes from short specs, in the exact wire format of each provider.

    python tools/render_cassettes.py            # every tools/specs/*.yaml -> notebooks/cassettes/
    python tools/render_cassettes.py 04_streaming

The shipped cassettes were built on machines with no access to the providers, so their answers are
*authored*: written to read like a real model's answer and shaped exactly like real traffic (ids,
headers, usage, SSE event order; compare with ../shared/wire/real/). Every cassette says so in its
``provenance``. ``make record`` with API keys replaces them with real recordings.

A spec (tools/specs/NN_name.yaml) looks like::

    notebook: 04_streaming
    pacing: required            # optional: replay timing even when LESSON_REPLAY_SPEED=0
    interactions:
      - cell: 3dc1f18f          # the id of the notebook cell that makes this call (tools/tag_cells.py writes it)
        provider: openai        # or anthropic
        request: {...}          # the JSON body the notebook's SDK call sends, exactly
        reply:
          text: "..."           # the assistant's text (markdown welcome)
          tool_calls:           # optional: [{name: get_weather, arguments: {city: Tokyo}}]
          finish_reason: stop   # optional (OpenAI); stop_reason for Anthropic
        latency: 0.5            # optional: seconds before the response starts
        tokens_per_second: 70   # optional: stream pace
      - provider: openai
        request: {...}
        error: {status: 429, message: "...", type: ..., code: ..., headers: {retry-after: "1"}}
        fault: true             # optional: record mode keeps replaying this authored answer
      - provider: anthropic
        method: GET             # optional, with path: any other endpoint
        path: /v1/messages/batches/msgbatch_...
        raw: {status: 200, body: {...}, content_type: application/json}

Ids, timestamps and padding are drawn from a random generator seeded by the notebook name, so
re-rendering an unchanged spec gives an identical file.
"""

from __future__ import annotations

import json
import random
import string
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lessonlib.cassette import Cassette, Interaction, _check_interaction, _Loader  # noqa: E402
from lessonlib.providers import PROVIDERS  # noqa: E402
from lessonlib.tokens import count_messages, count_text  # noqa: E402


class UsageTooSmall(ValueError):
    """An authored usage bills fewer tokens than the visible text it is for."""


def at_least(what: str, billed: int, visible: int) -> int:
    """Authored usage must never be smaller than the text it bills (o200k tokens of that text)."""
    if billed < visible:
        raise UsageTooSmall(f"{what} is {billed}, but the text it bills is {visible} o200k tokens: "
                            "raise the number in the spec, or shorten the text")
    return billed


def _texts(value: Any) -> list[str]:
    """Every string a JSON-like value holds (for what a prompt or an answer shows)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def check_raw_usage(body: Any, request: dict[str, Any] | None) -> None:
    """Authored usage inside a raw body (Responses API, count_tokens, message batches' JSONL results)."""
    if isinstance(body, str):  # JSONL (batch results), or any other text
        for line in body.splitlines():
            try:
                _check_usage_in(json.loads(line), request)
            except json.JSONDecodeError:
                return
    else:
        _check_usage_in(body, request)


def _shown(block: dict[str, Any]) -> str:
    if block.get("type") in ("tool_use", "function_call"):
        return block.get("arguments") or json.dumps(block.get("input", {}))
    return block.get("text") or block.get("refusal") or ""


def _check_usage_in(value: Any, request: dict[str, Any] | None) -> None:
    if isinstance(value, list):
        for item in value:
            _check_usage_in(item, request)
        return
    if not isinstance(value, dict):
        return
    if set(value) == {"input_tokens"} and request:  # messages/count_tokens
        prompt = _texts(request.get("system")) + _texts(request.get("messages")) + _texts(request.get("tools"))
        at_least("count_tokens input_tokens", value["input_tokens"], sum(count_text(t) for t in prompt))
    usage = value.get("usage")
    if isinstance(usage, dict) and "output_tokens" in usage:
        if value.get("object") == "response":  # Responses API: output items, each with content parts
            blocks = [part for item in value.get("output") or [] for part in item.get("content") or []]
            blocks += [item for item in value.get("output") or [] if item.get("type") == "function_call"]
        else:  # an Anthropic message
            blocks = value.get("content") or []
        at_least("usage.output_tokens", usage["output_tokens"], sum(count_text(_shown(b)) for b in blocks))
    for item in value.values():
        _check_usage_in(item, request)


SPECS = ROOT / "tools" / "specs"
OUT = ROOT / "notebooks" / "cassettes"
BASE62 = string.ascii_letters + string.digits
EPOCH = datetime(2026, 11, 24, 14, 0, 0, tzinfo=timezone.utc)  # when the authored answers are dated
STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 408: "Request Timeout",
               429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Unavailable", 529: "Site Overloaded"}
OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                      429: "requests", 500: "server_error", 503: "server_error"}
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                         429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}



class Renderer:
    def __init__(self, notebook: str) -> None:
        self.rng = random.Random(notebook)
        self.clock = EPOCH + timedelta(minutes=self.rng.randint(0, 600))

    # ---- small plausible values -------------------------------------------------------------

    def token(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=self.rng.randint(4, 40))
        return self.clock

    def openai_model(self, requested: str) -> str:
        """The API answers with the dated snapshot behind an alias, where the SDK lists one."""
        from typing import get_args

        from openai.types.shared.chat_model import ChatModel

        dated = sorted(m for m in get_args(ChatModel) if m.startswith(requested + "-20"))
        return dated[-1] if dated else requested

    def openai_headers(self, content_type: str, processing_ms: int, prompt_tokens: int) -> dict[str, list[str]]:
        when = self.clock
        return {
            "date": [when.strftime("%a, %d %b %Y %H:%M:%S GMT")],
            "content-type": [content_type],
            "access-control-expose-headers": ["X-Request-ID"],
            "openai-processing-ms": [str(processing_ms)],
            "openai-version": ["2020-10-01"],
            "x-envoy-upstream-service-time": [str(processing_ms + self.rng.randint(3, 30))],
            "x-ratelimit-limit-requests": ["10000"],
            "x-ratelimit-limit-tokens": ["10000000"],
            "x-ratelimit-remaining-requests": ["9999"],
            "x-ratelimit-remaining-tokens": [str(10000000 - prompt_tokens - 50)],
            "x-ratelimit-reset-requests": ["6ms"],
            "x-ratelimit-reset-tokens": ["0s"],
            "x-request-id": ["req_" + self.token("0123456789abcdef", 32)],
            "strict-transport-security": ["max-age=31536000; includeSubDomains; preload"],
            "x-content-type-options": ["nosniff"],
            "cf-cache-status": ["DYNAMIC"],
            "server": ["cloudflare"],
            "alt-svc": ['h3=":443"; ma=86400'],
        }

    def anthropic_headers(self, content_type: str, processing_ms: int, input_tokens: int, output_tokens: int) -> dict[str, list[str]]:
        when = self.clock
        reset = (when + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "date": [when.strftime("%a, %d %b %Y %H:%M:%S GMT")],
            "content-type": [content_type],
            "anthropic-ratelimit-input-tokens-limit": ["2000000"],
            "anthropic-ratelimit-input-tokens-remaining": [str(2000000 - input_tokens)],
            "anthropic-ratelimit-input-tokens-reset": [reset],
            "anthropic-ratelimit-output-tokens-limit": ["400000"],
            "anthropic-ratelimit-output-tokens-remaining": [str(400000 - output_tokens)],
            "anthropic-ratelimit-output-tokens-reset": [reset],
            "anthropic-ratelimit-requests-limit": ["4000"],
            "anthropic-ratelimit-requests-remaining": ["3999"],
            "anthropic-ratelimit-requests-reset": [reset],
            "anthropic-ratelimit-tokens-limit": ["2400000"],
            "anthropic-ratelimit-tokens-remaining": [str(2400000 - input_tokens - output_tokens)],
            "anthropic-ratelimit-tokens-reset": [reset],
            "request-id": ["req_011C" + self.token(BASE62, 20)],
            "strict-transport-security": ["max-age=31536000; includeSubDomains; preload"],
            "x-envoy-upstream-service-time": [str(processing_ms)],
            "cf-cache-status": ["DYNAMIC"],
            "server": ["cloudflare"],
            "x-robots-tag": ["none"],
        }
        if "event-stream" in content_type:
            headers["cache-control"] = ["no-cache"]
        return headers

    # ---- streaming pace ----------------------------------------------------------------------

    def event_times(self, n: int, tps: float, first: float = 0.03) -> list[float]:
        times, t = [], first
        for _ in range(n):
            times.append(round(t, 3))
            t += (1.0 / tps) * self.rng.uniform(0.6, 1.4)
        return times

    @staticmethod
    def pieces(text: str, model: str) -> list[str]:
        """Split text into token-sized pieces, as a model streams it."""
        from lessonlib.tokens import _encoding_for

        enc = _encoding_for(model)
        out, pending = [], b""
        for tok in enc.encode(text, disallowed_special=()):
            pending += enc.decode_single_token_bytes(tok)
            try:
                out.append(pending.decode("utf-8"))
                pending = b""
            except UnicodeDecodeError:
                continue  # a multi-byte character spans tokens: send it whole
        if pending:
            out.append(pending.decode("utf-8", "replace"))
        return out

    # ---- OpenAI ------------------------------------------------------------------------------

    def openai_prompt_tokens(self, request: dict[str, Any]) -> int:
        # The course's own estimate (lessonlib.tokens), which comes within 3 tokens of the bill on 10 of the
        # 11 real recordings in tests/wire/real/ (tests/test_tokens.py): messages, tools, JSON schema.
        return count_messages(request.get("messages", []), request.get("model"), tools=request.get("tools"),
                              response_format=request.get("response_format"))

    def openai_chat(self, spec: dict[str, Any]) -> dict[str, Any]:
        request, reply = spec["request"], spec.get("reply", {})
        model = self.openai_model(request["model"])
        created = int(self.tick().timestamp())
        cid = "chatcmpl-" + self.token(BASE62, 29)
        text = reply.get("text")
        calls = [
            {"id": "call_" + self.token(BASE62, 24), "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}), ensure_ascii=False, separators=(",", ":"))}}
            for c in reply.get("tool_calls") or []
        ]
        finish = reply.get("finish_reason") or ("tool_calls" if calls else "stop")
        prompt = self.openai_prompt_tokens(request)
        visible = (count_text(text, model) + count_text(reply.get("refusal"), model)
                   + sum(count_text(c["function"]["arguments"], model) for c in calls))
        completion = visible + 6 * len(calls) + reply.get("reasoning_tokens", 0)
        completion = at_least("completion_tokens", reply.get("completion_tokens", completion),
                              visible + reply.get("reasoning_tokens", 0))
        usage = {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reply.get("reasoning_tokens", 0), "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }
        fingerprint = "fp_" + self.token("0123456789abcdef", 10)
        tps = float(spec.get("tokens_per_second", 80))
        latency = float(spec.get("latency", round(self.rng.uniform(0.35, 0.8), 2)))
        if request.get("stream"):
            return self.openai_stream(cid, created, model, fingerprint, text, calls, finish, usage, request, latency, tps)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": reply.get("refusal"), "annotations": []}
        if calls:
            message["tool_calls"] = calls
        body = {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage, "service_tier": "default", "system_fingerprint": fingerprint,
        }
        generation = latency + completion / tps
        return {
            "status": {"code": 200, "message": "OK"},
            "headers": self.openai_headers("application/json", int(generation * 1000), prompt),
            "body": {"string": json.dumps(body, indent=2, ensure_ascii=False) + "\n"},
            "latency": round(generation, 3),
        }

    def openai_stream(self, cid, created, model, fingerprint, text, calls, finish, usage, request, latency, tps):
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, choices: list | None = None) -> str:
            data: dict[str, Any] = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "service_tier": "default", "system_fingerprint": fingerprint,
                "choices": choices if choices is not None else
                [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                data["usage"] = None
            data["obfuscation"] = self.token(BASE62, self.rng.randint(2, 14))
            return "data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":"))

        events = []
        if calls:
            for i, call in enumerate(calls):
                first = {"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
                delta: dict[str, Any] = {"tool_calls": [first]}
                if i == 0:
                    delta = {"role": "assistant", "content": None, "tool_calls": [first], "refusal": None}
                events.append(chunk(delta))
                for piece in self.pieces(call["function"]["arguments"], model):
                    events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        else:
            events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            for piece in self.pieces(text or "", model):
                events.append(chunk({"content": piece}))
        events.append(chunk({}, finish))
        if include_usage:
            last = json.loads(events[-1][len("data: "):])
            last_usage = {k: v for k, v in last.items() if k != "obfuscation"}
            last_usage.update({"choices": [], "usage": usage, "obfuscation": self.token(BASE62, 8)})
            events.append("data: " + json.dumps(last_usage, ensure_ascii=False, separators=(",", ":")))
        events.append("data: [DONE]")
        times = self.event_times(len(events), tps)
        return {
            "status": {"code": 200, "message": "OK"},
            "headers": self.openai_headers("text/event-stream; charset=utf-8", int(latency * 1000), usage["prompt_tokens"]),
            "body": {"string": "\n\n".join(events) + "\n\n"},
            "latency": latency,
            "event_times": times,
        }

    # ---- Anthropic ---------------------------------------------------------------------------

    def anthropic_input_tokens(self, request: dict[str, Any]) -> int:
        model = None  # Anthropic's tokenizer is not public; o200k counts come within ~10%
        system = request.get("system")
        if isinstance(system, list):
            system = " ".join(b.get("text", "") for b in system)
        total = count_messages(request.get("messages", []), model) + count_text(system, model)
        if request.get("tools"):
            total += count_text(json.dumps(request["tools"]), model) + 300  # tool-use system prompt
        if request.get("output_config"):
            total += count_text(json.dumps(request["output_config"]), model) // 2 + 50
        return int(total * 1.08)

    def anthropic_message(self, spec: dict[str, Any]) -> dict[str, Any]:
        request, reply = spec["request"], spec.get("reply", {})
        self.tick()
        mid = "msg_01" + self.token(BASE62, 22)
        content: list[dict[str, Any]] = []
        if reply.get("text"):
            content.append({"type": "text", "text": reply["text"]})
        for call in reply.get("tool_calls") or []:
            content.append({"type": "tool_use", "id": "toolu_01" + self.token(BASE62, 22), "name": call["name"], "input": call.get("arguments", {})})
        stop = reply.get("stop_reason") or ("tool_use" if reply.get("tool_calls") else "end_turn")
        input_tokens = self.anthropic_input_tokens(request)
        visible = count_text(reply.get("text")) + sum(count_text(json.dumps(c.get("arguments", {})))
                                                      for c in reply.get("tool_calls") or [])
        output_tokens = reply.get("output_tokens") or max(1, int(
            count_text(reply.get("text")) * 1.08
            + sum(count_text(json.dumps(c.get("arguments", {}))) + 20 for c in reply.get("tool_calls") or [])))
        output_tokens = at_least("output_tokens", output_tokens, visible)
        usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                 "output_tokens": output_tokens, "service_tier": "standard"}
        model = request["model"]
        tps = float(spec.get("tokens_per_second", 65))
        latency = float(spec.get("latency", round(self.rng.uniform(0.45, 1.0), 2)))
        if request.get("stream"):
            return self.anthropic_stream(mid, model, content, stop, usage, latency, tps)
        body = {"model": model, "id": mid, "type": "message", "role": "assistant", "content": content,
                "stop_reason": stop, "stop_sequence": None, "usage": usage}
        generation = latency + output_tokens / tps
        return {
            "status": {"code": 200, "message": "OK"},
            "headers": self.anthropic_headers("application/json", int(generation * 1000), input_tokens, output_tokens),
            "body": {"string": json.dumps(body, ensure_ascii=False, separators=(",", ":"))},
            "latency": round(generation, 3),
        }

    def anthropic_stream(self, mid, model, content, stop, usage, latency, tps):
        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: " + json.dumps(data, ensure_ascii=False, separators=(",", ":"))

        start_usage = dict(usage, output_tokens=1)
        events = [event("message_start", {"type": "message_start", "message": {
            "model": model, "id": mid, "type": "message", "role": "assistant", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
        for index, block in enumerate(content):
            if block["type"] == "text":
                events.append(event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
                if index == 0:
                    events.append(event("ping", {"type": "ping"}))
                for piece in self.pieces(block["text"], "o200k"):
                    events.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}))
            else:
                events.append(event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
                if index == 0:
                    events.append(event("ping", {"type": "ping"}))
                args = json.dumps(block["input"], ensure_ascii=False)
                events.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}))
                for i in range(0, len(args), 12):
                    events.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": args[i:i + 12]}}))
            events.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        final_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")}
        events.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": final_usage}))
        events.append(event("message_stop", {"type": "message_stop"}))
        return {
            "status": {"code": 200, "message": "OK"},
            "headers": self.anthropic_headers("text/event-stream; charset=utf-8", int(latency * 1000), usage["input_tokens"], usage["output_tokens"]),
            "body": {"string": "\n\n".join(events) + "\n\n"},
            "latency": latency,
            "event_times": self.event_times(len(events), tps),
        }

    # ---- errors and other endpoints ----------------------------------------------------------

    def error(self, provider: str, spec: dict[str, Any]) -> dict[str, Any]:
        err = spec["error"]
        status = int(err["status"])
        self.tick()
        if provider == "openai":
            body = {"error": {"message": err["message"], "type": err.get("type", OPENAI_ERROR_TYPES.get(status, "server_error")),
                              "param": err.get("param"), "code": err.get("code")}}
            text = json.dumps(body, indent=4) + "\n"
            headers = self.openai_headers("application/json; charset=utf-8", self.rng.randint(5, 40), 0)
            if status >= 500:
                text = json.dumps(body, indent=2) + "\n"
        else:
            rid = "req_011C" + self.token(BASE62, 20)
            body = {"type": "error", "error": {"type": err.get("type", ANTHROPIC_ERROR_TYPES.get(status, "api_error")),
                                               "message": err["message"]}, "request_id": rid}
            text = json.dumps(body, separators=(",", ":"))
            headers = self.anthropic_headers("application/json", self.rng.randint(5, 40), 0, 0)
            headers["request-id"] = [rid]
            headers["x-should-retry"] = ["true" if status in (408, 409, 429) or status >= 500 else "false"]
        for name, value in (err.get("headers") or {}).items():
            headers[name.lower()] = [str(value)]
        return {"status": {"code": status, "message": STATUS_TEXT.get(status, "Error")}, "headers": headers,
                "body": {"string": text}, "latency": float(spec.get("latency", 0.08))}

    def raw(self, provider: str, spec: dict[str, Any]) -> dict[str, Any]:
        raw = spec["raw"]
        self.tick()
        status = int(raw.get("status", 200))
        content_type = raw.get("content_type", "application/json")
        body = raw.get("body", "")
        check_raw_usage(body, spec.get("request"))
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=2, ensure_ascii=False) + "\n" if provider == "openai" else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = (self.openai_headers(content_type, self.rng.randint(20, 400), 0) if provider == "openai"
                   else self.anthropic_headers(content_type, self.rng.randint(20, 400), 0, 0))
        for name, value in (raw.get("headers") or {}).items():
            headers[name.lower()] = [str(value)]
        out = {"status": {"code": status, "message": STATUS_TEXT.get(status, "OK")}, "headers": headers,
               "body": {"string": body}, "latency": float(spec.get("latency", 0.15))}
        if raw.get("event_times"):
            out["event_times"] = raw["event_times"]
        return out

    def render(self, spec: dict[str, Any]) -> dict[str, Any]:
        provider = spec["provider"]
        method = spec.get("method", "POST").upper()
        path = spec.get("path", PROVIDERS[provider].endpoint)
        if "error" in spec:
            response = self.error(provider, spec)
        elif "raw" in spec:
            response = self.raw(provider, spec)
        elif provider == "openai":
            response = self.openai_chat(spec)
        else:
            response = self.anthropic_message(spec)
        for key in ("delay", "fault"):
            if key in spec:
                response[key] = spec[key]
        request_body = spec.get("request")
        req: dict[str, Any] = {"method": method, "uri": PROVIDERS[provider].origin(PROVIDERS[provider].upstream) + path,
                               "body": json.dumps(request_body, indent=2, ensure_ascii=False) if request_body is not None else None,
                               "headers": {"content-type": ["application/json"]} if request_body is not None else {}}
        if provider == "anthropic":
            from anthropic._constants import ANTHROPIC_API_VERSION  # what the pinned SDK sends

            req["headers"]["anthropic-version"] = [ANTHROPIC_API_VERSION]
        return ({"cell": spec["cell"]} if spec.get("cell") else {}) | {"request": req, "response": response}


def render_spec(spec_path: Path, out_dir: Path = OUT) -> Path:
    try:
        spec = yaml.load(spec_path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise SystemExit(f"{spec_path.name} is not valid YAML: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("notebook"), str) \
            or not isinstance(spec.get("interactions"), list):
        raise SystemExit(f"{spec_path.name}: a spec is a mapping with `notebook:` (the notebook's name) and "
                         "`interactions:` (a list); see the docstring of tools/render_cassettes.py")
    if spec.get("pacing", "required") != "required":
        raise SystemExit(f"{spec_path.name}: pacing: {spec['pacing']!r}; the only value is `required` (or no pacing:)")
    notebook = spec["notebook"]
    if out_dir == OUT and notebook != spec_path.stem:  # a copied spec whose `notebook:` was not changed
        raise SystemExit(f"{spec_path.name}: `notebook: {notebook}` would overwrite cassettes/{notebook}.yaml, which "
                         f"tools/specs/{notebook}.yaml renders; a spec renders the cassette of its own name")
    renderer = Renderer(notebook)
    cassette = Cassette(
        path=out_dir / f"{notebook}.yaml",
        provenance={
            "kind": "authored",
            "note": ("AUTHORED, NOT RECORDED: these answers were written for the course and rendered to the "
                     "providers' exact wire format by tools/render_cassettes.py from "
                     f"tools/specs/{spec_path.name}. They are not real model output. Run `make record` "
                     "with API keys to replace them with real recordings."),
            "rendered_by": "tools/render_cassettes.py",
            "spec": f"tools/specs/{spec_path.name}",
        },
        pacing_required="pacing" in spec,
    )
    for i, item in enumerate(spec["interactions"]):
        if isinstance(item, dict) and "provider" in item and item["provider"] not in PROVIDERS:
            raise SystemExit(f"{spec_path.name}: interaction #{i}: provider {item['provider']!r} is not one of "
                             f"{', '.join(PROVIDERS)}")
        try:
            raw = renderer.render(item)
        except KeyError as exc:
            raise SystemExit(f"{spec_path.name}: interaction #{i} is missing {exc}") from None
        except UsageTooSmall as exc:
            raise SystemExit(f"{spec_path.name}: interaction #{i}: {exc}") from None
        except (TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:  # a string for a mapping, a 0
            raise SystemExit(f"{spec_path.name}: interaction #{i} has a value of the wrong kind "
                             f"({type(exc).__name__}: {exc}); compare it with the format in the docstring of "
                             "tools/render_cassettes.py") from None
        if item.get("note"):
            raw["note"] = item["note"]
        try:  # what Cassette.load checks: a spec's slip is named here, not when the notebook runs
            _check_interaction(raw)
        except ValueError as exc:
            raise SystemExit(f"{spec_path.name}: interaction #{i} renders {' '.join(exc.args)}; fix the spec") from None
        cassette.interactions.append(Interaction(i, raw["request"]["method"], "", None, raw))
    return cassette.save()


def main(argv: list[str]) -> int:
    names = argv or [p.stem for p in sorted(SPECS.glob("*.yaml"))]
    for name in names:
        spec_path = SPECS / f"{name}.yaml"
        if not spec_path.exists():
            print(f"no spec {spec_path}", file=sys.stderr)
            return 1
        out = render_spec(spec_path)
        print(f"rendered {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
