"""P5: trimming a long conversation: ``lessonlib.tokens.trim_messages`` vs the lesson's
``trim_conversation`` (bench/lesson_trim.py, copied from lesson section 7).

What is measured, exactly:

- conversations of n = 500, 2,000 and 8,000 messages (and 100,000 for ours alone): one system prompt,
  then alternating user (15-80 words) and assistant (60-400 words, some with code) turns, every text
  unique (~165 o200k tokens per message on average), plain string content (the lesson's version cannot
  read anything else);
- two budgets: *typical* = 100,000 tokens (the lesson's default; keeps the newest ~600 messages), and
  *keep all* = a budget larger than the conversation, so every message is counted (the worst case);
- ``time.perf_counter`` around one call (median of several, rotating the implementations); both
  tokenize with o200k_base, the lesson's through ``encoding_for_model("gpt-4o")``.

Columns: *lesson*; *cold* = ``trim_messages`` right after ``clear_count_cache()`` (it tokenizes every
message it reads, as the lesson does); *chat loop* = ``trim_messages`` as it runs when you trim before
every request: the previous turn's call (on the conversation without its newest exchange) counted
everything but the newest two messages, so the timed calls look counts up in ``count_message``'s cache
(keyed by the message's value). The goal (issue 14) is on the chat loop: >= 50x the lesson's at 2k
messages, 100k messages in <= 0.5 s.
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

    from lessonlib.tokens import clear_count_cache, trim_messages

    def cold() -> list:
        clear_count_cache()
        return trim_messages(msgs, budget, MODEL)

    def chat_loop() -> list:
        return trim_messages(msgs, budget, MODEL)

    variants: dict[str, Callable[[], list]] = {"lesson": lambda: trim_conversation(msgs, budget), "cold": cold,
                                               "chat loop": chat_loop}
    if big:
        del variants["lesson"]  # the brief: 100k for ours alone
    runs: dict[str, list[float]] = {k: [] for k in variants}
    kept: dict[str, int] = {}
    for r in range(reps):  # rotate the order so every variant sees the same load
        names = list(variants)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name == "chat loop":  # last turn's call: everything but the newest exchange is counted
                clear_count_cache()
                trim_messages(msgs[:-2], budget, MODEL)
            seconds, out = _time(variants[name], 5 if name == "chat loop" else 1)
            runs[name].append(seconds)
            kept[name] = len(out)
    return {name: (times, kept[name]) for name, times in runs.items()}


def measure(big: int = BIG, repeats: int = 5) -> Result:
    from lesson_trim import trim_conversation

    from lessonlib.tokens import count_message, trim_messages

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
            for name, (times, length) in runs.items():
                kept[(budget_name, n, name)] = length
                rows[(budget_name, n, name)] = median(times)
            same = {kept[(budget_name, n, v)] for v in runs if v != "lesson"}
            assert len(same) == 1, f"cold and chat-loop calls disagree at n={n}, {budget_name}: {same}"
        del msgs

    def t(budget: str, n: int, v: str) -> float:
        return rows[(budget, n, v)]

    def speedup(budget: str, n: int, v: str) -> float:
        return t(budget, n, "lesson") / t(budget, n, v)

    # linear growth when every message must be counted (keep all): cold (tokenizing) and chat loop (lookups)
    slope = {v: math.log(t("keep all", big, v) / t("keep all", 2_000, v)) / math.log(big / 2_000)
             for v in ("cold", "chat loop")}
    s2k, s2k_all = speedup("typical", 2_000, "chat loop"), speedup("keep all", 2_000, "chat loop")
    big_typ, big_all = t("typical", big, "chat loop"), t("keep all", big, "chat loop")
    linear = all(0.85 <= x <= 1.15 for x in slope.values())
    passed = min(s2k, s2k_all) >= 50 and max(big_typ, big_all) <= 0.5 and linear

    cols = ["lesson", "cold", "chat loop"]
    detail = [
        f"messages average {tokens_per_message:.0f} tokens (o200k); typical budget {TYPICAL:,} tokens, keep-all "
        f"budget larger than the conversation; one call, median of {repeats} rotating rounds (3 for 8k/100k typical, "
        "1 for 8k/100k keep all; chat loop: median of 5 calls per round)",
        "columns: lesson = trim_conversation; cold = trim_messages after clear_count_cache(); chat loop = "
        "trim_messages after last turn's call counted all but the newest exchange. (x) = speedup over lesson",
        f"{'n':>7} {'budget':<8} " + " ".join(f"{c:>19}" for c in cols) + "   kept (lesson/ours)",
    ]
    for n in SIZES + (big,):
        for budget in ("typical", "keep all"):
            cells = []
            for c in cols:
                if (budget, n, c) not in rows:
                    cells.append(f"{'-':>19}")
                    continue
                x = ""
                if (budget, n, "lesson") in rows and c != "lesson":
                    x = f" ({speedup(budget, n, c):.0f}x)" if speedup(budget, n, c) >= 10 else f" ({speedup(budget, n, c):.2f}x)"
                cells.append(f"{t(budget, n, c) * 1000:.2f} ms{x}".rjust(19))
            detail.append(f"{n:>7} {budget:<8} " + " ".join(cells)
                          + f"   {kept.get((budget, n, 'lesson'), '-')}/{kept[(budget, n, 'cold')]}")
    detail += [
        "log-log slope 2k-100k, keep all: " + ", ".join(f"{v} {x:.2f}" for v, x in slope.items())
        + f" ({'linear' if linear else 'NOT linear'}: goal 0.85-1.15)",
        f">= 50x at 2k (chat loop): {s2k:.0f}x typical / {s2k_all:.0f}x keep all; cold: "
        f"{speedup('typical', 2_000, 'cold'):.2f}x / {speedup('keep all', 2_000, 'cold'):.2f}x",
        f"100k <= 0.5 s (chat loop): {big_typ:.4f} s typical / {big_all:.3f} s keep all; cold: "
        f"{t('typical', big, 'cold'):.3f} s / {t('keep all', big, 'cold'):.2f} s (tokenizing every message once)",
    ]
    return Result(
        key="P5",
        title="trimming vs the lesson's version",
        figure=f"{min(s2k, s2k_all):.0f}x at 2k, 100k in {max(big_typ, big_all):.2f} s",
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
