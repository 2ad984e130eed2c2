"""The lesson's ``count_tokens`` and ``trim_conversation`` (lesson section 7, "Context Window
Management"), copied for benchmark P5 with only the indentation restored (the lesson text lost it).
Not used by the course: lessonlib.tokens.trim_messages replaces it (see notebook 07)."""

import tiktoken


def count_tokens(messages: list[dict], model: str = "gpt-4o") -> int:
    """Approximate token count for a message list."""
    enc = tiktoken.encoding_for_model(model)
    total = 0
    for msg in messages:
        total += 4  # message overhead
        total += len(enc.encode(msg["content"]))
    return total


def trim_conversation(messages: list[dict], max_tokens: int = 100_000) -> list[dict]:
    """Keep the system prompt and most recent messages that fit."""
    system = [m for m in messages if m["role"] == "system"]
    history = [m for m in messages if m["role"] != "system"]
    trimmed = []
    token_count = count_tokens(system)
    # Add messages from most recent backward
    for msg in reversed(history):
        msg_tokens = count_tokens([msg])
        if token_count + msg_tokens > max_tokens:
            break
        trimmed.insert(0, msg)
        token_count += msg_tokens
    return system + trimmed
