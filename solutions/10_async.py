"""Solutions to the exercises of notebooks/10_async.ipynb (checked by tests/test_exercises.py)."""

import asyncio
import math


async def bounded_gather(coros, limit):
    """10.1: await every coroutine, at most `limit` at a time; results in input order."""
    sem = asyncio.Semaphore(limit)

    async def run(coro):
        async with sem:  # waits here while `limit` others are running
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def gather_with_retry(call, items, attempts=2):
    """10.2: call(item) for every item concurrently; retry only the failures, up to `attempts` tries in all.
    Returns one entry per item: the result, or the last exception when every try failed."""
    results = await asyncio.gather(*(call(item) for item in items), return_exceptions=True)
    for _ in range(attempts - 1):
        failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
        if not failed:
            break
        retried = await asyncio.gather(*(call(items[i]) for i in failed), return_exceptions=True)
        for i, outcome in zip(failed, retried):
            results[i] = outcome
    return results


def expected_wall_time(n, concurrency, latency):
    """10.3: seconds for n calls of `latency` seconds each, at most `concurrency` at once (None: no limit)."""
    if n == 0:
        return 0.0
    if concurrency is None:
        return latency
    return math.ceil(n / concurrency) * latency


ANSWERS = {"10.1": bounded_gather, "10.2": gather_with_retry, "10.3": expected_wall_time}
