"""Real provider traffic (tests/wire/real/, recorded by other public projects) is served by the
course's replay server and read by the official SDKs, yielding exactly what was recorded.

Covers plain, streaming, tool use, vision, errors, gzip bodies and pydantic-ai's ``parsed_body``
layout. The same files are the yardstick for the authored cassettes (tests/test_wire_fidelity.py):
the checks applied there are run here on real traffic, to prove they accept it.
"""

from __future__ import annotations

import filecmp
import json
import re

import anthropic
import openai
import pytest

import wirecheck as W
from lessonlib.replay import ReplayServer

REAL = W.real_recordings()


def test_the_real_recordings_are_vendored():
    assert len(REAL) >= 19, "tests/wire/real/ should hold the real recordings copied from ../shared/wire/real/"
    assert W.OPENAPI_SPEC.stat().st_size > 1_000_000


@pytest.mark.skipif(not W.SHARED_WIRE.is_dir(), reason="../shared/wire is not beside this clone; nothing to compare")
def test_vendored_copy_matches_shared_wire():
    """tests/wire/ is a copy of ../shared/wire (see tests/wire/README.md); keep them identical."""
    pairs = [(W.SHARED_WIRE / "real" / p.name, p) for p in REAL]
    pairs += [(p, W.REAL / p.name) for p in sorted((W.SHARED_WIRE / "real").glob("*.yaml"))]
    pairs += [(W.SHARED_WIRE / "spec" / "openai-openapi.yaml", W.OPENAPI_SPEC),
              (W.SHARED_WIRE / "SOURCES.md", W.WIRE / "SOURCES.md"),
              (W.SHARED_WIRE / "README.md", W.WIRE / "WIRE_NOTES.md")]
    differ = [str(ours.relative_to(W.ROOT)) for theirs, ours in pairs
              if not (theirs.exists() and ours.exists() and filecmp.cmp(theirs, ours, shallow=False))]
    assert not differ, f"out of step with ../shared/wire (copy it again): {sorted(set(differ))}"


# ---- the checks used on the course's cassettes accept real traffic ---------------------------

MASKED = re.compile(r"XXX|FILTERED|REDACTED")


def test_real_responses_validate_against_the_sdk_types():
    """Real bodies validate against the SDKs' models; any undeclared fields they carry become the
    allowance for authored cassettes. Today there are none: openai 3.3.0 did not model the stream
    chunk's `obfuscation`, openai 3.57.0 does (ChatCompletionChunk.obfuscation)."""
    problems = []
    for path in REAL:
        for ex in W.exchanges(path):
            problems += [p for p in W.response_problems(ex, W.Strict(allowed=W.real_extras())) if p]
    assert not problems, "\n".join(problems)
    assert W.real_extras() == frozenset(), W.real_extras()


def test_real_headers_and_ids_pass_the_rules_applied_to_cassettes():
    """Where a recorder kept a real value (not a masked placeholder), it matches the header and id
    rules that tests/test_wire_fidelity.py applies to the course's cassettes."""
    problems = []
    for path in REAL:
        for ex in W.exchanges(path):
            for problem in W.header_problems(ex) + W.id_problems(ex) + W.request_id_problems(ex):
                recorder_dropped = ": no " in problem or "differs from its request-id header" in problem
                if not (MASKED.search(problem) or recorder_dropped):
                    problems.append(problem)
    assert not problems, "\n".join(problems)


def test_real_openai_requests_validate_against_the_openapi_spec():
    problems = [p for path in REAL for ex in W.exchanges(path) if ex.provider == "openai"
                for p in W.openai_request_problems(ex)]
    assert not problems, "\n".join(problems)


def test_real_anthropic_requests_fit_the_sdk_params_but_for_temperature():
    """Sent by older SDKs (anthropic 0.7x-0.89); anthropic 2.15's MessageCreateParams no longer has
    `temperature`, which is the only difference."""
    problems = [p for path in REAL for ex in W.exchanges(path) if ex.provider == "anthropic"
                for p in W.anthropic_request_problems(ex)]
    assert problems and all("has no key 'temperature'" in p for p in problems), "\n".join(problems)


# ---- served by ReplayServer, read by the SDKs ------------------------------------------------


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")  # recorded in 2025
@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_recording_replays_through_the_sdks(path):
    exchanges = W.exchanges(path)
    server = ReplayServer(path, speed=0.0).start()
    try:
        oai = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0)
        ant = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="replay", max_retries=0)
        for ex in exchanges:
            if ex.status >= 400:
                error_class = openai.APIStatusError if ex.provider == "openai" else anthropic.APIStatusError
                with pytest.raises(error_class) as info:
                    W.sdk_raw_call(ex, oai, ant)
                assert info.value.status_code == ex.status
                message = ex.json()["error"]["message"]
                assert message in str(info.value), f"{ex.where}: the SDK error does not carry the recorded message"
                continue
            parsed = W.sdk_raw_call(ex, oai, ant).parse()
            assert W.sdk_payload(ex, parsed) == W.recorded_payload(ex), f"{ex.where}: the SDK read something else"
            if not ex.is_sse:
                request_id = ex.header("x-request-id" if ex.provider == "openai" else "request-id")
                assert parsed._request_id == request_id
        assert server.unused() == [] and server.misses == []
    finally:
        server.stop()


def test_streams_are_read_by_the_sdk_helpers_into_the_recorded_content():
    """The higher-level helpers (messages.stream, the OpenAI chunk loop) rebuild the recorded text
    and tool calls from real streams, gzip included."""
    anth = REAL_BY_NAME["anthropic_messages_stream_tool_use_gzip__llm-anthropic"]
    (ex,) = W.exchanges(anth)
    server = ReplayServer(anth, speed=0.0).start()
    try:
        ant = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="replay", max_retries=0)
        body = {k: v for k, v in ex.request.items() if k != "stream"}
        with ant.messages.stream(**W.sdk_kwargs(ant.messages.create, body)) as stream:
            final = stream.get_final_message()
        tool = [b for b in final.content if b.type == "tool_use"][0]
        assert final.stop_reason == "tool_use" and tool.id.startswith("toolu_")
        assert tool.name == "pelican_name_generator" and tool.input == {}
    finally:
        server.stop()

    oai_path = REAL_BY_NAME["openai_chat_stream_tool_calls__crewai"]
    (ex,) = W.exchanges(oai_path)
    server = ReplayServer(oai_path, speed=0.0).start()
    try:
        oai = openai.OpenAI(base_url=server.openai_base_url, api_key="replay", max_retries=0)
        args, name = "", None
        for chunk in oai.chat.completions.create(**W.sdk_kwargs(oai.chat.completions.create, ex.request)):
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    name = name or call.function.name
                    args += call.function.arguments or ""
        assert name and json.loads(args)  # fragments join into the recorded JSON arguments
    finally:
        server.stop()


REAL_BY_NAME = {p.stem: p for p in REAL}
