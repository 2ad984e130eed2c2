"""Checks for 10_async. They run the learner's coroutines on fake work (short sleeps that record how many run at
once): no API calls, no cassette. ``call`` runs an async answer in a fresh event loop in the checker's thread (the
kernel's own loop refuses ``asyncio.run``), and ``run`` cancels it when the time limit is up."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
import threading
from collections import Counter
from typing import Any

from lessonlib.exercises import NotYet, call, compare, exercise
from lessonlib.exercises.fixtures import status_error


class _Tracker:
    """Fake API calls: each sleeps a little and notes how many calls are in flight and how often each label ran."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.calls: Counter[Any] = Counter()
        self.lock = threading.Lock()

    async def call(self, label: Any, seconds: float) -> str:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.calls[label] += 1
        try:
            await asyncio.sleep(seconds)
            return f"result {label}"
        finally:
            with self.lock:
                self.running -= 1


def _semaphore_per_task(fn: Any) -> bool:
    """Whether the answer's source makes a Semaphore inside a nested function, a loop or a comprehension."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    per_task = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.For, ast.AsyncFor, ast.While,
                ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    outer = tree.body[0] if tree.body else tree
    return any(isinstance(node, per_task) and node is not outer and isinstance(sub, ast.Call)
               and "Semaphore" in ast.unparse(sub.func) for node in ast.walk(outer) for sub in ast.walk(node))


def _ignores_limit(fn: Any) -> bool:
    """Whether the answer's source holds a semaphore (`async with`, `.acquire()`) but never reads its second
    parameter, the limit: the semaphore is one from the notebook, with its own fixed limit."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        limit = list(inspect.signature(fn).parameters)[1]
    except (OSError, TypeError, SyntaxError, ValueError, IndexError):
        return False
    nodes = list(ast.walk(tree.body[0] if tree.body else tree))
    holds = any(isinstance(node, ast.AsyncWith) or (isinstance(node, ast.Attribute) and node.attr == "acquire")
                for node in nodes)
    return holds and not any(isinstance(node, ast.Name) and node.id == limit for node in nodes)


@exercise("10.1", title="bounded_gather: at most `limit` at once, results in order",
          idea="asyncio.gather starts everything at once and keeps the input order; one shared asyncio.Semaphore "
               "lets only `limit` of them past at a time.",
          hangs="a task waits for a semaphore that is never released. Use `async with sem:` (it releases even on "
                "an error), not `await sem.acquire()` without a matching `sem.release()`.",
          hint="Make one asyncio.Semaphore(limit) inside the function. Wrap each coroutine: "
               "`async def run(coro): async with sem: return await coro`. Then "
               "`return await asyncio.gather(*(run(c) for c in coros))`: gather keeps the input order "
               "whatever order they finish in, and the semaphore lets only `limit` bodies run at a time.")
def _(fn: Any) -> str:
    delays = [0.06, 0.02, 0.05, 0.01, 0.04, 0.03, 0.02]
    for limit in (3, 1, 10):
        tracker = _Tracker()
        coros = [tracker.call(i, d) for i, d in enumerate(delays)]
        try:
            out = call(fn, list(coros), limit, copy_args=False, in_loop=True, returns=(list, tuple),
                       want="the list of results", name=f"bounded_gather(7 coroutines, limit={limit})")
        finally:  # close the ones the answer never awaited: no "coroutine ... was never awaited" warnings
            for coro in coros:
                if not coro.cr_running:  # closing a finished coroutine does nothing
                    coro.close()
        if len(out) != len(delays) or not tracker.calls:
            raise NotYet(f"with limit={limit} you returned {len(out)} results for {len(delays)} coroutines, "
                         "and each coroutine must be awaited exactly once.")
        want_peak = min(limit, len(delays))
        if tracker.peak != want_peak and _ignores_limit(fn):
            raise NotYet(f"with limit={limit}, {tracker.peak} fake calls were running at the same time, but your "
                         "function never reads `limit`: create one asyncio.Semaphore(limit) inside it (a semaphore "
                         "from the notebook has its own fixed limit).")
        if tracker.peak > limit:
            fix = (", so the semaphore is not shared: create one outside and use it in every task"
                   if _semaphore_per_task(fn)
                   else ": acquire a semaphore around each `await`, not around the whole gather nor around a task "
                        "(asyncio.create_task starts its coroutine at once)")
            raise NotYet(f"with limit={limit}, {tracker.peak} fake calls were running at the same time{fix}.")
        if tracker.peak < want_peak:
            raise NotYet(f"with limit={limit} at most {tracker.peak} call(s) ever ran at once, so the batch "
                         f"ran slower than it could: {want_peak} should run together (gather the wrapped coroutines).")
        compare(list(out), [f"result {i}" for i in range(len(delays))],
                otherwise=f"results are not in input order: got {list(out)[:4]}... Collect them with asyncio.gather "
                          "(input order), not in the order they finished.")
    return "7 fake calls ran at most `limit` at a time and came back in input order."


@exercise("10.2", title="gather_with_retry: keep failures, retry only them",
          idea="gather can hand back exceptions as results instead of raising them; then each later round is "
               "the same gather over just the items that failed.",
          hangs="a retry loop that ignores `attempts`: 'e' always fails, so a loop that runs until every item has "
                "worked never ends. Stop after `attempts` tries in all.",
          hint="Round 1: `results = await asyncio.gather(*(call(x) for x in items), return_exceptions=True)`. "
               "Then, for each further attempt, find the indexes whose result is an Exception, run "
               "`call(items[i])` again for just those (again with gather(..., return_exceptions=True)), "
               "and put each new outcome back at index i. Stop when nothing failed or after `attempts` rounds. "
               "Return the list: values where it worked, the last exception object where it never did.")
def _(fn: Any) -> str:
    import anthropic

    items = ["a", "b", "c", "d", "e"]
    tracker = _Tracker()
    raised: dict[str, BaseException] = {}  # item -> the exception of its latest try

    async def classify(item: str) -> str:
        """A fake classify(review): 'b' fails on its first try, 'e' always fails, the rest succeed."""
        fails = item == "e" or (item == "b" and not tracker.calls[item])
        await tracker.call(item, 0.02)
        if fails:
            raised[item] = status_error("anthropic", "InternalServerError", 500)
            raise raised[item]
        return f"label for {item}"

    # only the fake's error (alone or in a TaskGroup's group) is "not caught"; a bug's own TypeError is shown as it is
    out = call(fn, classify, items, 3, copy_args=False, in_loop=True, returns=(list, tuple),
               want="one entry per item, in order", name="gather_with_retry(call, items, 3)",
               raises={(anthropic.InternalServerError, ExceptionGroup): "gather_with_retry raised "
                       "{exc.__class__.__name__}: one failing item must not sink the batch; use "
                       "asyncio.gather(..., return_exceptions=True)."})
    if len(out) != len(items):
        raise NotYet(f"return a list with one entry per item ({len(items)}), in the same order as `items`.")
    if tracker.calls["a"] != 1:
        raise NotYet(f"'a' succeeded the first time but was called {tracker.calls['a']} times: "
                     "retry only the items whose result is an exception.")
    if tracker.peak < len(items):
        raise NotYet(f"only {tracker.peak} call(s) ran at once in the first round: start all of them "
                     "together with asyncio.gather.")
    if out[1] != "label for b":
        got = (f"still the {type(out[1]).__name__} from its first try" if isinstance(out[1], BaseException)
               else repr(out[1]))
        raise NotYet(f"'b' fails once and then works, but its entry is {got}: retry the failed items "
                     "and put each new result back at its index.")
    if tracker.calls["b"] != 2:
        raise NotYet(f"'b' was called {tracker.calls['b']} times; once it has worked, stop retrying it.")
    if not isinstance(out[4], Exception):
        raise NotYet(f"'e' always fails, so its entry should be the exception object itself, not {out[4]!r}.")
    if tracker.calls["e"] != 3:
        raise NotYet(f"with attempts=3, 'e' should be tried 3 times in all, not {tracker.calls['e']}.")
    if out[4] is not raised["e"]:
        raise NotYet("'e' holds the exception of an earlier try: keep the last one, from its third try (put each "
                     "new outcome back at its index, failures too).")
    if [out[0], out[2], out[3]] != ["label for a", "label for c", "label for d"]:
        raise NotYet("the entries for 'a', 'c' and 'd' are not their results, in order.")
    return f"4 of 5 labelled, 'e' kept as {type(out[4]).__name__} after 3 tries, and nothing was raised."


@exercise("10.3", title="expected wall time of a bounded batch",
          idea="With at most c calls in flight, the calls go in waves; count the waves, and think about what None "
               "and an empty batch mean.",
          hint="With at most c calls in flight and every call taking L seconds, the calls run in waves of c: "
               "ceil(n / c) waves of L seconds each, so math.ceil(n / c) * L. No limit (None) means one wave "
               "(L seconds) as long as n > 0; an empty batch takes 0 seconds.")
def _(fn: Any) -> str:
    cases = [
        ((5, 1, 0.8), 4.0, "one at a time is sequential: 5 calls × 0.8 s"),
        ((5, 2, 0.8), 2.4, "5 calls, 2 at a time: waves of 2, 2 and 1"),
        ((5, 5, 0.8), 0.8, "all 5 at once: one wave"),
        ((5, 10, 0.8), 0.8, "a limit above the batch size changes nothing: one wave"),
        ((100, 8, 1.5), 19.5, "100 calls, 8 at a time: 13 waves"),
        ((100, None, 1.5), 1.5, "no limit: everything in one wave"),
        ((0, 4, 1.5), 0.0, "no calls, no time"),
        ((0, None, 1.5), 0.0, "no calls, no time, with no limit too"),
    ]
    for args, want, why in cases:
        unlimited = {TypeError: f"expected_wall_time{args} raised TypeError ({{exc}}): concurrency None means no "
                                "limit; handle it before you divide by it."}  # another TypeError is shown as it is
        got = call(fn, *args, returns=(int, float), want="the number of seconds", name=f"expected_wall_time{args}",
                   raises=unlimited if args[1] is None else None)
        compare(float(got), want, otherwise=f"expected_wall_time{args} returned {got!r}, expected {want} ({why}).")
    return "ceil(n / c) × L: the semaphore run above took about that long."
