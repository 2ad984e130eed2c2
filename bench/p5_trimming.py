"""P5: trimming a long conversation: ``lessonlib.tokens.trim_messages`` vs the lesson's
``trim_conversation`` (bench/lesson_trim.py, copied from lesson section 7).

What is measured, exactly:

- conversations of n = 500, 2,000 and 8,000 messages (and 100,000 for ours alone): one system prompt,
  then alternating user (15-80 words) and assistant (60-400 words, some with code) turns, every text
  unique (~150 o200k tokens per message on average), plain string content (the lesson's version cannot
  read anything else);
- two budgets: *typical* = 100,000 tokens (the lesson's default; keeps the newest ~650 messages), and
  *keep all* = a budget larger than the conversation, so every message is counted (the worst case);
- one call, timed with ``time.perf_counter`` (median of several calls, alternating the two
  implementations); both tokenize with o200k_base, the lesson's through ``encoding_for_model("gpt-4o")``.

Both versions tokenize each message once per call. The lesson's only quadratic part is
``trimmed.insert(0, ...)``, which is cheap next to tokenizing at these sizes, so a single cold call of
ours is *not* much faster. What makes trimming fast in a chat loop (trim before every request) is not
re-tokenizing the history every turn: ``trim_messages`` accepts ``count=``. Two labelled variants
measure that proposal (they are not what ships):

- VARIANT cached: ``count=`` a memoizing counter keyed by the message's content string, warm as it is
  in a chat loop (every message but the newest turn counted by earlier calls);
- VARIANT batch: a cold cache filled first with ``encode_ordinary_batch(num_threads=2)`` (tiktoken's
  threads), for the keep-all case where every message must be counted once anyway.
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Result, median  # noqa: E402

MODEL = "gpt-4o"
TYPICAL = 100_000
KEEP_ALL = 10**12
SIZES = (500, 2_000, 8_000)
BIG = 100_000

WORDS = (
    "the a to of and in is for that you it with as on be this are can or your by an from not use "
    "request response model token tokens message messages stream streaming API client server call "
    "tool function result error retry timeout rate limit budget context window history system user "
    "assistant prompt answer JSON schema field value list dict string number example output input "
    "cost price latency batch async await concurrency semaphore cache counter trim keep drop summary "
    "Python SDK OpenAI Anthropic chat completion content block image vision base64 URL header status "
    "first then next each every only also more less when while because however therefore instead "
    "returns raises handles sends reads writes parses validates counts checks keeps measures"
).split()
CODE = [
    '```python\nfor chunk in stream:\n    print(chunk.choices[0].delta.content or "", end="")\n```',
    '```python\nresponse = client.chat.completions.create(model="gpt-4o", messages=messages)\n```',
    '```json\n{"role": "user", "content": "What\'s the weather in Tokyo?"}\n```',
]


def _text(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    out, sentence = [], 0
    for w in words:
        out.append(w)
        sentence += 1
        if sentence > rng.randint(8, 20):
            out[-1] += rng.choice([".", ".", "?", ":"])
            sentence = 0
    return " ".join(out).capitalize() + "."


def conversation(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A system prompt and n-1 alternating user/assistant turns; every text is unique."""
    rng = random.Random(seed)
    pool_user = [_text(rng, 15, 80) for _ in range(300)]
    pool_assistant = [
        _text(rng, 60, 400) + (("\n\n" + rng.choice(CODE)) if rng.random() < 0.3 else "") for _ in range(300)
    ]
    messages = [{"role": "system", "content": "You are a patient Python tutor. Answer with short examples."}]
    for i in range(1, n):
        if i % 2:
            messages.append({"role": "user", "content": f"({i}) " + rng.choice(pool_user)})
        else:
            messages.append({"role": "assistant", "content": f"({i}) " + rng.choice(pool_assistant)})
    return messages


def cached_counter(model: str | None = MODEL, cache: dict[str, int] | None = None) -> Callable[[Any], int]:
    """PROPOSAL: a ``count=`` for trim_messages that remembers each plain-text message's count,
    keyed by its content string (Python caches a string's hash, so a hit costs one dict lookup).
    Messages with tool calls, names or content lists fall back to count_message."""
    from lessonlib.tokens import count_message

    cache = {} if cache is None else cache

    def count(message: Any) -> int:
        if isinstance(message, dict) and isinstance(message.get("content"), str) and len(message) == 2:
            key = message["content"]
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = count_message(message, model)
            return hit
        return count_message(message, model)

    count.cache = cache  # type: ignore[attr-defined]
    return count


def trim_messages_lazy(
    messages: list[Any],
    max_tokens: int,
    model: str | None = MODEL,
    *,
    count: Callable[[Any], int] | None = None,
) -> list[Any]:
    """PROPOSAL: ``trim_messages`` with the same contract and result, walking backward from the
    newest message and stopping at the budget, so a call costs O(kept messages) plus one cheap scan
    for system prompts, instead of O(all messages) of Python work (``_as_dict`` and tool-unit
    grouping over the whole history). ``check_lazy_matches`` verifies it returns the same list."""
    from lessonlib.tokens import REPLY_PRIMING, _as_dict, _is_tool_followup, count_message

    count = count or (lambda m: count_message(m, model))
    system = ("system", "developer")
    try:  # plain dicts (the usual case): one tight pass over the roles
        roles = [m["role"] for m in messages]
    except (TypeError, KeyError, IndexError):
        roles = [_as_dict(m).get("role") for m in messages]
    system_idx = [i for i, role in enumerate(roles) if role == "system" or role == "developer"]
    budget = max_tokens - REPLY_PRIMING - sum(count(messages[i]) for i in system_idx)
    heads: list[int] = []  # first message index of each kept unit, newest unit first
    used = pending = 0
    first_history = None  # index of the oldest non-system message seen
    fits = True
    for i in range(len(messages) - 1, -1, -1):
        item = messages[i]
        msg = item if type(item) is dict else _as_dict(item)
        role = msg.get("role")
        if role in system:
            continue
        first_history = i
        cost = count(item)
        content = msg.get("content")
        if role == "tool" or (role == "user" and type(content) is list and _is_tool_followup(msg)):
            pending += cost  # belongs to the unit of the nearest older non-follow-up message
            continue
        if used + pending + cost > budget:
            fits = False
            break
        used += pending + cost
        pending = 0
        heads.append(i)
    if fits and pending and first_history is not None and used + pending <= budget:
        heads.append(first_history)  # follow-ups at the very start form a unit of their own
    heads.reverse()
    while heads and _as_dict(messages[heads[0]]).get("role") != "user":
        heads.pop(0)
    if not heads:
        return [messages[i] for i in system_idx]
    start = heads[0]
    rest = [messages[i] for i in range(start, len(messages)) if roles[i] != "system" and roles[i] != "developer"]
    return [messages[i] for i in system_idx] + rest


def check_lazy_matches(trials: int = 400) -> int:
    """Random histories with system prompts anywhere, tool calls and results (OpenAI and Anthropic
    shapes), orphans at the start and random budgets: the proposal must equal trim_messages."""
    from lessonlib.tokens import trim_messages

    rng = random.Random(11)

    def message() -> dict[str, Any]:
        kind = rng.choice(["user", "user", "assistant", "assistant", "system", "tool", "call", "a_result"])
        text = _text(rng, 1, 30)
        if kind == "tool":
            return {"role": "tool", "tool_call_id": "call_1", "content": text}
        if kind == "call":
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            }
        if kind == "a_result":
            return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": text}]}
        return {"role": kind, "content": text}

    for _ in range(trials):
        msgs = [message() for _ in range(rng.randint(0, 25))]
        budget = rng.randint(0, 600)
        want = trim_messages(msgs, budget, MODEL)
        got = trim_messages_lazy(msgs, budget, MODEL)
        assert [id(m) for m in got] == [id(m) for m in want], (msgs, budget)
    return trials


def batch_fill(messages: list[dict[str, Any]], cache: dict[str, int], chunk: int = 2_000) -> None:
    """PROPOSAL: count every plain-text message with tiktoken's threaded batch encoder."""
    from lessonlib.tokens import MESSAGE_OVERHEAD, _encoding_for

    enc = _encoding_for(MODEL)
    texts = [m["content"] for m in messages if isinstance(m.get("content"), str)]
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        for text, tokens in zip(part, enc.encode_ordinary_batch(part, num_threads=2), strict=True):
            cache[text] = MESSAGE_OVERHEAD + len(tokens)


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return median(times), out


def _time_variants(msgs: list[dict[str, Any]], budget: int, reps: int, big: bool) -> dict[str, tuple[list[float], int]]:
    """Time every implementation on one conversation and budget: {name: (seconds per round, kept)}."""
    from lesson_trim import trim_conversation

    from lessonlib.tokens import trim_messages

    def warm_counter(trim: Callable[..., list]) -> Callable[[Any], int]:
        counter = cached_counter()  # as in a chat loop: last turn's call counted all but the newest turn
        trim(msgs[:-2], budget, MODEL, count=counter)
        return counter

    cached, lazy_cached = warm_counter(trim_messages), warm_counter(trim_messages_lazy)

    def cold_batch() -> list:
        counter = cached_counter()
        batch_fill(msgs, counter.cache)  # type: ignore[attr-defined]
        return trim_messages_lazy(msgs, budget, MODEL, count=counter)

    variants: dict[str, Callable[[], list]] = {
        "lesson": lambda: trim_conversation(msgs, budget),
        "ours": lambda: trim_messages(msgs, budget, MODEL),
        "cached": lambda: trim_messages(msgs, budget, MODEL, count=cached),
        "lazy": lambda: trim_messages_lazy(msgs, budget, MODEL),
        "lazy+cached": lambda: trim_messages_lazy(msgs, budget, MODEL, count=lazy_cached),
    }
    if budget == KEEP_ALL and not big:
        variants["batch"] = cold_batch
    if big:
        del variants["lesson"]  # the brief: 100k for ours alone
        if budget == KEEP_ALL:
            del variants["lazy"]  # as slow as ours here (both tokenize 100k messages); saves 7 s
    runs: dict[str, list[float]] = {k: [] for k in variants}
    kept: dict[str, int] = {}
    for r in range(reps):  # rotate the order so every variant sees the same load
        names = list(variants)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            inner = 5 if "cached" in name else 1  # sub-millisecond calls: several per round
            seconds, out = _time(variants[name], inner)
            runs[name].append(seconds)
            kept[name] = len(out)
    return {name: (times, kept[name]) for name, times in runs.items()}


def measure(big: int = BIG, repeats: int = 5) -> Result:
    from lesson_trim import trim_conversation

    from lessonlib.tokens import count_message, trim_messages

    check_lazy_matches()
    warm = conversation(300)
    for _ in range(2):  # load the encoding, warm caches and the allocator
        trim_messages(warm, KEEP_ALL, MODEL), trim_conversation(warm, KEEP_ALL)

    rows: dict[tuple[str, int, str], float] = {}
    kept: dict[tuple[str, int, str], int] = {}
    tokens_per_message = None
    for n in SIZES + (big,):
        msgs = conversation(n)
        if tokens_per_message is None:
            tokens_per_message = sum(count_message(m, MODEL) for m in msgs) / n
        for budget_name, budget in (("typical", TYPICAL), ("keep all", KEEP_ALL)):
            reps = 1 if n >= 8_000 and budget == KEEP_ALL else (3 if n >= 8_000 else repeats)

            runs = _time_variants(msgs, budget, reps, big=n == big)
            for name, (_, length) in runs.items():
                kept[(budget_name, n, name)] = length
            for name, (times, _) in runs.items():
                rows[(budget_name, n, name)] = median(times)
            same = {kept[(budget_name, n, v)] for v in runs if v != "lesson"}
            assert len(same) == 1, f"variants disagree at n={n}, {budget_name}: {same}"
        del msgs

    def t(budget: str, n: int, v: str) -> float:
        return rows[(budget, n, v)]

    def speedup(budget: str, n: int, v: str) -> float:
        return t(budget, n, "lesson") / t(budget, n, v)

    # linear growth of ours when every message must be counted (keep all)
    per_msg = {n: t("keep all", n, "ours") / n for n in SIZES + (big,)}
    # slope of log(time) vs log(n) from 2k to 100k (the small sizes are a few ms: too noisy on a busy machine)
    slope = math.log(t("keep all", big, "ours") / t("keep all", 2_000, "ours")) / math.log(big / 2_000)
    s2k, s2k_all = speedup("typical", 2_000, "ours"), speedup("keep all", 2_000, "ours")
    big_typ, big_all = t("typical", big, "ours"), t("keep all", big, "ours")
    linear = 0.85 <= slope <= 1.15
    passed = min(s2k, s2k_all) >= 50 and max(big_typ, big_all) <= 0.5 and linear

    cols = ["lesson", "ours", "cached", "lazy", "lazy+cached", "batch"]
    detail = [
        f"messages average {tokens_per_message:.0f} tokens (o200k); typical budget {TYPICAL:,} tokens, keep-all "
        f"budget larger than the conversation; one call, median of {repeats} rotating rounds (3 for 8k/100k typical, "
        "1 for 8k/100k keep all; the cached variants 5 calls per round)",
        "columns: lesson = trim_conversation; ours = trim_messages as shipped; VARIANTS (proposals, not shipped): "
        "cached = ours with count=cached_counter(), warm; lazy = trim_messages_lazy, cold; lazy+cached = both; "
        "batch = lazy with a cold cache filled by encode_ordinary_batch(num_threads=2). (x) = speedup over lesson",
        f"{'n':>7} {'budget':<8} " + " ".join(f"{c:>18}" for c in cols) + "   kept (lesson/ours)",
    ]
    for n in SIZES + (big,):
        for budget in ("typical", "keep all"):
            cells = []
            for c in cols:
                if (budget, n, c) not in rows:
                    cells.append(f"{'-':>18}")
                    continue
                x = f" ({speedup(budget, n, c):.0f}x)" if (budget, n, "lesson") in rows and c != "lesson" else ""
                if x and speedup(budget, n, c) < 10:
                    x = f" ({speedup(budget, n, c):.2f}x)"
                cells.append(f"{t(budget, n, c) * 1000:.2f} ms{x}".rjust(18))
            detail.append(
                f"{n:>7} {budget:<8} "
                + " ".join(cells)
                + f"   {kept.get((budget, n, 'lesson'), '-')}/{kept[(budget, n, 'ours')]}"
            )
    detail += [
        "growth of ours, keep all (every message counted): "
        + ", ".join(f"{k:,}: {v * 1e6:.1f} µs" for k, v in per_msg.items())
        + f" per message; log-log slope 2k-100k {slope:.2f} ({'linear' if linear else 'NOT linear'}: goal 0.85-1.15)",
        f">= 50x at 2k: ours as shipped {s2k:.2f}x typical / {s2k_all:.2f}x keep all; VARIANT lazy+cached "
        f"{speedup('typical', 2_000, 'lazy+cached'):.0f}x / {speedup('keep all', 2_000, 'lazy+cached'):.0f}x",
        f"100k <= 0.5 s: ours as shipped {big_typ:.3f} s typical / {big_all:.2f} s keep all; VARIANT lazy+cached "
        f"{t('typical', big, 'lazy+cached'):.4f} s / {t('keep all', big, 'lazy+cached'):.3f} s",
    ]
    return Result(
        key="P5",
        title="trimming vs the lesson's version",
        figure=f"{s2k:.2f}x at 2k, 100k in {max(big_typ, big_all):.2f} s",
        goal=">=50x @2k, 100k<=0.5s, linear",
        passed=passed,
        detail=detail,
        data={"seconds": {f"{b}|{n}|{v}": x for (b, n, v), x in rows.items()}, "slope": slope},
    )


if __name__ == "__main__":
    result = measure()
    print(result.line())
    for line in result.detail:
        print("    " + line)
