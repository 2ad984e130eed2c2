"""Self-checking exercises: ``check()`` grades an answer in place and never raises.

In a notebook::

    def tool_schema_to_anthropic(tool): ...          # the stub you edit
    check("05.1", tool_schema_to_anthropic)           # prints one line: passed, or a nudge

A failed check prints a short nudge and says how to get the fuller hint: ``hint("05.1")``.
Checks for each notebook live in ``lessonlib/exercises/nbNN.py``; solutions in ``solutions/``.
Taught in: every notebook's "Exercises" section.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Exercise", "Result", "NotYet", "check", "exercise", "hint", "run", "EXERCISES"]

PASS_MARK = "✅"
FAIL_MARK = "❌"


class NotYet(Exception):
    """Raised inside a checker: the answer is not right yet. The message is the nudge."""


@dataclass
class Exercise:
    id: str
    title: str
    checker: Callable[[Any], str | None]
    hint: str


@dataclass
class Result:
    id: str
    passed: bool
    message: str


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, hint: str) -> Callable[[Callable[[Any], str | None]], Callable[[Any], str | None]]:
    """Register a checker. It gets the learner's answer; returns an optional success note or raises NotYet."""

    def register(fn: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
        EXERCISES[id] = Exercise(id, title, fn, hint)
        return fn

    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{info.name}")


def _find(id: str) -> Exercise | None:
    if id not in EXERCISES:
        _load_all()
    return EXERCISES.get(id)


def run(id: str, answer: Any) -> Result:
    """Grade an answer and return the result (used by ``check`` and by the solution tests)."""
    ex = _find(id)
    if ex is None:
        return Result(id, False, f"there is no exercise {id!r}; check the id in the cell above.")
    if answer is None or answer is Ellipsis:
        return Result(id, False, "not started yet: fill in the cell above, run it, then run this check again.")
    try:
        note = ex.checker(answer)
    except NotYet as exc:
        return Result(id, False, str(exc))
    except NotImplementedError:
        return Result(id, False, "not started yet: replace the `...` / NotImplementedError in the cell above.")
    except Exception as exc:  # noqa: BLE001 - a learner's bug must print a hint, never a traceback
        return Result(id, False, f"your code raised {type(exc).__name__}: {exc}")
    return Result(id, True, note or "")


def check(id: str, answer: Any) -> None:
    """Grade ``answer`` for exercise ``id`` and print one line: passed, or what to look at."""
    result = run(id, answer)
    ex = EXERCISES.get(id)
    title = f" ({ex.title})" if ex else ""
    if result.passed:
        print(f"{PASS_MARK} {id} passed{title}" + (f": {result.message}" if result.message else ""))
    else:
        print(f"{FAIL_MARK} {id} not yet{title}: {result.message}")
        if ex:
            print(f'   Stuck? hint("{id}") shows a fuller hint.')


def hint(id: str) -> None:
    """Print the fuller hint for an exercise."""
    ex = _find(id)
    print(f"Hint for {id}: {ex.hint}" if ex else f"there is no exercise {id!r}.")
