"""Checks for the exercises of 01_setup."""

from __future__ import annotations

import os
from unittest import mock

from lessonlib.exercises import NotYet, an, call, compare, exercise

_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


@exercise("01.1", title="which keys are set",
          idea="A missing name and an empty value both mean 'not set'; bool() is False for both None and ''.",
          hint="Loop over the two names and use env.get(name) — a missing name gives None, an empty value gives ''; "
               "bool() of either is False. Build {name: bool(env.get(name)) for name in (...)}.")
def _key_status(fn):
    secret = "sk-proj-" + "x" * 40
    cases = [
        ({"OPENAI_API_KEY": secret}, {"OPENAI_API_KEY": True, "ANTHROPIC_API_KEY": False}),
        ({"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "sk-ant-" + "y" * 40},
         {"OPENAI_API_KEY": False, "ANTHROPIC_API_KEY": True}),
        ({}, {"OPENAI_API_KEY": False, "ANTHROPIC_API_KEY": False}),
    ]
    answers = [call(fn, env, want="a dict of two booleans", returns=dict) for env, _ in cases]
    for (env, expected), got in zip(cases, answers):
        compare(got, expected, mistakes=[
            (lambda got: any(value in repr(got) for value in (*env.values(), *map(os.environ.get, _KEYS)) if value),
             "your dict contains the key itself: return True/False, never the value."),
            (lambda got: set(got) != set(_KEYS),
             f"the dict's keys should be exactly {list(_KEYS)}; you returned {sorted(map(str, got))}."),
            (lambda got: not all(isinstance(v, bool) for v in got.values()),  # never shown: a value may be a key
             "each value should be True or False (a bool), not "
             f"{', '.join(sorted({an(type(v).__name__) for v in got.values() if not isinstance(v, bool)}))}."),
            (lambda got: all(answer == got for answer in answers),
             "you returned the same dict for every env the check passed: read the two names from `env`, the mapping "
             "your function is given, not from os.environ."),
        ], otherwise=f"for env with {sorted(env)} you returned {got}; an empty value counts as not set.")
    return "and no key value ever left the function."


@exercise("01.2", title="point a client at a server",
          idea="Everything the client would read from the environment can be passed to its constructor instead.",
          hint="OpenAI(base_url=base_url, api_key='not-needed') — constructor arguments win over environment "
               "variables.")
def _make_client(fn):
    import openai

    before = dict(os.environ)
    # the kernel's environment put back, also if the answer raised: a later cell must not get "not-needed" as its key
    with mock.patch.dict(os.environ):
        client = call(fn, "http://127.0.0.1:11434/v1", want="an openai.OpenAI client", returns=openai.OpenAI)
        changed = sorted(name for name in {*before, *os.environ} if before.get(name) != os.environ.get(name))
    if changed:
        raise NotYet(f"your function changed the environment ({', '.join(changed)}; the check put it back): "
                     "pass base_url= and api_key= to OpenAI(...) instead.")
    if str(client.base_url).rstrip("/") != "http://127.0.0.1:11434/v1":
        from lessonlib.config import _ACTIVE

        token = getattr(_ACTIVE.get("server"), "token", "")  # record and capped live mode: the URL holds a secret
        url = str(client.base_url).replace(token, "<secret>") if token else client.base_url
        raise NotYet(f"the client sends requests to {url}; pass base_url= to OpenAI(...).")
    if client.api_key != "not-needed":
        raise NotYet("pass api_key='not-needed' so the client does not read (or need) OPENAI_API_KEY.")
    return "that is all a local OpenAI-compatible server needs."
