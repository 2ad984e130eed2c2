"""10_async: the authored batch traffic has the SDK's shapes (MessageBatch, JSONL results lines), the
per-item answers and the batch results agree, and the checkers nudge on the usual wrong answers."""

import asyncio
import json
from pathlib import Path

import yaml

from lessonlib.config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL
from lessonlib.exercises import run

ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "notebooks" / "cassettes" / "10_async.yaml"


def _interactions():
    return yaml.safe_load(CASSETTE.read_text(encoding="utf-8"))["interactions"]


def test_cassette_requires_pacing():
    assert yaml.safe_load(CASSETTE.read_text(encoding="utf-8")).get("pacing") == "required"


def test_requests_use_the_course_models():
    for item in _interactions():
        body = json.loads(item["request"]["body"]) if item["request"]["body"] else None
        if body is None:
            continue
        if "messages" in body and "max_completion_tokens" in body:
            assert body["model"] == DEFAULT_OPENAI_MODEL and "max_tokens" not in body
        elif "messages" in body:
            assert body["model"] == DEFAULT_ANTHROPIC_MODEL
        else:  # a Message Batch: every request's params are a messages.create body
            for request in body["requests"]:
                assert request["params"]["model"] == DEFAULT_ANTHROPIC_MODEL


def test_batch_objects_and_results_parse_as_the_sdk_types():
    from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

    batches, lines, per_item = [], [], {}
    for item in _interactions():
        uri, text = item["request"]["uri"], item["response"]["body"]["string"]
        if uri.endswith("/results"):
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif "/v1/messages/batches" in uri:
            batches.append(json.loads(text))
        elif uri.endswith("/v1/messages") and item["response"]["status"]["code"] == 200:
            request = json.loads(item["request"]["body"])
            if request.get("system"):
                per_item[request["messages"][0]["content"]] = json.loads(text)["content"][0]["text"]

    assert [b["processing_status"] for b in batches] == ["in_progress", "in_progress", "ended"]
    for raw in batches:
        batch = MessageBatch.model_validate(raw)
        assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
        counts = batch.request_counts
        assert counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired == 5
        assert (batch.results_url is None) == (batch.processing_status != "ended")
        assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600

    create = next(json.loads(i["request"]["body"]) for i in _interactions()
                  if i["request"]["uri"].endswith("/v1/messages/batches"))
    reviews = {r["custom_id"]: r["params"]["messages"][0]["content"] for r in create["requests"]}
    assert len(lines) == len(reviews)
    for raw in lines:
        entry = MessageBatchIndividualResponse.model_validate(raw)
        assert entry.result.type == "succeeded"
        assert entry.result.message.usage.service_tier == "batch"
        review = reviews[entry.custom_id]
        if review in per_item:  # the same prompt gets the same label from the batch
            assert entry.result.message.content[0].text == per_item[review]
    assert [line["custom_id"] for line in lines] != sorted(reviews), "results should come back out of order"


# ---- checkers: the usual wrong answers are nudged --------------------------------------------

async def _no_limit(coros, limit):
    return await asyncio.gather(*coros)


async def _one_at_a_time(coros, limit):
    return [await c for c in coros]


async def _in_finish_order(coros, limit):
    sem = asyncio.Semaphore(limit)
    out = []

    async def run_one(c):
        async with sem:
            out.append(await c)

    await asyncio.gather(*(run_one(c) for c in coros))
    return out


async def _plain_gather(call, items, attempts=2):
    return await asyncio.gather(*(call(x) for x in items))


async def _no_retry(call, items, attempts=2):
    return await asyncio.gather(*(call(x) for x in items), return_exceptions=True)


async def _retry_everything(call, items, attempts=2):
    results = []
    for _ in range(attempts):
        results = await asyncio.gather(*(call(x) for x in items), return_exceptions=True)
    return results


def test_bounded_gather_checker_rejects_wrong_answers():
    assert "running at the same time" in run("10.1", _no_limit).message
    assert "ran slower than it could" in run("10.1", _one_at_a_time).message
    assert "input order" in run("10.1", _in_finish_order).message


def test_gather_with_retry_checker_rejects_wrong_answers():
    assert "must not sink the batch" in run("10.2", _plain_gather).message
    assert "retry the failed items" in run("10.2", _no_retry).message
    assert "retry only the items" in run("10.2", _retry_everything).message


def test_wall_time_checker_rejects_the_average():
    result = run("10.3", lambda n, c, latency: n / c * latency)
    assert not result.passed and "waves of 2, 2 and 1" in result.message
