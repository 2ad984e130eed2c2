"""Solutions to the exercises of 01_setup."""

from openai import OpenAI


def key_status(env):
    return {name: bool(env.get(name)) for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}


def make_client(base_url):
    return OpenAI(base_url=base_url, api_key="not-needed")


ANSWERS = {"01.1": key_status, "01.2": make_client}
