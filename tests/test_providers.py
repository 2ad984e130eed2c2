"""lessonlib/providers.py: the SSE splitter and each wire format's usage reader, on bodies no recording has."""

from lessonlib.providers import PROVIDERS, sse_data, sse_events


def test_sse_data_yields_the_json_objects_and_skips_done_bad_json_and_non_objects():
    body = ('event: a\ndata: {"n": 1}\n\ndata: {"n": 2, broken\n\r\n\r\ndata: [1, 2]\n\n'
            ': comment\ndata:{"n": 3}\n\ndata: [DONE]\n\n')
    assert sse_events(body)[0] == 'event: a\ndata: {"n": 1}'
    assert list(sse_data(body)) == [{"n": 1}, {"n": 3}]


def test_usage_of_a_body_that_only_looks_like_json_is_none():
    assert PROVIDERS["openai"].usage(b'{"model": "gpt-4o", "usage": {') == (None, None, "")
    assert PROVIDERS["anthropic"].usage(b'{"model": "claude", "usage": {"input_tokens": 3}}') == (
        "claude", {"input_tokens": 3}, "")
