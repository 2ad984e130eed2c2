"""Cassette files: load, match, scrub and save recorded HTTP interactions.

A cassette is vcrpy's YAML layout (``interactions: [{request, response}]``) plus a few extra keys
that vcrpy ignores and our replay server reads:

- top level ``provenance``: ``{kind: authored | recorded, ...}`` — where the answers come from;
- top level ``pacing: required``: replay this cassette's timing even when ``LESSON_REPLAY_SPEED=0``
  (for lessons about time: streaming, timeouts, async);
- ``response.latency``: seconds before the status line, scaled by ``LESSON_REPLAY_SPEED``;
- ``response.delay``: seconds before the status line, never scaled (to provoke a real timeout);
- ``response.event_times``: for a ``text/event-stream`` body, the time of each SSE event in
  seconds after the status line, scaled by ``LESSON_REPLAY_SPEED``;
- ``response.fault: true``: an authored fault (a 429, a timeout) that record mode plays too (and keeps).

Taught in: 01_setup (what replay does). Everything here is plumbing, not lesson.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import CassetteError
from .redact import hide_keys, scrub_text, scrub_url

__all__ = ["Cassette", "CassetteError", "Interaction", "SCRUBBED_HEADERS", "TRANSPORT_HEADERS", "canonical_body",
           "describe_difference", "match_path", "response_headers"]

# Headers that identify an account or carry a credential. Never written to disk.
SCRUBBED_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-organization",
                              "openai-project", "anthropic-organization-id"})
# Request headers worth keeping in a cassette (the rest are SDK telemetry that changes every release).
KEPT_REQUEST_HEADERS = ("content-type", "anthropic-version", "anthropic-beta", "openai-beta")
# Response headers that describe the transport, not the answer; replay recomputes them.
TRANSPORT_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"})

MAX_BODY_BYTES = 64 * 1024 * 1024  # a gzip body may not grow past this when decompressed


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's C parser is ~30x faster on big cassettes
    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A key written twice in one mapping is an error (YAML 1.2); PyYAML kept the last, dropping the first."""
        seen = set()
        for key in (key for key, _ in node.value if isinstance(key, yaml.ScalarNode)):
            if key.value in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key.value!r} is in one mapping twice",
                                                        key.start_mark)
            seen.add(key.value)
        return super().construct_mapping(node, deep)


def _check_interaction(item: Any) -> None:
    """Validate one interaction's fields, or raise ValueError(field, what is wrong)."""
    def need(ok: bool, where: str, why: str) -> None:
        if not ok:
            raise ValueError(where, why)

    def has(parent: dict[str, Any], key: str, where: str) -> Any:
        need(parent.get(key) is not None, where, "missing")
        return parent[key]

    def seconds(value: Any, most: float) -> bool:  # a bool is an int to Python, not a number of seconds here
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= most

    need(isinstance(item, dict), "", "is not a mapping with request: and response:")
    need(isinstance(item.get("cell", ""), str), "cell", "that is not a notebook cell's id (text)")
    req, resp = has(item, "request", "request"), has(item, "response", "response")
    need(isinstance(req, dict), "request", "that is not a mapping")
    need(isinstance(resp, dict), "response", "that is not a mapping")
    method, uri, status = has(req, "method", "request.method"), has(req, "uri", "request.uri"), resp.get("status")
    need(isinstance(method, str) and method.isalpha(), "request.method", f"{method!r}, not a word like POST")
    need(isinstance(uri, str), "request.uri", "that is not text")
    need(isinstance(req.get("body"), (str, bytes, type(None))), "request.body", "that is not text (JSON as a string)")
    need(isinstance(status, dict), "response.status", "missing" if status is None else "that is not a mapping")
    code = has(status, "code", "response.status.code")
    need(type(code) is int and 200 <= code <= 599, "response.status.code",  # a 1xx: the SDK waits for the answer
         f"{code!r}, not an HTTP status (an integer from 200 to 599)")
    need(isinstance(status.get("message"), (str, type(None))), "response.status.message", "that is not text")
    need(not re.search(r"[\r\n\0]|[^\x00-\xff]", status.get("message") or ""), "response.status.message",
         "that is not one line of Latin-1 text (all an HTTP status line can carry)")
    for name in ("latency", "delay"):
        value = resp.get(name)
        need(value is None or seconds(value, 600), f"response.{name}",
             f"{value!r}, not a number of seconds from 0 to 600")
    need(isinstance(resp.get("fault", False), bool), "response.fault", "that is not true or false")
    times = resp.get("event_times")
    need(times is None or (isinstance(times, list) and all(seconds(t, 3600) for t in times)),
         "response.event_times", "that is not a list of seconds (numbers from 0 to 3600)")
    headers = resp.get("headers")
    need(headers is None or isinstance(headers, dict), "response.headers", "that is not a mapping of name: [values]")
    for name, values in (headers or {}).items():
        need(isinstance(name, str) and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) is not None,
             "response.headers", f"with a name {str(name)[:40]!r} that is not a header name")
        for value in values if isinstance(values, list) else [values]:
            need(isinstance(value, (str, int, float)) and not re.search(r"[\r\n\0]", str(value)),
                 f"response.headers.{name}", "with a value that is not one line of text")
            need(not re.search(r"[^\x00-\xff]", str(value)), f"response.headers.{name}",
                 "with a character beyond Latin-1 (an HTTP header cannot carry it)")
    for part, parent in (("request", req), ("response", resp)):  # pydantic-ai's JSON bodies, written as YAML
        try:
            json.dumps(parent.get("parsed_body"))
        except (TypeError, ValueError):  # a YAML date or !!binary is no JSON value (nor a loop of &anchors)
            need(False, f"{part}.parsed_body", "that is not JSON (quote a date or time as text)")
    body = resp.setdefault("body", {"string": ""})
    need(isinstance(body, dict) and isinstance(body.setdefault("string", ""), (str, bytes)), "response.body",
         "that is not a mapping with string: (text or !!binary)")


def canonical_body(body: str | bytes | None) -> Any:
    """The part of a request body that matching compares: parsed JSON, or the raw text."""
    if not body:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fmt(value: Any) -> str:
    text = hide_keys(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value))
    return text if len(text) <= 160 else text[:157] + "..."


def _differences(recorded: Any, sent: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf-level differences between two JSON values, as (path, recorded, sent)."""
    lists = isinstance(recorded, list) and isinstance(sent, list)
    if lists:  # compared like mappings of index -> item
        recorded, sent = dict(enumerate(recorded)), dict(enumerate(sent))
    elif not (isinstance(recorded, dict) and isinstance(sent, dict)):
        same = recorded == sent and type(recorded) is type(sent)  # as matching does: 0 is not 0.0, true is not 1
        return [] if same else [(path or "body", recorded, sent)]
    out: list[tuple[str, Any, Any]] = []
    for key in recorded | sent:  # the recorded keys in order, then those only sent
        sub = f"{path}[{key}]" if lists else f"{path}.{key}" if path else str(key)
        if key in recorded and key in sent:
            out.extend(_differences(recorded[key], sent[key], sub))
        else:
            out.append((sub, recorded.get(key, "<missing>"), sent.get(key, "<missing>")))
    return out


def describe_difference(recorded: Any, sent: Any, limit: int = 3) -> tuple[int, str]:
    """How far apart two request bodies are, and a few lines saying where."""
    diffs = _differences(recorded, sent)
    lines = [f"  at {where}:\n    recorded: {_fmt(rec)}\n    sent:     {_fmt(got)}"
             for where, rec, got in diffs[:limit]]
    if len(diffs) > limit:
        lines.append(f"  (and {len(diffs) - limit} more differences)")
    return len(diffs), "\n".join(lines)


@dataclass
class Interaction:
    """One recorded request and its response, as stored in the YAML file."""

    index: int
    method: str
    path: str  # path plus query, e.g. /v1/chat/completions or /v1/messages?beta=true
    body: Any  # canonical request body
    raw: dict[str, Any]  # the YAML mapping as loaded (request + response)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.method, self.path, json.dumps(self.body, sort_keys=True))

    @property
    def response(self) -> dict[str, Any]:
        return self.raw["response"]

    @property
    def cell(self) -> str | None:
        """The id of the notebook cell that made it (replay gives a cell its own recordings, run in any order)."""
        return self.raw.get("cell")

    @cached_property
    def _bytes(self) -> bytes:
        """Stored text, a gzip ``!!binary`` body (decompressed, at most MAX_BODY_BYTES), or the ``parsed_body``
        mapping of pydantic-ai's cassettes (as compact JSON). Raises ValueError(field, why)."""
        resp = self.response
        if "parsed_body" in resp and not resp["body"].get("string"):
            return json.dumps(resp["parsed_body"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        raw = resp["body"]["string"]
        if isinstance(raw, str):
            return raw.encode("utf-8")
        if raw[:2] == b"\x1f\x8b":
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                    raw = fh.read(MAX_BODY_BYTES + 1)
            except (OSError, EOFError) as exc:
                raise ValueError("response.body.string", f"that is gzip but does not decompress ({exc})") from None
            if len(raw) > MAX_BODY_BYTES:
                raise ValueError("response.body.string", f"that decompresses to more than {MAX_BODY_BYTES >> 20} MB")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("response.body.string", "that is binary but neither gzip nor UTF-8 text") from None
        return raw

    def response_body(self) -> bytes:
        """The response bytes to send (decoded once, when the cassette is loaded)."""
        return self._bytes


def match_path(path: str) -> str:
    """The path and query that matching compares. ``beta=true`` is dropped: older anthropic SDKs
    (and recordings made with them) add ``?beta=true`` to beta calls, anthropic 2.x does not, and
    the API serves both alike."""
    if path.startswith("/"):  # a request's path: "//v1/x" is a path here, not a URL with the host "v1"
        route, _, query = path.partition("#")[0].partition("?")
    else:
        parts = urlsplit(path)
        route, query = parts.path, parts.query
    query = "&".join(p for p in query.split("&") if p and p != "beta=true")
    return route + (f"?{query}" if query else "")


@dataclass
class Cassette:
    """The interactions of one notebook (which ones were played is the replay server's bookkeeping)."""

    path: Path
    interactions: list[Interaction] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    pacing_required: bool = False

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Cassette":
        path = Path(path)
        if not path.exists():
            raise CassetteError(path, "does not exist", fix=f"Restore it with `git checkout -- {path.name}` in "
                                "notebooks/cassettes, or record it with LESSON_MODE=record and API keys in .env.")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise CassetteError(path, f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        except UnicodeDecodeError:
            raise CassetteError(path, "is not UTF-8 text") from None
        except OSError as exc:
            raise CassetteError(path, f"cannot be read ({exc.strerror or exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise CassetteError(path, "has no `interactions:` list, so it is not a cassette")
        provenance = data["provenance"] if isinstance(data.get("provenance"), dict) else {}
        models = provenance.get("models") or {}  # setup() replays with these (issue 13)
        if not (isinstance(models, dict) and all(isinstance(m, str) for m in models.values())):
            raise CassetteError(path, "has provenance.models that is not a mapping of provider: model name",
                                field="provenance.models")
        if data.get("pacing", "required") != "required":
            raise CassetteError(path, f"has pacing: {data['pacing']!r}; the only value is `required` (or no pacing:)",
                                field="pacing")
        cassette = cls(path=path, provenance=provenance, pacing_required="pacing" in data)
        for i, item in enumerate(data["interactions"]):
            try:
                _check_interaction(item)
                req = item["request"]
                body = canonical_body(req.get("body"))
                if body is None and "parsed_body" in req:  # pydantic-ai's cassettes keep the JSON as a mapping
                    body = req["parsed_body"]
                interaction = Interaction(index=i, method=req["method"].upper(), path=match_path(req["uri"]),
                                          body=body, raw=item)
                interaction.response_body()
            except ValueError as exc:
                where, why = exc.args if len(exc.args) == 2 else ("request.uri", str(exc))
                what = f"is missing {where}" if why == "missing" else f"has {where} {why}" if where else why
                raise CassetteError(path, what, index=i, field=where) from None
            cassette.interactions.append(interaction)
        return cassette

    # ---- writing (record mode) -------------------------------------------------------------

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write atomically: a temporary file in the same folder, then a rename over the target."""
        data: dict[str, Any] = {"provenance": self.provenance}
        if self.pacing_required:
            data["pacing"] = "required"
        data["interactions"] = [i.raw for i in self.interactions]
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
        target = Path(path or self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a cassette is an ordinary project file
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def add(self, *, method: str, uri: str, request_headers: dict[str, str], request_body: bytes, status: int,
            reason: str, response_headers: list[tuple[str, str]], response_body: bytes,
            event_times: list[float] | None, latency: float, secrets: tuple[str, ...] = (),
            cell: str | None = None) -> Interaction:
        """Append one live interaction, scrubbed, with bodies stored readably; ``cell``: the notebook cell's id."""
        body_text = scrub_text(request_body.decode("utf-8", "replace"), secrets)
        parsed = canonical_body(body_text)
        stored = json.dumps(parsed, indent=2, ensure_ascii=False) if isinstance(parsed, (dict, list)) else body_text
        request = {"method": method, "uri": scrub_url(uri, secrets), "body": stored,
                   "headers": {k.lower(): [v] for k, v in request_headers.items() if k.lower() in KEPT_REQUEST_HEADERS}}
        headers: dict[str, list[str]] = {}
        for name, value in response_headers:
            if name.lower() not in SCRUBBED_HEADERS | TRANSPORT_HEADERS:
                headers.setdefault(name.lower(), []).append(scrub_text(value, secrets))
        response: dict[str, Any] = {"status": {"code": status, "message": reason}, "headers": headers,
                                    "body": {"string": scrub_text(response_body.decode("utf-8", "replace"), secrets)},
                                    "latency": round(latency, 3)}
        if event_times is not None:
            response["event_times"] = [round(t, 3) for t in event_times]
        raw = {"cell": cell} if cell else {}
        raw |= {"request": request, "response": response}
        item = Interaction(len(self.interactions), method, match_path(request["uri"]), parsed, raw)
        self.interactions.append(item)
        return item


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as YAML block literals, so bodies and SSE streams stay readable (PyYAML falls back to
    a quoted style by itself where a block literal cannot hold the text)."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        # U+0085 (NEL) is a line break to YAML: a block literal or PyYAML's own choice reads back "\n" for it,
        # only the double-quoted style keeps it (as \N)
        style = '"' if "\x85" in data else "|" if "\n" in data else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _Dumper.represent_str)


def response_headers(interaction: Interaction, *, transport: bool = False) -> list[tuple[str, str]]:
    """The stored response headers as (name, value) pairs, transport headers dropped (unless asked for)."""
    pairs = []
    for name, values in (interaction.response.get("headers") or {}).items():
        if transport or str(name).lower() not in TRANSPORT_HEADERS:
            pairs += [(str(name), str(v)) for v in (values if isinstance(values, list) else [values])]
    return pairs
