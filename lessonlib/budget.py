"""A spending cap for live and record modes: reserve each call's worst case, settle it with its real usage.

With ``LESSON_BUDGET_USD=0.50`` in ``.env``, calls go through the course's local server (in live mode too). A call's
worst case (its prompt estimated from the request's size, a base64 image at IMAGE_TOKENS, plus all the output tokens
it allows, for each of ``n`` choices) is reserved before it is forwarded; a call that sets no output limit is
sent with DEFAULT_MAX_OUTPUT as its limit, so that it cannot cost more than was reserved. One that does not fit
beside what is spent and reserved is refused, so concurrent calls cannot overshoot the cap; so is one to a model
without a price, or one whose body names no model (an OpenAI Batch, a file upload), unless a local server (Ollama...)
answers it. A complete answer's reservation is replaced by the cost of its ``usage`` (a stream without usage is
estimated from its text); an Anthropic Message Batch, billed later at half price, counts at its worst case.
The total is kept in a ledger file that every kernel shares (``.lesson-budget.sqlite`` beside ``.env``), so the cap
holds for the whole course: across notebooks, restarts and notebooks open at once. ``lessonlib.budget.spent()``
shows it; deleting the file starts a new count.
Taught in: 01_setup (workshop notes).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from typing import Any

from .cassette import canonical_body
from .prices import PRICES, cost_usd, price_for
from .providers import Provider
from .redact import hide_keys

__all__ = ["Budget", "session_budget", "spent"]

DEFAULT_MAX_OUTPUT = 4096  # output tokens reserved for a request that sets no limit, and then sent as its limit
LIMITS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# Where an API lets a call leave its output limit out (Anthropic's Messages API requires max_tokens), the field that
# sets it: a capped call without one is sent with DEFAULT_MAX_OUTPUT, so it cannot cost more than was reserved.
# Token counts (Anthropic's messages.count_tokens, OpenAI's responses.input_tokens) answer with a count and no usage,
# so the cap neither reserves nor counts them (near the cap, a reservation once refused such a call).
COUNTS = ("/count_tokens", "/input_tokens")
OUTPUT_LIMIT = {"/v1/chat/completions": "max_completion_tokens", "/v1/responses": "max_output_tokens",
                "/v1/completions": "max_tokens"}
CHARS_PER_TOKEN = 4  # for estimates: English text averages about 4 characters per token
BATCH_PRICE = 0.5  # Anthropic bills a Message Batch's requests at half the price, later: counted when it is created
HOLD_EXPIRY = 900.0  # seconds a kernel's hold counts in the ledger unless renewed (one that died during a call)
IMAGE_TOKENS = 10_000  # reserved per base64 image, billed by its pixels (at most ~1,600), not by its bytes
_CURRENT: dict[str, "Budget"] = {}


def _json(body: bytes) -> dict:
    data = canonical_body(body)  # parsed JSON, the text itself, or None for no body
    return data if isinstance(data, dict) else {}


def _images(value: object) -> tuple[int, int]:
    """(how many base64 images a request holds, their characters): OpenAI's data: URLs, Anthropic's sources."""
    if isinstance(value, str):
        return (1, len(value)) if value.startswith("data:image/") else (0, 0)
    source = value if isinstance(value, dict) else {}
    if str(source.get("media_type")).startswith("image/") and isinstance(source.get("data"), str):
        return 1, len(source["data"])
    parts = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    found = [_images(v) for v in parts]
    return sum(n for n, _ in found), sum(c for _, c in found)


def _count(value: object) -> int:
    """A count as leniently as an API might read it ("500", 500.0), rounded up; 0 for what none reads as one."""
    try:
        return max(0, math.ceil(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return 0


def worst_case(data: dict, size: int) -> tuple[str | None, int, int]:
    """(model, prompt tokens estimated generously from the request's size, most output tokens it allows): the
    largest of its limits (one no API accepts, 0 or "lots", is refused there, so it reserves DEFAULT_MAX_OUTPUT)."""
    out = max(_count(data.get(k)) for k in LIMITS) or DEFAULT_MAX_OUTPUT
    model = data.get("model") if isinstance(data.get("model"), str) else None
    choices = max(1, _count(data.get("n")))  # Chat Completions bills every choice
    images, chars = _images(data)
    return model, max(0, size - chars) // 3 + 1 + images * IMAGE_TOKENS, out * choices


def worst_usd(request_body: bytes) -> tuple[float, int, list[str]]:
    """(the most a request can cost, its output tokens at most, its models the price table lacks, None for a body
    that names none); an Anthropic Message Batch at its half price."""
    data = _json(request_body)
    requests = data.get("requests") if isinstance(data.get("requests"), list) else []
    batch = [r["params"] for r in requests if isinstance(r, dict) and isinstance(r.get("params"), dict)]
    calls = [worst_case(p, len(json.dumps(p))) for p in batch] or [worst_case(data, len(request_body))]
    # a body that names no model (a file upload, an OpenAI Batch, audio) is billed in ways the cap cannot see
    costs = [cost_usd(m, {"input_tokens": i, "output_tokens": o}) if m else None if request_body.strip() else 0.0
             for m, i, o in calls]
    unpriced = [m for (m, _, _), cost in zip(calls, costs) if cost is None]
    return sum(c or 0.0 for c in costs) * (BATCH_PRICE if batch else 1.0), sum(o for _, _, o in calls), unpriced


def with_output_limit(path: str, body: bytes) -> tuple[bytes, str | None]:
    """The body to send a capped call with, and the output-limit field added to it (None: sent as it came)."""
    field, data = OUTPUT_LIMIT.get(path.partition("?")[0]), _json(body)
    if field is None or not data or any(data.get(k) is not None for k in LIMITS):
        return body, None
    return json.dumps({**data, field: DEFAULT_MAX_OUTPUT}, ensure_ascii=False).encode("utf-8"), field


class Budget:
    """The cap, and the ledger of what was spent and what calls still running hold.

    ``path``: the ledger, an SQLite file that every kernel of the course shares (setup() puts it beside ``.env``),
    so every notebook, a restart and two notebooks open at once all draw on one total; ``":memory:"`` keeps it to
    this object. SQLite, because it is in the standard library and locks a file across processes on every OS."""

    def __init__(self, limit_usd: float, path: str | os.PathLike[str] = ":memory:") -> None:
        self.limit_usd, self.path = limit_usd, str(path)
        self.unpriced: set[str] = set()
        self._held = 0.0  # what this process's calls hold (its row in the ledger's ``held``)
        self._owner = f"{os.getpid()}-{id(self)}"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.executescript("CREATE TABLE IF NOT EXISTS spent (usd REAL, estimated INTEGER);"
                               "CREATE TABLE IF NOT EXISTS held (owner TEXT PRIMARY KEY, usd REAL, until REAL);")

    def _totals(self) -> tuple[float, int, int, float]:
        """(spent, calls, of them estimated, held by calls still running), over every kernel on this ledger; a
        kernel that died during a call stops holding once its row is HOLD_EXPIRY seconds old."""
        spent, calls, estimated = self._db.execute(
            "SELECT TOTAL(usd), COUNT(*), TOTAL(estimated) FROM spent").fetchone()
        held = self._db.execute("SELECT TOTAL(usd) FROM held WHERE until > ?", (time.time(),)).fetchone()[0]
        return spent, calls, int(estimated), held

    def _hold(self, change: float) -> None:
        self._held = max(0.0, self._held + change)
        self._db.execute("DELETE FROM held WHERE until <= ?", (time.time(),))
        self._db.execute("INSERT OR REPLACE INTO held VALUES (?, ?, ?)",
                         (self._owner, self._held, time.time() + HOLD_EXPIRY))

    # the ledger's totals, over every kernel that uses it (spent(), the doctor and the tests read them)
    spent_usd = property(lambda self: self._read(0))
    calls = property(lambda self: self._read(1))
    estimated = property(lambda self: self._read(2))
    reserved_usd = property(lambda self: self._read(3))

    @property
    def _new_count(self) -> str:
        """How to start the count again, for a ledger in a file."""
        return "" if self.path == ":memory:" else f"delete {self.path} to start a new count"

    def _read(self, n: int) -> Any:
        with self._lock:
            return self._totals()[n]

    def reserve(self, request_body: bytes, billed: bool = True) -> float | str:
        """Reserve a call's worst case and return it (pass it to :meth:`settle`), or say why it must not go out.
        ``billed``: it goes to the provider's own API (a local server, Ollama..., bills nothing)."""
        worst, out, unpriced = worst_usd(request_body)
        if None in unpriced and billed:
            return ("This request names no model, so the spending cap cannot price it (a file upload, an OpenAI "
                    "Batch or an audio request is billed in ways it cannot see), and it was not sent. Make such "
                    "calls without a cap: remove LESSON_BUDGET_USD from .env and restart the kernel.")
        if unpriced and billed:
            return (f"{hide_keys(unpriced[0])} has no price in lessonlib/prices.py, so the spending cap could not "
                    f"count this call, and it was not sent. Use a model it prices ({', '.join(PRICES)}), add this "
                    "one to it, or remove LESSON_BUDGET_USD from .env and restart the kernel.")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one kernel at a time from here to COMMIT
            try:
                spent, calls, _, held = self._totals()
                if spent + held + worst <= self.limit_usd:
                    self._hold(worst)
                    return worst
            finally:
                self._db.execute("COMMIT")
        reached = "Spending cap reached" if spent + held >= self.limit_usd else "Spending cap reached for this call"
        start_again = f" (or {self._new_count})" if self._new_count else ""
        return (f"{reached}: the course (all its notebooks and kernels together) has spent about ${spent:.4f} of its "
                f"LESSON_BUDGET_USD=${self.limit_usd:.2f} on {calls} calls (${held:.4f} more is held by calls still "
                f"running), and this call could cost up to ${worst:.4f} ({out:,} output tokens at most), so it was "
                f"not sent. Lower max_tokens / max_completion_tokens, or raise LESSON_BUDGET_USD in .env{start_again} "
                "and restart the kernel, or switch to LESSON_MODE=replay.")

    def settle(self, hold: float | None, request_body: bytes, response_body: bytes, provider: Provider,
               billed: bool = True) -> float:
        """Replace a call's reservation by its cost (from its usage, else estimated from its text). ``billed``: the
        provider's own API answered; a local server's model without a price leaves no gap (it bills nothing)."""
        model, usage, text = provider.usage(response_body)
        estimate = False
        if not usage:
            requested = _json(request_body).get("model")
            model = model or (requested if isinstance(requested, str) else None)
            if text and model:
                usage = {"input_tokens": len(request_body) // CHARS_PER_TOKEN,
                         "output_tokens": len(text) // CHARS_PER_TOKEN + 1}
                estimate = True
        # a Message Batch just created (not one looked up: nothing was reserved): billed later, its worst case now
        batch = bool(hold) and not usage and _json(response_body).get("type") == "message_batch"
        cost = (hold or 0.0) if batch else cost_usd(model, usage) if model and usage else None
        if cost is None and (usage or batch) and billed:
            self.unpriced.add(str(model))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._hold(-(hold or 0.0))
                if usage or batch:  # not an error answer (nothing billed)
                    self._db.execute("INSERT INTO spent VALUES (?, ?)", (cost or 0.0, estimate))
            finally:
                self._db.execute("COMMIT")
        return cost or 0.0

    def summary(self) -> str:
        with self._lock:
            spent, calls, estimated, _ = self._totals()
        text = f"spent about ${spent:.4f} of ${self.limit_usd:.2f} on {calls} calls"
        if self._new_count:
            text += f" in every notebook ({self._new_count})"
        if estimated:
            text += f" ({estimated} estimated from their text: the stream reported no usage)"
        if self.unpriced:
            unpriced = ", ".join(sorted(self.unpriced))
            text += f" (not priced, so not counted: {unpriced}; add them to lessonlib/prices.py)"
        return text


def session_budget(limit_usd: float, path: str | os.PathLike[str] = ":memory:") -> Budget:
    """The cap at ``limit_usd`` on the ledger at ``path`` (a re-run of the set-up cell keeps this kernel's)."""
    budget = _CURRENT.get("budget")
    if budget is None or budget.path != str(path):
        budget = _CURRENT["budget"] = Budget(limit_usd, path)
    budget.limit_usd = limit_usd
    return budget


def spent() -> str:
    """The running total of this kernel's spending cap, as one line."""
    budget = _CURRENT.get("budget")
    return budget.summary() if budget else "no spending cap is set (LESSON_BUDGET_USD in .env)"


def check_model_is_priced(model: str) -> str | None:
    """A warning when a capped session uses a model the price table does not know."""
    if price_for(model) is None:
        return (f"{model} has no price in lessonlib/prices.py, so the spending cap cannot count it: calls to it are "
                "refused, except calls to a local server.")
    return None
