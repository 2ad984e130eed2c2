"""The SDK facts notebooks/09_error_handling.ipynb states in prose, checked against the installed SDKs,
so an SDK upgrade that changes them fails here instead of leaving the lesson quietly wrong."""

import httpx2
import pytest

import anthropic
import openai
from anthropic import _constants as anthropic_constants
from openai import _constants as openai_constants


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    request = httpx2.Request("POST", "https://example.invalid/v1/x")
    return httpx2.Response(status, headers=headers or {}, request=request)


@pytest.fixture(params=["openai", "anthropic"])
def client(request):
    if request.param == "openai":
        return openai.OpenAI(api_key="not-a-key", base_url="http://127.0.0.1:9/v1")
    return anthropic.Anthropic(api_key="not-a-key", base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retried_statuses(client, status):
    assert client._should_retry(_response(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_not_retried_statuses(client, status):
    assert not client._should_retry(_response(status))


def test_x_should_retry_header_wins(client):
    assert client._should_retry(_response(400, {"x-should-retry": "true"}))
    assert not client._should_retry(_response(503, {"x-should-retry": "false"}))


def test_openai_refuses_long_retry_after():
    client = openai.OpenAI(api_key="not-a-key", base_url="http://127.0.0.1:9/v1")
    assert not client._should_retry(_response(429, {"retry-after": "121"}))
    assert client._should_retry(_response(429, {"retry-after": "120"}))


def test_defaults():
    for constants in (openai_constants, anthropic_constants):
        assert constants.DEFAULT_MAX_RETRIES == 2
        assert constants.INITIAL_RETRY_DELAY == 0.5
        assert constants.MAX_RETRY_DELAY == 8.0
        assert constants.DEFAULT_TIMEOUT.read == 600 and constants.DEFAULT_TIMEOUT.connect == 5.0
    assert openai_constants.MAX_RETRY_AFTER_DELAY == 120


def test_backoff_band():
    from openai._models import FinalRequestOptions

    client = openai.OpenAI(api_key="not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=6)
    options = FinalRequestOptions.construct(method="post", url="/x")
    for n in range(6):
        top = min(0.5 * 2**n, 8.0)
        for _ in range(200):
            assert 0.75 * top <= client._calculate_retry_timeout(6 - n, options, None) <= top
    assert client._calculate_retry_timeout(6, options, httpx2.Headers({"retry-after": "1"})) == 1.0


def test_anthropic_529_is_overloaded_error():
    from anthropic._error_classes import make_status_error

    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011C"}
    err = make_status_error("Error code: 529", body=body, response=_response(529, {"request-id": "req_011C"}))
    assert type(err) is anthropic.OverloadedError
    assert isinstance(err, anthropic.InternalServerError)
    assert err.request_id == "req_011C" and err.type == "overloaded_error" and err.api_message == "Overloaded"


def test_connection_errors_have_no_status_code():
    request = httpx2.Request("POST", "https://example.invalid/v1/x")
    for module in (openai, anthropic):
        err = module.APITimeoutError(request=request)
        assert isinstance(err, module.APIConnectionError)
        assert not hasattr(err, "status_code") and not hasattr(err, "request_id")
