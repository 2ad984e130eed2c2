"""Exercise checks of 04_streaming: pass on the solutions, fail with a specific nudge on common bugs."""

import importlib.util
from pathlib import Path

import pytest

from lessonlib.exercises import run

ROOT = Path(__file__).resolve().parent.parent


def _solutions():
    spec = importlib.util.spec_from_file_location("solutions_04", ROOT / "solutions" / "04_streaming.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


def stub(_):
    ...


@pytest.mark.parametrize("ex_id", ["04.1", "04.2", "04.3"])
def test_solution_passes(ex_id):
    result = run(ex_id, SOL.ANSWERS[ex_id])
    assert result.passed, result.message


@pytest.mark.parametrize("ex_id", ["04.1", "04.2", "04.3"])
def test_stub_fails(ex_id):
    result = run(ex_id, stub)
    assert not result.passed
    assert "returned None" in result.message


def test_lesson_loop_gets_the_usage_chunk_nudge():
    def lesson_loop(chunks):
        text = ""
        for chunk in chunks:
            delta = chunk.choices[0].delta
            if delta.content:
                text += delta.content
        return text

    result = run("04.1", lesson_loop)
    assert not result.passed and "choices == []" in result.message


def test_first_chunk_is_not_the_first_token():
    result = run("04.2", lambda arrivals: (arrivals[0][0], arrivals[-1][0]))
    assert not result.passed and "role chunk" in result.message


def test_text_only_from_text_deltas():
    result = run("04.3", lambda events: "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta"))
    assert not result.passed and "input_json_delta" in result.message


def test_exercise_data_comes_from_the_cassette():
    from lessonlib.exercises import nb04

    chunks = nb04.openai_chunks()
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert any(e["type"] == "ping" for e in nb04.anthropic_events())
