"""Checks for 09_error_handling, on real SDK objects from ``fixtures`` (the SDKs' own exceptions around httpx2
requests and responses, a ChatCompletion, a Message): offline, no cassette."""

from __future__ import annotations

import json
import math
from typing import Any

from lessonlib.exercises import NotYet, call, compare, exercise
from lessonlib.exercises.fixtures import completion, connection_error, message, status_error
from lessonlib.providers import PROVIDERS


def _label(err: BaseException) -> str:
    """How a nudge names an error: openai.RateLimitError(429), plus any x-should-retry header."""
    module = type(err).__module__.split(".")[0]
    name = f"{module}.{type(err).__name__}" if module in PROVIDERS else type(err).__name__
    status = getattr(err, "status_code", None)  # connection errors and timeouts have none, nor a response
    if status is None:
        return name
    should = err.response.headers.get("x-should-retry")
    return f"{name}({status})" + (f" with x-should-retry: {should}" if should else "")


@exercise("09.1", title="a retry predicate for both SDKs",
          idea="Some errors have no HTTP answer at all (so no status_code); the server can also say itself whether "
               "a retry helps.",
          hint="Test the type before the status: openai.APIConnectionError and anthropic.APIConnectionError "
               "(APITimeoutError is a subclass) have no status_code and are always worth a retry. For "
               "openai.APIStatusError / anthropic.APIStatusError, first obey "
               "err.response.headers.get('x-should-retry') "
               "('true' or 'false'), then retry when err.status_code is 408, 409, 429 or >= 500. Anything else: False.")
def _(fn: Any) -> str:
    why_429 = "429 is the classic case: the request was fine, only too early."
    why_5xx = "every status >= 500 is the server's problem and may pass next time."
    why_4xx = "fails the same way every time; retrying only burns quota."
    oa, an = "openai", "anthropic"
    retry = [
        *((status_error(p, "RateLimitError", 429), why_429) for p in (oa, an)),
        (status_error(oa, "InternalServerError", 500), why_5xx),
        (status_error(oa, "InternalServerError", 503), why_5xx),
        (status_error(an, "OverloadedError", 529),
         "Anthropic's 529 OverloadedError is a 5xx too (a subclass of InternalServerError)."),
        (status_error(an, "ServiceUnavailableError", 503), why_5xx),
        (status_error(oa, "ConflictError", 409),
         "the SDKs also retry 409 (a lock or conflict that clears by itself)."),
        (status_error(an, "RequestTimeoutError", 408), "the SDKs also retry 408 (the server timed out waiting)."),
        *((connection_error(p, timeout=True), "a timeout may well pass on the next attempt.") for p in (oa, an)),
        (connection_error(oa), "a connection error (refused, DNS, dropped) is worth another try."),
        (status_error(oa, "APIStatusError", 425, headers={"x-should-retry": "true"}),
         "the server said x-should-retry: true; obey it before looking at the status."),
    ]
    keep = [
        *((status_error(p, "BadRequestError", 400), "a 400 " + why_4xx) for p in (oa, an)),
        *((status_error(p, "AuthenticationError", 401), "a 401 (bad key) will not fix itself between attempts.")
          for p in (oa, an)),
        (status_error(oa, "PermissionDeniedError", 403), "a 403 " + why_4xx),
        (status_error(oa, "NotFoundError", 404), "a 404 (wrong model id or path) " + why_4xx),
        (status_error(oa, "UnprocessableEntityError", 422), "a 422 " + why_4xx),
        (status_error(an, "InternalServerError", 500, headers={"x-should-retry": "false"}),
         "the server said x-should-retry: false; the SDKs obey that header before looking at the status."),
        (json.JSONDecodeError("Expecting value", "Here's", 0),
         "only API errors are retried here; a JSONDecodeError is your parsing, not the network."),
    ]
    for expected, cases, verb in ((True, retry, "retry"), (False, keep, "not retry")):
        for err, why in cases:
            shown = f"should_retry({_label(err)})"
            lacks = None if hasattr(err, "status_code") else {  # on a status error it is a typo (err.headers)
                AttributeError: f"{shown} raised AttributeError ({{exc}}). Connection errors and timeouts have no "
                                "status_code or response: check isinstance(err, APIConnectionError) first."}
            out = call(fn, err, copy_args=False, returns=bool, want="True or False", name=shown, raises=lacks)
            compare(out, expected, otherwise=f"{shown} returned {out}; it should {verb}: {why}")
    return ("the rules of _should_retry in both SDKs (openai's also refuses a retry-after over 120 s; 9.3). Plug it "
            "into tenacity with retry=retry_if_exception(should_retry) on a client with max_retries=0.")


@exercise("09.2", title="the SDK's wait before a retry",
          idea="The wait doubles with each retry up to a cap, then a random jitter shortens it by up to a quarter; "
               "a usable retry-after replaces all that.",
          hint="Without a usable retry-after the wait is min(INITIAL_RETRY_DELAY * 2 ** retries_taken, "
               "MAX_RETRY_DELAY) = min(0.5 * 2 ** n, 8.0), times a jitter of 1 - 0.25 * random(), so between 0.75x "
               "and 1x of that. A retry_after with 0 < retry_after <= 120 (MAX_RETRY_AFTER_DELAY) is used as it is: "
               "(retry_after, retry_after).")
def _(fn: Any) -> str:
    # Private on purpose: the answer is graded against the SDK's real constants, so a change in them shows here.
    from openai._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY, MAX_RETRY_DELAY

    cases = [(n, None) for n in range(8)] + [(0, 1.0), (3, 30.0), (1, 0.0), (2, 300.0), (4, 120.0)]
    for n, retry_after in cases:
        shown = f"sdk_wait({n})" if retry_after is None else f"sdk_wait({n}, retry_after={retry_after:g})"
        extra = {} if retry_after is None else {"retry_after": retry_after}
        out = call(fn, n, **extra, name=shown, want="a (shortest, longest) tuple of seconds")
        try:
            low, high = (float(x) for x in out)
        except (TypeError, ValueError):
            raise NotYet(f"{shown} returned {out!r}: return a tuple of two numbers, (shortest, longest).") from None
        as_is = retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_DELAY  # a usable retry-after
        top = min(INITIAL_RETRY_DELAY * 2.0 ** n, MAX_RETRY_DELAY)
        want_low, want_high = (retry_after, retry_after) if as_is else (top * 0.75, top)
        if math.isclose(low, want_low, abs_tol=1e-9) and math.isclose(high, want_high, abs_tol=1e-9):
            continue
        if low > high:
            raise NotYet(f"{shown} returned ({low:g}, {high:g}): put the shortest wait first.")
        if as_is:
            raise NotYet(f"{shown} should be ({retry_after:g}, {retry_after:g}): a retry-after between 0 and "
                         f"{MAX_RETRY_AFTER_DELAY} s is used exactly, with no jitter.")
        if retry_after is not None:
            raise NotYet(f"{shown} should fall back to the backoff {want_low:g}..{want_high:g}: the SDK ignores a "
                         f"retry-after of 0 or above {MAX_RETRY_AFTER_DELAY} s when computing the wait.")
        if n == 0 and math.isclose(high, 1.0):
            raise NotYet("sdk_wait(0) is the wait before the first retry: "
                         "INITIAL_RETRY_DELAY * 2 ** 0 = 0.5 s at most.")
        if n >= 5 and high > MAX_RETRY_DELAY:
            raise NotYet(f"{shown} returned a longest wait of {high:g} s: "
                         f"MAX_RETRY_DELAY caps the backoff at {MAX_RETRY_DELAY:g} s.")
        if math.isclose(high, want_high) and not math.isclose(low, want_low):
            raise NotYet(f"{shown}: the longest wait {high:g} is right, the shortest is not. The jitter factor is "
                         "1 - 0.25 * random(), so the shortest wait is 0.75x the longest.")
        raise NotYet(f"{shown} returned ({low:g}, {high:g}); the SDK sleeps between {want_low:g} and {want_high:g} s.")
    return "that is _calculate_retry_timeout in openai/_base_client.py, jitter and caps included."


@exercise("09.3", title="the request id for a support ticket",
          idea="A response and an error keep the id in different attributes, and some errors never got a response.",
          hint="A successful response keeps it in `response._request_id` (both SDKs set it on the top-level object). "
               "An APIStatusError (any 4xx/5xx) has `err.request_id`, read from x-request-id (OpenAI) or request-id "
               "(Anthropic). A connection error or timeout got no response, so there is no id: return None. "
               "getattr(obj, 'request_id', None) or getattr(obj, '_request_id', None) covers all of them.")
def _(fn: Any) -> str:
    succeeded = "a successful response keeps its id in `_request_id`."
    cases = [
        (completion("Hello!", 8, 3, request_id="req_5e0b2f0c8d3a4b71a9c6e2d4f8a1b3c5"),
         "req_5e0b2f0c8d3a4b71a9c6e2d4f8a1b3c5", "an OpenAI ChatCompletion", succeeded),
        (message("Hello!", request_id="req_011CZ8vQm3RkT1pLw9XyNb2D"), "req_011CZ8vQm3RkT1pLw9XyNb2D",
         "an Anthropic Message", succeeded),
        (status_error("openai", "RateLimitError", 429, request_id="req_9b1c7e4a2f6d4c08b3a5e7d1c9f2a4b6"),
         "req_9b1c7e4a2f6d4c08b3a5e7d1c9f2a4b6", "an openai.RateLimitError",
         "an APIStatusError has `err.request_id` (from the x-request-id header)."),
        (status_error("anthropic", "OverloadedError", 529, request_id="req_011CZ9aKp4Lm7NqRs2TuVw3X"),
         "req_011CZ9aKp4Lm7NqRs2TuVw3X", "an anthropic.OverloadedError",
         "an APIStatusError has `err.request_id` (from the request-id header)."),
        (connection_error("openai"), None, "an openai.APIConnectionError",
         "a connection error got no response, so it has no request id: return None."),
        (connection_error("anthropic", timeout=True), None, "an anthropic.APITimeoutError",
         "a timeout got no response, so it has no request id: return None."),
    ]
    for obj, want, what, why in cases:
        out = call(fn, obj, copy_args=False, none_ok=True,
                   raises={AttributeError: f"request_id_of({what}) raised AttributeError ({{exc}}): {why}"})
        compare(out, want, otherwise=f"request_id_of({what}) returned {out!r}, expected {want!r}: {why}")
    return "paste that id into a support ticket, and log it next to every failure."
