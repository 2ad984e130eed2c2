"""A spending cap for live and record modes: reserve each call's worst case, settle it with its real usage.

With ``LESSON_BUDGET_USD=0.50`` in ``.env``, calls go through the course's local server (in live mode too). A call's
worst case (its prompt estimated from the request's size, a base64 image at IMAGE_TOKENS, plus all the output tokens
it allows, 4,096 when unset, for each of ``n`` choices) is reserved before it is forwarded. One that does not fit
beside what is spent and reserved is refused, so concurrent calls cannot overshoot the cap; so is one to a model
without a price, or one whose body names no model (an OpenAI Batch, a file upload), unless a local server (Ollama...)
answers it. A complete answer's reservation is replaced by the cost of its ``usage`` (a stream without usage is
estimated from its text); an Anthropic Message Batch, billed later at half price, counts at its worst case.
``lessonlib.budget.spent()`` shows the total; a re-run of the set-up cell keeps it (:func:`session_budget`).
Taught in: 01_setup (workshop notes).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from .cassette import canonical_body
from .prices import PRICES, cost_usd, price_for
from .providers import Provider
from .redact import hide_keys

__all__ = ["Budget", "session_budget", "spent"]

DEFAULT_MAX_OUTPUT = 4096  # output tokens reserved for a request that sets no limit
CHARS_PER_TOKEN = 4  # for estimates: English text averages about 4 characters per token
BATCH_PRICE = 0.5  # Anthropic bills a Message Batch's requests at half the price, later: counted when it is created
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


def worst_case(data: dict, size: int) -> tuple[str | None, int, int]:
    """(model, prompt tokens estimated generously from the request's size, most output tokens it allows)."""
    limits = [data.get(k) for k in ("max_completion_tokens", "max_tokens", "max_output_tokens")]
    out = next((v for v in limits if isinstance(v, int) and v > 0), DEFAULT_MAX_OUTPUT)
    model = data.get("model") if isinstance(data.get("model"), str) else None
    choices = data.get("n") if isinstance(data.get("n"), int) and data["n"] > 1 else 1  # Chat Completions bills each
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


@dataclass
class Budget:
    """The cap, the running total and the reservations of one kernel session."""

    limit_usd: float
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    calls: int = 0
    estimated: int = 0  # calls priced from their text because the stream reported no usage
    unpriced: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        _CURRENT["budget"] = self

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
            if self.spent_usd + self.reserved_usd + worst <= self.limit_usd:
                self.reserved_usd += worst
                return worst
            spent, held = self.spent_usd, self.reserved_usd
        reached = "Spending cap reached" if spent + held >= self.limit_usd else "Spending cap reached for this call"
        return (f"{reached}: this session has spent about ${spent:.4f} of its LESSON_BUDGET_USD=${self.limit_usd:.2f} "
                f"on {self.calls} calls (${held:.4f} more is held by calls still running), and this call could cost "
                f"up to ${worst:.4f} ({out:,} output tokens at most), so it was not sent. Lower max_tokens / "
                "max_completion_tokens, or raise LESSON_BUDGET_USD in .env and restart the kernel, or switch to "
                "LESSON_MODE=replay.")

    def settle(self, hold: float | None, request_body: bytes, response_body: bytes, provider: Provider) -> float:
        """Replace a call's reservation by its cost (from its usage, else estimated from its text)."""
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
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - (hold or 0.0))
            if not (usage or batch):
                return 0.0  # an error answer: nothing billed
            self.calls += 1
            self.estimated += estimate
            if cost is None:
                self.unpriced.add(str(model))
                return 0.0
            self.spent_usd += cost
        return cost

    def summary(self) -> str:
        text = f"spent about ${self.spent_usd:.4f} of ${self.limit_usd:.2f} on {self.calls} calls"
        if self.estimated:
            text += f" ({self.estimated} estimated from their text: the stream reported no usage)"
        if self.unpriced:
            unpriced = ", ".join(sorted(self.unpriced))
            text += f" (not priced, so not counted: {unpriced}; add them to lessonlib/prices.py)"
        return text


def session_budget(limit_usd: float) -> Budget:
    """This kernel session's cap at ``limit_usd``: a re-run of the set-up cell keeps what was spent so far."""
    budget = _CURRENT.get("budget") or Budget(limit_usd=limit_usd)
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
