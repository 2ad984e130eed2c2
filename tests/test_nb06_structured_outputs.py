"""Notebook 06: the SDK facts its prose relies on, and the nudges its checkers give to near-misses.

Offline: nothing here calls a provider. If an SDK upgrade breaks one of these, the notebook's text
needs the same update.
"""

import inspect
import json

import pytest
from pydantic import BaseModel, field_validator

from lessonlib.exercises import run


class Developer(BaseModel):
    name: str
    age: int
    skills: list[str]
    years_experience: int


# ---- facts taught in the notebook ------------------------------------------------------------

def test_openai_parse_sends_a_strict_schema_with_every_field_required():
    from openai.lib._parsing._completions import type_to_response_format_param

    class WithDefault(BaseModel):
        name: str
        nickname: str = "none"

    fmt = type_to_response_format_param(WithDefault)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "nickname"]  # defaults do not make a key optional on the wire


def test_anthropic_transform_schema_keeps_required_and_moves_minimum_to_description():
    import anthropic

    class WithDefault(BaseModel):
        name: str
        nickname: str = "none"

    schema = anthropic.transform_schema(WithDefault)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    moved = anthropic.transform_schema({"type": "integer", "minimum": 14, "description": "Age in years"})
    assert moved == {"type": "integer", "description": "Age in years\n\n{minimum: 14}"}


def test_anthropic_parse_is_outside_beta_and_takes_output_format():
    from anthropic.resources.messages import Messages

    params = inspect.signature(Messages.parse).parameters
    assert "output_format" in params and "output_config" in params


def test_instructor_wraps_and_defaults_to_tools_and_counts_retries_after_the_first_attempt():
    import instructor
    from instructor.v2.core.retry import _max_attempts
    from openai import OpenAI

    client = OpenAI(api_key="replay-mode-no-key-needed", base_url="http://127.0.0.1:9/v1")
    wrapped = instructor.from_openai(client)
    assert isinstance(wrapped, instructor.Instructor) and not isinstance(wrapped, OpenAI)
    assert wrapped.client is client
    assert wrapped.mode == instructor.Mode.TOOLS
    assert "create" not in vars(client.chat.completions)  # from_openai does not patch the client
    assert _max_attempts(2) == 3
    assert inspect.signature(instructor.Instructor.create).parameters["max_retries"].default == 3


def test_openai_parse_raises_on_length():
    import openai
    from openai.lib._parsing._completions import parse_chat_completion
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-5.4-mini",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                     "message": {"role": "assistant", "content": '{"name": "Ma', "refusal": None}}],
    })
    with pytest.raises(openai.LengthFinishReasonError):
        parse_chat_completion(response_format=Developer, chat_completion=completion, input_tools=[])


# ---- checkers: near-misses get a specific nudge ----------------------------------------------

def test_0601_nested_dict_is_nudged_towards_a_model():
    class JobPosting(BaseModel):
        title: str
        level: str
        remote: bool
        salary: dict
        skills: list[str]

    result = run("06.1", JobPosting)
    assert not result.passed and "Salary(BaseModel)" in result.message


def test_0602_lowercasing_instead_of_rejecting_is_explained():
    class Lowercasing(Developer):
        @field_validator("skills")
        @classmethod
        def lower(cls, skills):
            if not skills:
                raise ValueError("skills must not be empty")
            return [s.lower() for s in skills]

    result = run("06.2", Lowercasing)
    assert not result.passed and "lowercased" in result.message


def test_0602_vague_error_message_is_nudged():
    class Vague(Developer):
        @field_validator("skills")
        @classmethod
        def check(cls, skills):
            if not skills or any(s != s.lower() for s in skills):
                raise ValueError("bad skills")
            return skills

    result = run("06.2", Vague)
    assert not result.passed and "name the offending skill" in result.message


def test_0603_bare_json_loads_is_told_not_to_raise():
    result = run("06.3", lambda completion: json.loads(completion.choices[0].message.content))
    assert not result.passed and "should return None instead" in result.message
