"""The SDK facts notebooks/09_error_handling.ipynb states in prose, checked against the installed SDKs,
so an SDK upgrade that changes them fails here instead of leaving the lesson quietly wrong."""

import json
import re
from pathlib import Path

import httpx2
import pytest

import anthropic
import openai
# Private on purpose: the notebook quotes these constants in prose (9.3, 9.12, exercise 09.2); this
# pins them so a changed default fails here first.
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
    # Private on purpose: 9.12 computes the band from the formula instead of calling the SDK; this
    # draws from the SDK's own _calculate_retry_timeout so the formula in the prose cannot drift.
    from openai._models import FinalRequestOptions

    client = openai.OpenAI(api_key="not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=6)
    options = FinalRequestOptions.construct(method="post", url="/x")
    for n in range(6):
        top = min(0.5 * 2**n, 8.0)
        for _ in range(200):
            assert 0.75 * top <= client._calculate_retry_timeout(6 - n, options, None) <= top
    assert client._calculate_retry_timeout(6, options, httpx2.Headers({"retry-after": "1"})) == 1.0


def test_anthropic_529_is_overloaded_error():
    # Private on purpose: the SDK's own status-to-class mapping, which 9.1 and 9.6 describe.
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


def test_body_and_status_code_attributes():
    """9.1: `body` is on every APIError (None without an answer); APIResponseValidationError has a
    response and status_code but no request_id."""
    request = httpx2.Request("POST", "https://example.invalid/v1/x")
    for module in (openai, anthropic):
        assert module.APIConnectionError(request=request).body is None
        err = module.APIResponseValidationError(response=_response(200), body={"x": 1})
        assert err.status_code == 200 and err.response is not None and err.body == {"x": 1}
        assert not hasattr(err, "request_id")


def test_default_http_clients_take_event_hooks():
    """9.3: the public factories the attempt log uses exist and pass event_hooks to httpx2."""
    def hook(_):
        return None

    for factory in (openai.DefaultHttpx2Client, anthropic.DefaultHttpxClient):
        http_client = factory(event_hooks={"request": [hook], "response": [hook]})
        assert isinstance(http_client, httpx2.Client)
        assert http_client.event_hooks["request"] == [hook] and http_client.event_hooks["response"] == [hook]
        http_client.close()


def test_the_request_id_table_runs_when_live_providers_did_not_fail_on_cue(capsys):
    # in live mode no 400 or 529 came, so the table cell (9.10) raised NameError: bad_request / overloaded
    from pathlib import Path
    from types import SimpleNamespace

    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "09_error_handling.ipynb", 4)
    ok = SimpleNamespace(_request_id="req_FAKE200")
    exec(next(c.source for c in nb.cells if c.get("id") == "87509c89"),
         {"response": ok, "message": ok, "connection_error": openai.APIConnectionError(request=_response(200).request),
          "bad_request": None, "overloaded": None})  # as 9.6 and 9.8 leave them when no error came
    assert "OpenAI 400, 9.8          None" in capsys.readouterr().out


def test_the_count_of_coded_error_classes_in_the_prose_is_the_sdks():
    # notebook 09 says how many (status, error_code) pairs anthropic maps to a class: a number no output shows,
    # so a bump would leave it stale (2.14 had 133, 2.15 has 137)
    from anthropic._error_classes import ERROR_CLASSES  # private: the table the prose describes

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "09_error_handling.ipynb"
    prose = "".join("".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"])
    said = [int(n) for n in re.findall(r"maps (\d+) such \(status, code\) pairs", prose)]
    assert said == [sum(1 for _, code in ERROR_CLASSES if code is not None)]
