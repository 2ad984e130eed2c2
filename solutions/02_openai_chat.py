"""Solutions to the exercises of notebooks/02_openai_chat.ipynb (checked by tests/test_exercises.py)."""


def read_completion(completion):
    """02.1: the answer text and the two token counts of a ChatCompletion."""
    return {
        "text": completion.choices[0].message.content,
        "prompt_tokens": completion.usage.prompt_tokens,
        "completion_tokens": completion.usage.completion_tokens,
    }


def call_cost(usage, input_per_m, output_per_m):
    """02.2: USD cost of one call; prices are per million tokens. completion_tokens already
    includes reasoning tokens."""
    return usage.prompt_tokens * input_per_m / 1_000_000 + usage.completion_tokens * output_per_m / 1_000_000


def build_messages(system_prompt, question):
    """02.3: instructions first, then the user's question."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": question},
    ]


def was_cut_off(completion):
    """02.4: True when max_completion_tokens stopped the answer."""
    return completion.choices[0].finish_reason == "length"


ANSWERS = {
    "02.1": read_completion,
    "02.2": call_cost,
    "02.3": build_messages,
    "02.4": was_cut_off,
}
