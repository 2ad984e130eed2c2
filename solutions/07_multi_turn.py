"""Solutions to the exercises of notebook 07_multi_turn."""

from lessonlib.tokens import count_message, count_messages, count_text


def chat_turn(client, model: str, history: list, user_message: str) -> str:
    question = {"role": "user", "content": user_message}
    response = client.chat.completions.create(model=model, max_completion_tokens=500, messages=history + [question])
    text = response.choices[0].message.content
    history.extend([question, {"role": "assistant", "content": text}])  # only once the answer arrived
    return text


def count_tokens_fixed(messages: list[dict], model: str = "gpt-4o") -> int:
    total = 0
    for msg in messages:
        total += 4  # the lesson's overhead per message
        content = msg.get("content")
        if isinstance(content, str):
            total += count_text(content, model)
        elif isinstance(content, list):
            total += sum(count_text(part["text"], model) for part in content if part.get("type") == "text")
        for call in msg.get("tool_calls") or []:
            total += count_text(call["function"]["name"], model) + count_text(call["function"]["arguments"], model)
    return total


def trim_keep_pairs(messages: list[dict], max_tokens: int) -> list[dict]:
    system = [m for m in messages if m["role"] == "system"]
    history = [m for m in messages if m["role"] != "system"]
    kept, used = [], count_messages(system)
    for msg in reversed(history):
        cost = count_message(msg)
        if used + cost > max_tokens:
            break
        kept.append(msg)
        used += cost
    kept.reverse()
    # A cut just before a user message never splits a tool call from its results.
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return system + kept


ANSWERS = {
    "07.1": chat_turn,
    "07.2": count_tokens_fixed,
    "07.3": trim_keep_pairs,
}
