"""Solutions to the exercises of notebooks/09_error_handling.ipynb (checked by tests/test_exercises.py)."""

import anthropic
import openai

# The SDK's retry constants, as openai/_constants.py sets them (openai 3.57.0). They are private, so a
# learner's code copies them rather than importing them; the 09.2 checker reads the real ones.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER_DELAY = 120

RETRYABLE_STATUS = {408, 409, 429}


def should_retry(err):
    """09.1: the SDKs' own rule, for errors from either SDK."""
    if isinstance(err, (openai.APIConnectionError, anthropic.APIConnectionError)):
        return True  # no answer at all (timeouts included): worth another try
    if isinstance(err, (openai.APIStatusError, anthropic.APIStatusError)):
        header = err.response.headers.get("x-should-retry")
        if header in ("true", "false"):
            return header == "true"  # the server knows best
        return err.status_code in RETRYABLE_STATUS or err.status_code >= 500
    return False


def sdk_wait(retries_taken, retry_after=None):
    """09.2: (shortest, longest) seconds the OpenAI SDK sleeps before retry number retries_taken + 1."""
    if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_DELAY:
        return (retry_after, retry_after)
    longest = min(INITIAL_RETRY_DELAY * 2.0 ** retries_taken, MAX_RETRY_DELAY)
    return (longest * 0.75, longest)  # jitter: 1 - 0.25 * random()


def request_id_of(obj):
    """09.3: the provider's request id of a response or an error, or None when there was no response."""
    if isinstance(obj, (openai.APIStatusError, anthropic.APIStatusError)):
        return obj.request_id
    return getattr(obj, "_request_id", None)


ANSWERS = {"09.1": should_retry, "09.2": sdk_wait, "09.3": request_id_of}
