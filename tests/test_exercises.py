"""Every exercise's solution passes its check, and every exercise has a solution.

The unsolved side is proven by nbval: each notebook's stored output of its check cells is the
"not yet" line, so a checker that wrongly accepted the stub would change the output and fail.
"""

import importlib.util
import os
from pathlib import Path

import pytest

import lessonlib
from lessonlib.exercises import EXERCISES, _load_all, run

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def replay_for(monkeypatch):
    """Serve a notebook's cassette while its solutions run (some checks make recorded calls)."""
    monkeypatch.delenv("LESSON_USAGE_DIR", raising=False)  # solutions must not count as notebook usage

    def start(name: str):
        return lessonlib.setup(name, quiet=True)

    yield start
    from lessonlib.config import _stop_active

    _stop_active()


def _cases():
    for path in SOLUTIONS:
        yield pytest.param(path, id=path.stem)


@pytest.mark.parametrize("path", list(_cases()))
def test_solutions_pass(path: Path, replay_for):
    replay_for(path.stem)
    module = _load(path)
    answers = getattr(module, "ANSWERS", None)
    assert isinstance(answers, dict) and answers, f"{path.name} needs an ANSWERS dict: exercise id -> answer"
    failures = []
    for exercise_id, answer in answers.items():
        result = run(exercise_id, answer)
        if not result.passed:
            failures.append(f"{exercise_id}: {result.message}")
    assert not failures, "solutions that do not pass their check:\n" + "\n".join(failures)


def test_every_exercise_has_a_solution():
    _load_all()
    solved = set()
    for path in SOLUTIONS:
        solved |= set(getattr(_load(path), "ANSWERS", {}))
    missing = sorted(set(EXERCISES) - solved)
    assert not missing, f"exercises without a solution in solutions/: {missing}"


def test_unsolved_answers_do_not_pass():
    _load_all()
    assert EXERCISES, "no exercises registered"
    for exercise_id in EXERCISES:
        for stub in (None, ...):
            assert not run(exercise_id, stub).passed, f"{exercise_id} accepted {stub!r}"
