"""Checks for 02_openai_chat. Each works on ChatCompletion objects built here (the same shape the
notebook's calls return), so the exercises run offline and need no cassette."""

from __future__ import annotations

import math
from typing import Any

from lessonlib.exercises import NotYet, exercise


def _completion(text: str | None, prompt: int, completion: int, *, finish: str = "stop", reasoning: int = 0,
                cid: str = "chatcmpl-exercise") -> Any:
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate({
        "id": cid, "object": "chat.completion", "created": 1795548733, "model": "gpt-5.4-mini-2026-03-17",
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_exercise",
    })


# ---- 02.1 -------------------------------------------------------------------------------------

@exercise("02.1", title="text and token counts from a ChatCompletion",
          hint="The text is completion.choices[0].message.content; the counts are completion.usage.prompt_tokens "
               "and completion.usage.completion_tokens. Return them in a dict with the keys text, prompt_tokens "
               "and completion_tokens.")
def _(fn: Any) -> str:
    cases = [
        _completion("A 404 means the server could not find what you asked for.", 27, 14),
        _completion("Use `200 OK` for success and `201 Created` when a POST made something new.", 31, 19),
    ]
    for case in cases:
        out = fn(case)
        if out is None:
            raise NotYet("read_completion returned None: replace `...` with code that returns a dict.")
        if not isinstance(out, dict):
            raise NotYet(f"return a dict, not a {type(out).__name__}: {{'text': ..., 'prompt_tokens': ..., 'completion_tokens': ...}}.")
        missing = [k for k in ("text", "prompt_tokens", "completion_tokens") if k not in out]
        if missing:
            raise NotYet(f"the dict is missing {', '.join(missing)}.")
        expected_text = case.choices[0].message.content
        if not isinstance(out["text"], str):
            raise NotYet(f"'text' should be the answer string; you returned a {type(out['text']).__name__}. "
                         "Go one level deeper: choices[0].message.content.")
        if out["text"] != expected_text:
            raise NotYet("'text' is not the assistant's answer: it lives in completion.choices[0].message.content.")
        usage = case.usage
        if out["prompt_tokens"] == usage.total_tokens or out["completion_tokens"] == usage.total_tokens:
            raise NotYet("one of your counts is usage.total_tokens; input and output are billed at different prices, "
                         "so keep them apart.")
        if (out["prompt_tokens"], out["completion_tokens"]) == (usage.completion_tokens, usage.prompt_tokens):
            raise NotYet("the two counts are swapped: prompt_tokens is what you sent, completion_tokens what came back.")
        if out["prompt_tokens"] != usage.prompt_tokens or out["completion_tokens"] != usage.completion_tokens:
            raise NotYet("the token counts do not match completion.usage; read them from there, do not count words.")
    return "that is the part of a response you will log on every call."


# ---- 02.2 -------------------------------------------------------------------------------------

@exercise("02.2", title="cost of a call from usage",
          hint="Prices are in USD per million tokens: prompt_tokens * input_per_m / 1_000_000 + "
               "completion_tokens * output_per_m / 1_000_000. completion_tokens already includes any "
               "reasoning tokens, so do not add them again.")
def _(fn: Any) -> str:
    from openai.types import CompletionUsage

    def usage(prompt: int, completion: int, reasoning: int = 0) -> Any:
        return CompletionUsage.model_validate({
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning}})

    cases = [(usage(1200, 350), 0.75, 4.50), (usage(23, 118), 2.50, 15.00), (usage(500, 900, reasoning=640), 0.75, 4.50)]
    for u, pin, pout in cases:
        out = fn(u, pin, pout)
        if out is None:
            raise NotYet("call_cost returned None: replace `...` with code that returns a number of dollars.")
        if not isinstance(out, (int, float)):
            raise NotYet(f"return a number (USD), not a {type(out).__name__}.")
        want = u.prompt_tokens * pin / 1e6 + u.completion_tokens * pout / 1e6
        if math.isclose(out, want, rel_tol=1e-9):
            continue
        if math.isclose(out, want * 1e6, rel_tol=1e-9) or math.isclose(out, want * 1e3, rel_tol=1e-9):
            raise NotYet("the prices are per million tokens: divide by 1_000_000.")
        if math.isclose(out, u.prompt_tokens * pout / 1e6 + u.completion_tokens * pin / 1e6, rel_tol=1e-9):
            raise NotYet("the prices are swapped: input (prompt) tokens at input_per_m, output at output_per_m.")
        if math.isclose(out, u.total_tokens * pin / 1e6, rel_tol=1e-9) or math.isclose(out, u.total_tokens * pout / 1e6, rel_tol=1e-9):
            raise NotYet("you priced total_tokens at one rate; output tokens cost several times more than input.")
        reasoning = u.completion_tokens_details.reasoning_tokens
        if reasoning and math.isclose(out, want + reasoning * pout / 1e6, rel_tol=1e-9):
            raise NotYet("you counted reasoning tokens twice: completion_tokens already includes them.")
        raise NotYet(f"for {u.prompt_tokens} in / {u.completion_tokens} out at ${pin}/${pout} per million, "
                     f"expected ${want:.6f}, got {out!r}.")
    return "the same arithmetic as lessonlib.prices.cost_usd."


# ---- 02.3 -------------------------------------------------------------------------------------

@exercise("02.3", title="a messages list with a system prompt",
          hint="Return a list of two dicts, in this order: {'role': 'system', 'content': system_prompt} and "
               "{'role': 'user', 'content': question}. ('developer' is accepted for the first role too.)")
def _(fn: Any) -> str:
    cases = [
        ("You are a Python tutor. Be concise.", "What does a list comprehension do?"),
        ("You are a terse HTTP expert.", "When should an API return 409?"),
    ]
    for system_prompt, question in cases:
        out = fn(system_prompt, question)
        if out is None:
            raise NotYet("build_messages returned None: replace `...` with code that returns a list.")
        if not isinstance(out, list):
            raise NotYet(f"return a list of message dicts, not a {type(out).__name__}.")
        if not all(isinstance(m, dict) for m in out):
            raise NotYet("each message is a plain dict with 'role' and 'content' keys.")
        if len(out) != 2:
            raise NotYet(f"expected 2 messages (instructions, then the question); you returned {len(out)}.")
        roles = [m.get("role") for m in out]
        if roles[::-1] in (["system", "user"], ["developer", "user"]):
            raise NotYet("the order matters: the instructions come first, the user's question last.")
        if roles[0] not in ("system", "developer") or roles[1] != "user":
            raise NotYet(f"roles are {roles}; the first should be 'system' (or 'developer'), the second 'user'.")
        if out[0].get("content") != system_prompt or out[1].get("content") != question:
            raise NotYet("put the arguments in as given: system_prompt in the first message's 'content', question in the second's.")
        extra = sorted({k for m in out for k in m} - {"role", "content", "name"})
        if extra:
            raise NotYet(f"unexpected keys {extra}: a message needs only 'role' and 'content'.")
    return "pass it as messages=build_messages(...) to chat.completions.create."


# ---- 02.4 -------------------------------------------------------------------------------------

@exercise("02.4", title="detect a truncated answer",
          hint="Look at completion.choices[0].finish_reason: it is 'length' when max_completion_tokens cut "
               "the answer off, 'stop' when the model finished. Do not guess from the text; a cut can even "
               "happen before any visible text, when reasoning tokens used up the cap.")
def _(fn: Any) -> str:
    cases = [
        (_completion("HTTP status codes are three-digit numbers a server sends back with every", 23, 20, finish="length"), True, "cut mid-sentence"),
        (_completion("HTTP status codes are three-digit numbers that say how a request went.", 23, 15), False, "a complete answer"),
        (_completion("", 23, 20, finish="length", reasoning=20), True, "empty text, all 20 tokens spent on reasoning"),
        (_completion("A minimal handler:\n\n```python\nreturn Response(status=204)\n```", 30, 18), False, "a complete answer that ends in a code block"),
        (_completion("Status codes group into five classes", 23, 300, finish="length"), True, "cut at a 300-token cap"),
    ]
    for completion, want, label in cases:
        out = fn(completion)
        if out is None:
            raise NotYet("was_cut_off returned None: replace `...` with code that returns True or False.")
        if not isinstance(out, bool):
            raise NotYet(f"return True or False, not a {type(out).__name__}.")
        if out != want:
            if label.startswith("empty"):
                raise NotYet("an answer with empty text and finish_reason 'length' was cut off too: on reasoning "
                             "models the hidden reasoning counts against max_completion_tokens.")
            if "code block" in label or label == "a complete answer":
                raise NotYet(f"you flagged {label} as cut off; the text's last character says nothing, finish_reason does.")
            raise NotYet(f"you missed one ({label}); which field of the choice says why the model stopped?")
    return "check finish_reason before you trust (or store) an answer."
