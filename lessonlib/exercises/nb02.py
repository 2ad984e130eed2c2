"""Checks for 02_openai_chat, on ChatCompletion objects built in ``fixtures`` (offline, no cassette)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from lessonlib.exercises import NotYet, an, call, compare, exercise
from lessonlib.exercises.fixtures import completion, usage


@exercise("02.1", title="text and token counts from a ChatCompletion",
          idea="Print the completion and find the answer text and the usage block in it; both are attributes.",
          hint="The text is completion.choices[0].message.content; the counts are completion.usage.prompt_tokens "
               "and completion.usage.completion_tokens. Return them in a dict with the keys text, prompt_tokens "
               "and completion_tokens.")
def _(fn: Any) -> str:
    for case in (completion("A 404 means the server could not find what you asked for.", 27, 14),
                 completion("Use `200 OK` for success and `201 Created` when a POST made something new.", 31, 19)):
        out = call(fn, case, returns=dict, want="a dict with the keys text, prompt_tokens and completion_tokens")
        missing = [k for k in ("text", "prompt_tokens", "completion_tokens") if k not in out]
        if missing:
            raise NotYet(f"the dict is missing {', '.join(missing)}.")
        if not isinstance(out["text"], str):
            raise NotYet(f"'text' should be the answer string; you returned {an(type(out['text']).__name__)}. "
                         "Go one level deeper: choices[0].message.content.")
        if out["text"] != case.choices[0].message.content:
            raise NotYet("'text' is not the assistant's answer: it lives in completion.choices[0].message.content.")
        u = case.usage
        compare((out["prompt_tokens"], out["completion_tokens"]), (u.prompt_tokens, u.completion_tokens), mistakes=[
            (lambda got: u.total_tokens in got, "one of your counts is usage.total_tokens; input and output are "
                                                "billed at different prices, so keep them apart."),
            ((u.completion_tokens, u.prompt_tokens),
             "the two counts are swapped: prompt_tokens is what you sent, completion_tokens what came back."),
        ], otherwise="the token counts do not match completion.usage; read them from there, do not count words.")
    return "that is the part of a response you will log on every call."


@exercise("02.2", title="cost of a call from usage",
          idea="Prices are quoted per million tokens, and input and output tokens have different prices.",
          hint="Prices are in USD per million tokens: prompt_tokens * input_per_m / 1_000_000 + "
               "completion_tokens * output_per_m / 1_000_000. completion_tokens already includes any "
               "reasoning tokens, so do not add them again. Return the full value: don't round it.")
def _(fn: Any) -> str:
    for u, pin, pout in ((usage(1200, 350), 0.75, 4.50), (usage(23, 118), 2.50, 15.00),
                         (usage(500, 900, reasoning=640), 0.75, 4.50)):
        out = call(fn, u, pin, pout, returns=(int, float, Decimal, Fraction), want="a number of dollars (a float)")
        got = float(out)
        want = u.prompt_tokens * pin / 1e6 + u.completion_tokens * pout / 1e6
        reasoning = u.completion_tokens_details.reasoning_tokens
        one_rate = "you priced total_tokens at one rate; output tokens cost several times more than input."
        compare(got, want, mistakes=[
            (lambda g: any(abs(g - want * k) < 1e-9 * g for k in (1e6, 1e3)), "the prices are per million tokens: "
                                                                              "divide by 1_000_000."),
            (u.prompt_tokens * pout / 1e6 + u.completion_tokens * pin / 1e6,
             "the prices are swapped: input (prompt) tokens at input_per_m, output at output_per_m."),
            (u.total_tokens * pin / 1e6, one_rate),
            (u.total_tokens * pout / 1e6, one_rate),
            (want + reasoning * pout / 1e6,
             "you counted reasoning tokens twice: completion_tokens already includes them."),
            (lambda g: g != 0 and any(abs(g - round(want, digits)) < 1e-15 for digits in range(2, 10)),
             f"don't round: return the full value. Expected {want:.12g}, you returned {out!r}."),
        ], otherwise=f"for {u.prompt_tokens} in / {u.completion_tokens} out at ${pin}/${pout} per million, "
                     f"expected ${want:.12g}, got {out!r}.")
    return "the same arithmetic as lessonlib.prices.cost_usd."


@exercise("02.3", title="a messages list with a system prompt",
          idea="A message is a plain dict with a role and a content; the instructions have their own role.",
          hint="Return a list of two dicts, in this order: {'role': 'system', 'content': system_prompt} and "
               "{'role': 'user', 'content': question}. ('developer' is accepted for the first role too.)")
def _(fn: Any) -> str:
    for system_prompt, question in (("You are a Python tutor. Be concise.", "What does a list comprehension do?"),
                                    ("You are a terse HTTP expert.", "When should an API return 409?")):
        out = call(fn, system_prompt, question, returns=list, want="a list of message dicts")
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
            raise NotYet("put the arguments in as given: system_prompt in the first message's 'content', "
                         "question in the second's.")
        extra = sorted({str(k) for m in out for k in m} - {"role", "content", "name"})
        if extra:
            raise NotYet(f"unexpected keys {extra}: a message needs only 'role' and 'content'.")
    return "pass it as messages=build_messages(...) to chat.completions.create."


@exercise("02.4", title="detect a truncated answer",
          idea="Don't judge by the text: the response itself says why the model stopped.",
          hint="Look at completion.choices[0].finish_reason: it is 'length' when max_completion_tokens cut "
               "the answer off, 'stop' when the model finished. Do not guess from the text; a cut can even "
               "happen before any visible text, when reasoning tokens used up the cap.")
def _(fn: Any) -> str:
    flagged = "you flagged {} as cut off; the text's last character says nothing, finish_reason does."
    cut = "HTTP status codes are three-digit numbers a server sends back with every"
    cases = [
        (completion(cut, 23, 20, finish="length"), True,
         "you missed one (cut mid-sentence); which field of the choice says why the model stopped?"),
        (completion("HTTP status codes are three-digit numbers that say how a request went.", 23, 15),
         False, flagged.format("a complete answer")),
        (completion("", 23, 20, finish="length", reasoning=20), True,
         "an answer with empty text and finish_reason 'length' was cut off too: on reasoning models the hidden "
         "reasoning counts against max_completion_tokens."),
        (completion("A minimal handler:\n\n```python\nreturn Response(status=204)\n```", 30, 18),
         False, flagged.format("a complete answer that ends in a code block")),
        (completion("Status codes group into five classes", 23, 300, finish="length"), True,
         "you missed one (cut at a 300-token cap); which field of the choice says why the model stopped?"),
        (completion("HTTP status codes are three-digit numbers in five classes: 1xx informational, 2xx success, "
                    "3xx redirection, 4xx client errors and 5xx server errors.", 23, 120), False,
         "you flagged a complete 120-token answer as cut off; the token count does not say whether the cap was hit, "
         "finish_reason does."),
    ]
    for case, want, nudge in cases:
        compare(call(fn, case, returns=bool, want="True or False"), want, otherwise=nudge)
    return "check finish_reason before you trust (or store) an answer."
