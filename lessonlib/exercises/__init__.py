"""Self-checking exercises: ``check("05.1", answer)`` prints one line (passed, or a nudge), never raises and
never hangs; ``hint("05.1")`` nudges first and shows the worked approach on the second call.

A checker (``nbNN.py``) gets the learner's answer and raises ``NotYet("nudge")`` or returns a success note.
The shared steps are here: ``run`` grades in a daemon thread with a time limit (then stops the answer), ``call``
calls the answer (input copied and left unchanged, known exceptions, None, return type), ``compare`` checks a value
against the expected one and a table of known mistakes. SDK objects are built in ``fixtures``. Taught in: every
notebook's "Exercises" section.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import copy
import ctypes
import importlib
import inspect
import math
import pkgutil
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from unittest import mock

from lessonlib.display import ipython_shell
from lessonlib.redact import hide_keys

__all__ = ["Exercise", "Result", "NotYet", "check", "exercise", "hint", "run", "call", "compare", "EXERCISES"]

PASS_MARK = "✅"
FAIL_MARK = "❌"
TIME_LIMIT: float | None = None  # seconds; set it to override every exercise's own limit (the tests use ~1 s)
_HERE = Path(__file__).resolve().parent.parent  # the lessonlib package


class NotYet(Exception):
    """Raised inside a checker: the answer is not right yet. The message is the nudge."""


@dataclass
class Exercise:
    id: str
    title: str
    checker: Callable[[Any], str | None]
    idea: str  # the first hint: a nudge towards the idea
    hint: str  # the second hint: the worked approach
    limit: float = 30.0  # seconds before the check gives up
    hangs: str = "is there a loop that never ends, or an await that never returns?"


@dataclass
class Result:
    id: str
    passed: bool
    message: str


EXERCISES: dict[str, Exercise] = {}
_HINTS_SHOWN: dict[str, int] = {}
_LOOPS: dict[int, asyncio.AbstractEventLoop] = {}  # checker thread id -> the event loop of its async answer


def exercise(id: str, title: str, *, idea: str, hint: str, limit: float = 30.0, hangs: str | None = None) -> Any:
    """Register a checker. It gets the learner's answer; returns an optional success note or raises NotYet."""

    def register(fn: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
        EXERCISES[id] = Exercise(id, title, fn, idea, hint, limit, hangs or Exercise.hangs)
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


def an(word: Any) -> str:
    """'a' or 'an' before a word: an 'assistant' message, a 'tool' message, a 'user' turn, an int, a str."""
    first = str(word).lstrip("'\"")[:1].lower()
    return f"{'an' if first in ('a', 'e', 'i', 'o') else 'a'} {word}"


def run(id: str, answer: Any) -> Result:
    """Grade an answer and return the result (used by ``check`` and by the tests)."""
    ex = _find(id)
    if ex is None:
        return Result(id, False, f"there is no exercise {id!r}; check the id in the cell above.")
    if answer is None or answer is Ellipsis:
        return Result(id, False, "not started yet: fill in the cell above, run it, then run this check again.")
    limit = TIME_LIMIT or ex.limit
    outcome: list[Result] = []
    # waited on, not join()ed: a Ctrl-C in join() marks the thread as ended (CPython 3.11), so _stop() let it run on
    done, context = threading.Event(), contextvars.copy_context()
    worker = threading.Thread(target=lambda: (context.run(_grade, ex, answer, outcome), done.set()),
                              name=f"check {id}", daemon=True)  # a daemon never keeps the kernel from exiting
    with contextlib.ExitStack() as patched:  # input() would wait for the learner (an input box in JupyterLab)
        patched.enter_context(mock.patch.object(builtins, "input", _no_input))
        shell = ipython_shell()
        if shell is not None:  # exit() would end the kernel once the cell is done, and every variable with it
            patched.enter_context(mock.patch.object(shell, "ask_exit", _no_exit))
        try:
            worker.start()
            done.wait(limit)
        except KeyboardInterrupt:  # the learner stopped the cell: stop the answer too, or it runs on in later cells
            _stop(worker)
            raise
    if outcome:
        return outcome[0]
    _stop(worker)
    still = (" (it is still running in the background; if the notebook gets slow, restart the kernel)"
             if worker.is_alive() else "")
    return Result(id, False, f"didn't finish in {limit:g} s{still}: {ex.hangs}")


def _stop(worker: threading.Thread) -> None:
    """Stop an answer that ran out of time: cancel its tasks, then raise SystemExit in its thread (a loop in plain
    Python ends at once, a call that waits ends when it returns; the thread prints nothing when it ends)."""
    loop = _LOOPS.get(worker.ident or 0)
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        worker.join(0.5)
    # CPython 3.11 with a tracer on (a debugger, coverage): an exception left pending for an answer that waits in C
    # made every traced thread spin at its next call, so the kernel hung; there the answer is left to run on
    if worker.is_alive() and not (sys.version_info[:2] == (3, 11) and sys.gettrace() is not None):
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident or 0), ctypes.py_object(SystemExit))
        worker.join(0.5)


def _no_input(prompt: object = "") -> str:
    raise NotYet("your function calls input(), and nobody types during a check: take what it needs from its "
                 "arguments.")


def _no_exit() -> None:
    raise NotYet("your function calls exit(), which in a notebook ends the kernel (and every variable in it): "
                 "return, or raise an exception, instead.")


def _grade(ex: Exercise, answer: Any, outcome: list[Result]) -> None:
    try:
        outcome.append(Result(ex.id, True, ex.checker(answer) or ""))
        return
    except NotYet as exc:
        message = str(exc)
    except NotImplementedError:
        message = "not started yet: replace the `...` / NotImplementedError in the cell above."
    except BaseException as exc:  # noqa: BLE001 - a learner's bug must print a nudge, never a traceback
        what = f"{type(exc).__name__}: {exc}"
        message = (f"your code raised {what}" if _raised_in_learner_code(exc, ex.checker)
                   else f"the check could not use what your code returned ({what}).")
    # a nudge may quote what the answer returned or raised: keys hidden, then kept to one line of at most 500 characters
    outcome.append(Result(ex.id, False, textwrap.shorten(hide_keys(message), 500, placeholder=" …")))


def _raised_in_learner_code(exc: BaseException, checker: Callable[..., Any]) -> bool:
    """Whether the innermost frame that is the learner's or the check's (not lessonlib's, the stdlib's or an
    installed package's) is the learner's."""
    installed = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    learner = False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code is checker.__code__ or code.co_filename.startswith(str(_HERE / "exercises")):
            learner = False
        elif not code.co_filename.startswith(("<", str(_HERE), *installed)):
            learner = True
        tb = tb.tb_next
    return learner


def run_async(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, awaited if it returns an awaitable, in a fresh event loop in this thread (a
    notebook's own loop refuses asyncio.run)."""
    async def inside() -> Any:
        out = fn(*args, **kwargs)
        out = (await out) if inspect.isawaitable(out) else out
        if inspect.isawaitable(out):  # `return asyncio.gather(...)` in an async def: cancelled when this loop ends
            raise NotYet(f"your function returned {an(type(out).__name__)} instead of its result: await it, "
                         "e.g. `return await asyncio.gather(...)`.")
        return out

    with asyncio.Runner() as runner:
        _LOOPS[threading.get_ident()] = runner.get_loop()
        # what the answer left behind (a gather, a task) is cancelled when this loop ends: not logged as an error
        runner.get_loop().set_exception_handler(lambda loop, context: None)
        try:
            return runner.run(inside())
        finally:
            _LOOPS.pop(threading.get_ident(), None)


def call(fn: Any, *args: Any, want: str = "", returns: type | tuple[type, ...] | None = None,
         raises: dict[Any, str] | None = None, copy_args: bool = True, in_loop: bool = False, name: str | None = None,
         none_ok: bool = False, **kwargs: Any) -> Any:
    """Call the learner's ``fn(*args, **kwargs)`` on deep copies of its input and do the checks every exercise needs.

    ``want`` says what to return, ``returns`` the accepted type(s), ``none_ok`` that None can be right;
    ``raises`` maps an exception type (a tuple, or a predicate on the exception) to its nudge ({exc} is the
    exception); ``name`` is how the nudges name the call. An awaitable result is awaited in a fresh event loop
    (``in_loop=True`` calls the answer inside that loop, for answers that start tasks before they return).
    """
    if not callable(fn) or inspect.isclass(fn):
        raise NotYet(f"pass the function itself, without calling it; you passed {an(type(fn).__name__)}.")
    if not name:
        name = getattr(fn, "__name__", "")
        name = name if name and not name.startswith("<") else "your function"
    try:
        given, given_kw = copy.deepcopy((args, kwargs)) if copy_args else (args, kwargs)
    except Exception:  # noqa: BLE001 - coroutines, clients: pass them as they are
        given, given_kw = args, kwargs
    # (input, the copy the answer gets) where they are two equal objects: a difference afterwards is an edit
    watched = [(arg, copied) for arg, copied in zip([*args, *kwargs.values()], [*given, *given_kw.values()])
               if copied is not arg and _equal(copied, arg)]
    try:
        out = run_async(fn, *given, **given_kw) if in_loop else fn(*given, **given_kw)
        if inspect.isawaitable(out):
            out = run_async(lambda: out)
    except (NotImplementedError, NotYet):  # a nudge of run_async's is not the answer's exception
        raise
    except Exception as exc:
        nudge = next((text for kinds, text in (raises or {}).items()
                      if (isinstance(exc, kinds) if isinstance(kinds, (type, tuple)) else kinds(exc))), None)
        if nudge is None:
            raise
        raise NotYet(nudge.format(exc=exc)) from None
    changed = [arg for arg, copied in watched if not _equal(copied, arg)]
    if changed:
        raise NotYet(f"{name} changed the {type(changed[0]).__name__} it was given: build a new one instead "
                     "of editing its input.")
    if out is None and not none_ok:
        raise NotYet(f"{name} returned None: return {want}.")
    if returns is not None and out is not None:
        kinds = returns if isinstance(returns, tuple) else (returns,)
        if not isinstance(out, kinds) or (isinstance(out, bool) and bool not in kinds):
            raise NotYet(f"{name} returned {an(type(out).__name__)}: return {want}.")
    pending = [item for item in out if inspect.isawaitable(item)] if isinstance(out, (list, tuple)) else []
    if pending:
        for item in filter(inspect.iscoroutine, pending):  # no "coroutine ... was never awaited" under the verdict
            item.close()
        raise NotYet(f"{name} returned a {type(out).__name__} of {type(pending[0]).__name__} objects instead of their "
                     "results: await them, e.g. `await asyncio.gather(...)`.")
    return out


def _equal(got: Any, want: Any) -> bool:
    """== for data, with floats compared to 1e-9 and no error for odd values."""
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if isinstance(want, float) and isinstance(got, (int, float)):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want))
    try:
        return bool(got == want)
    except Exception:  # noqa: BLE001
        return False


def compare(got: Any, want: Any, *, mistakes: Sequence[tuple[Any, str]] = (), otherwise: str) -> None:
    """Pass when ``got`` equals ``want``; else raise the nudge of the first mistake, (a wrong value or a predicate on
    ``got``, its nudge), that matches, or ``otherwise``."""
    if _equal(got, want):
        return
    for wrong, nudge in mistakes:
        try:
            matched = wrong(got) if callable(wrong) else _equal(got, wrong)
        except Exception:  # noqa: BLE001 - a predicate that does not fit this answer does not match
            matched = False
        if matched:
            raise NotYet(nudge)
    raise NotYet(otherwise)


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
    """Print a hint: the first call nudges towards the idea, the next ones show the worked approach."""
    ex = _find(id)
    if ex is None:
        print(f"there is no exercise {id!r}.")
        return
    _HINTS_SHOWN[id] = _HINTS_SHOWN.get(id, 0) + 1
    if _HINTS_SHOWN[id] == 1:
        print(f"Hint for {id}: {ex.idea}")
        print(f'   Still stuck? Run hint("{id}") again for the worked approach.')
    else:
        print(f"Worked approach for {id}: {ex.hint}")
