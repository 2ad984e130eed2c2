"""Checks for 09_error_handling. Each builds real SDK objects here (exceptions from the SDKs' own
classes around httpx2 requests and responses, a ChatCompletion, a Message), so the exercises run
offline and need no cassette."""

from __future__ import annotations

import json
import math
from typing import Any

from lessonlib.exercises import NotYet, exercise

_URLS = {"openai": "https://api.openai.com/v1/chat/completions", "anthropic": "https://api.anthropic.com/v1/messages"}


def _request(provider: str) -> Any:
    import httpx2

    return httpx2.Request("POST", _URLS[provider])


def _status_error(provider: str, cls_name: str, status: int, headers: dict[str, str] | None = None,
                  request_id: str | None = None) -> Any:
    """An SDK status error exactly as the SDK builds it from an HTTP answer."""
    import anthropic
    import httpx2
    import openai

    headers = dict(headers or {})
    if provider == "openai":
        headers.setdefault("x-request-id", request_id or "req_" + "0" * 32)
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body: dict[str, Any] = {"message": f"authored {status} for an exercise", "type": kind,
                                "param": None, "code": None}
        module: Any = openai
    else:
        rid = request_id or "req_011C" + "0" * 20
        headers.setdefault("request-id", rid)
        error = {"type": "api_error", "message": f"authored {status} for an exercise"}
        body = {"type": "error", "error": error, "request_id": rid}
        module = anthropic
    response = httpx2.Response(status, headers=headers, json=body, request=_request(provider))
    return getattr(module, cls_name)(f"Error code: {status} - {body}", response=response, body=body)


def _connection_error(provider: str, timeout: bool = False) -> Any:
    import anthropic
    import openai

    module: Any = openai if provider == "openai" else anthropic
    if timeout:
        return module.APITimeoutError(request=_request(provider))
    return module.APIConnectionError(request=_request(provider))


def _label(err: BaseException) -> str:
    status = getattr(err, "status_code", None)
    module = type(err).__module__.split(".")[0]
    name = f"{module}.{type(err).__name__}" if module in ("openai", "anthropic") else type(err).__name__
    should = None
    response = getattr(err, "response", None)
    if response is not None:
        should = response.headers.get("x-should-retry")
    extra = f" with x-should-retry: {should}" if should else ""
    return f"{name}({status}){extra}" if status else name


# ---- 09.1 -------------------------------------------------------------------------------------

@exercise("09.1", title="a retry predicate for both SDKs",
          hint="Test the type before the status: openai.APIConnectionError and anthropic.APIConnectionError "
               "(APITimeoutError is a subclass) have no status_code and are always worth a retry. For "
               "openai.APIStatusError / anthropic.APIStatusError, first obey "
               "err.response.headers.get('x-should-retry') "
               "('true' or 'false'), then retry when err.status_code is 408, 409, 429 or >= 500. Anything else: False.")
def _(fn: Any) -> str:
    why_429 = "429 is the classic case: the request was fine, only too early."
    why_5xx = "every status >= 500 is the server's problem and may pass next time."
    why_4xx = "fails the same way every time; retrying only burns quota."
    why_timeout = "a timeout may well pass on the next attempt."
    oa, an = "openai", "anthropic"
    retry = [
        (_status_error(oa, "RateLimitError", 429), why_429),
        (_status_error(an, "RateLimitError", 429), why_429),
        (_status_error(oa, "InternalServerError", 500), why_5xx),
        (_status_error(oa, "InternalServerError", 503), why_5xx),
        (_status_error(an, "OverloadedError", 529),
         "Anthropic's 529 OverloadedError is a 5xx too (a subclass of InternalServerError)."),
        (_status_error(an, "ServiceUnavailableError", 503), why_5xx),
        (_status_error(oa, "ConflictError", 409),
         "the SDKs also retry 409 (a lock or conflict that clears by itself)."),
        (_status_error(an, "RequestTimeoutError", 408), "the SDKs also retry 408 (the server timed out waiting)."),
        (_connection_error(oa, timeout=True), why_timeout),
        (_connection_error(an, timeout=True), why_timeout),
        (_connection_error(oa), "a connection error (refused, DNS, dropped) is worth another try."),
        (_status_error(oa, "APIStatusError", 425, headers={"x-should-retry": "true"}),
         "the server said x-should-retry: true; obey it before looking at the status."),
    ]
    keep = [
        (_status_error(oa, "BadRequestError", 400), "a 400 " + why_4xx),
        (_status_error(an, "BadRequestError", 400), "a 400 " + why_4xx),
        (_status_error(oa, "AuthenticationError", 401), "a 401 (bad key) will not fix itself between attempts."),
        (_status_error(an, "AuthenticationError", 401), "a 401 (bad key) will not fix itself between attempts."),
        (_status_error(oa, "PermissionDeniedError", 403), "a 403 " + why_4xx),
        (_status_error(oa, "NotFoundError", 404), "a 404 (wrong model id or path) " + why_4xx),
        (_status_error(oa, "UnprocessableEntityError", 422), "a 422 " + why_4xx),
        (_status_error(an, "InternalServerError", 500, headers={"x-should-retry": "false"}),
         "the server said x-should-retry: false; the SDKs obey that header before looking at the status."),
        (json.JSONDecodeError("Expecting value", "Here's", 0),
         "only API errors are retried here; a JSONDecodeError is your parsing, not the network."),
    ]
    for err, why in retry + keep:
        try:
            out = fn(err)
        except AttributeError as exc:
            raise NotYet(f"should_retry({_label(err)}) raised AttributeError ({exc}). Connection errors and timeouts "
                         "have no status_code or response: check isinstance(err, APIConnectionError) first.") from None
        if not isinstance(out, bool):
            raise NotYet(f"should_retry({_label(err)}) returned {out!r}: return True or False.")
        expected = any(err is e for e, _ in retry)
        if out != expected:
            verb = "retry" if expected else "not retry"
            raise NotYet(f"should_retry({_label(err)}) returned {out}; it should {verb}: {why}")
    return ("the same rules as _should_retry in both SDKs. Plug it into tenacity with "
            "retry=retry_if_exception(should_retry) on a client with max_retries=0.")


# ---- 09.2 -------------------------------------------------------------------------------------

@exercise("09.2", title="the SDK's wait before a retry",
          hint="Without a usable retry-after the wait is "
               "min(INITIAL_RETRY_DELAY * 2 ** retries_taken, MAX_RETRY_DELAY) "
               "= min(0.5 * 2 ** n, 8.0), times a jitter of 1 - 0.25 * random(), so between 0.75x and 1x of that. "
               "A retry_after with 0 < retry_after <= 120 (MAX_RETRY_AFTER_DELAY) is used as it is: "
               "(retry_after, retry_after).")
def _(fn: Any) -> str:
    from openai._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY, MAX_RETRY_DELAY

    def expected(n: int, retry_after: float | None) -> tuple[float, float]:
        if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_DELAY:
            return (retry_after, retry_after)
        top = min(INITIAL_RETRY_DELAY * 2.0 ** n, MAX_RETRY_DELAY)
        return (top * 0.75, top)

    cases = [(n, None) for n in range(8)] + [(0, 1.0), (3, 30.0), (1, 0.0), (2, 300.0)]
    for n, retry_after in cases:
        call = f"sdk_wait({n})" if retry_after is None else f"sdk_wait({n}, retry_after={retry_after:g})"
        out = fn(n) if retry_after is None else fn(n, retry_after=retry_after)
        if out is None:
            raise NotYet(f"{call} returned None: return a (shortest, longest) tuple of seconds.")
        try:
            low, high = (float(x) for x in out)
        except (TypeError, ValueError):
            raise NotYet(f"{call} returned {out!r}: return a tuple of two numbers, (shortest, longest).") from None
        want_low, want_high = expected(n, retry_after)
        if math.isclose(low, want_low, abs_tol=1e-9) and math.isclose(high, want_high, abs_tol=1e-9):
            continue
        if low > high:
            raise NotYet(f"{call} returned ({low:g}, {high:g}): put the shortest wait first.")
        if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_DELAY:
            raise NotYet(f"{call} should be ({retry_after:g}, {retry_after:g}): a retry-after between 0 and "
                         f"{MAX_RETRY_AFTER_DELAY} s is used exactly, with no jitter.")
        if retry_after is not None:
            raise NotYet(f"{call} should fall back to the backoff {want_low:g}..{want_high:g}: the SDK ignores a "
                         f"retry-after of 0 or above {MAX_RETRY_AFTER_DELAY} s when computing the wait.")
        if n == 0 and math.isclose(high, 1.0):
            raise NotYet("sdk_wait(0) is the wait before the first retry: "
                         "INITIAL_RETRY_DELAY * 2 ** 0 = 0.5 s at most.")
        if n >= 5 and high > MAX_RETRY_DELAY:
            raise NotYet(f"{call} returned a longest wait of {high:g} s: "
                         f"MAX_RETRY_DELAY caps the backoff at {MAX_RETRY_DELAY:g} s.")
        if math.isclose(high, want_high) and not math.isclose(low, want_low):
            raise NotYet(f"{call}: the longest wait {high:g} is right, the shortest is not. The jitter factor is "
                         "1 - 0.25 * random(), so the shortest wait is 0.75x the longest.")
        raise NotYet(f"{call} returned ({low:g}, {high:g}); the SDK sleeps between {want_low:g} and {want_high:g} s.")
    return "that is _calculate_retry_timeout in openai/_base_client.py, jitter and caps included."


# ---- 09.3 -------------------------------------------------------------------------------------

def _completion(request_id: str) -> Any:
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate({
        "id": "chatcmpl-exercise", "object": "chat.completion", "created": 1795548733,
        "model": "gpt-5.4-mini-2026-03-17",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Hello!", "refusal": None, "annotations": []}}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
    })
    completion._request_id = request_id
    return completion


def _message(request_id: str) -> Any:
    from anthropic.types import Message

    message = Message.model_validate({
        "id": "msg_01Exercise", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 8, "output_tokens": 3},
    })
    message._request_id = request_id
    return message


@exercise("09.3", title="the request id for a support ticket",
          hint="A successful response keeps it in `response._request_id` (both SDKs set it on the top-level object). "
               "An APIStatusError (any 4xx/5xx) has `err.request_id`, read from x-request-id (OpenAI) or request-id "
               "(Anthropic). A connection error or timeout got no response, so there is no id: return None. "
               "getattr(obj, 'request_id', None) or getattr(obj, '_request_id', None) covers all of them.")
def _(fn: Any) -> str:
    cases = [
        (_completion("req_5e0b2f0c8d3a4b71a9c6e2d4f8a1b3c5"), "req_5e0b2f0c8d3a4b71a9c6e2d4f8a1b3c5",
         "an OpenAI ChatCompletion",
         "a successful response keeps its id in `_request_id`."),
        (_message("req_011CZ8vQm3RkT1pLw9XyNb2D"), "req_011CZ8vQm3RkT1pLw9XyNb2D", "an Anthropic Message",
         "a successful response keeps its id in `_request_id`."),
        (_status_error("openai", "RateLimitError", 429, request_id="req_9b1c7e4a2f6d4c08b3a5e7d1c9f2a4b6"),
         "req_9b1c7e4a2f6d4c08b3a5e7d1c9f2a4b6", "an openai.RateLimitError",
         "an APIStatusError has `err.request_id` (from the x-request-id header)."),
        (_status_error("anthropic", "OverloadedError", 529, request_id="req_011CZ9aKp4Lm7NqRs2TuVw3X"),
         "req_011CZ9aKp4Lm7NqRs2TuVw3X", "an anthropic.OverloadedError",
         "an APIStatusError has `err.request_id` (from the request-id header)."),
        (_connection_error("openai"), None, "an openai.APIConnectionError",
         "a connection error got no response, so it has no request id: return None."),
        (_connection_error("anthropic", timeout=True), None, "an anthropic.APITimeoutError",
         "a timeout got no response, so it has no request id: return None."),
    ]
    for obj, want, what, why in cases:
        try:
            out = fn(obj)
        except AttributeError as exc:
            raise NotYet(f"request_id_of({what}) raised AttributeError ({exc}): {why}") from None
        if out != want:
            raise NotYet(f"request_id_of({what}) returned {out!r}, expected {want!r}: {why}")
    return "paste that id into a support ticket, and log it next to every failure."
