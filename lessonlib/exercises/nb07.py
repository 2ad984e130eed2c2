"""Checks for 07_multi_turn. 07.1 calls the answer with a real client, so in replay mode a history that was not
sent whole is a replay miss; 07.2 and 07.3 run on the notebook's conversations, defined here."""

from __future__ import annotations

from typing import Any

from lessonlib.exercises import NotYet, an, call, compare, exercise

def _tool_call(name: str, call_id: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# The notebook's weather conversation (OpenAI shape): two tool rounds, the second with parallel calls,
# ending with the user's next question.
WEATHER_CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a travel assistant. Use get_weather for current conditions."},
    {"role": "user", "content": "What's the weather in Tokyo?"},
    {"role": "assistant", "content": None, "tool_calls": [_tool_call("get_weather", "call_tokyo", '{"city":"Tokyo"}')]},
    {"role": "tool", "tool_call_id": "call_tokyo",
     "content": '{"city": "Tokyo", "temp": 22, "unit": "celsius", "condition": "cloudy"}'},
    {"role": "assistant", "content": "It's 22 °C and cloudy in Tokyo right now."},
    {"role": "user", "content": "And in Paris and New York?"},
    {"role": "assistant", "content": None, "tool_calls": [
        _tool_call("get_weather", "call_paris", '{"city":"Paris"}'),
        _tool_call("get_weather", "call_newyork", '{"city":"New York"}'),
    ]},
    {"role": "tool", "tool_call_id": "call_paris",
     "content": '{"city": "Paris", "temp": 14, "unit": "celsius", "condition": "light rain"}'},
    {"role": "tool", "tool_call_id": "call_newyork",
     "content": '{"city": "New York", "temp": 9, "unit": "celsius", "condition": "clear"}'},
    {"role": "assistant", "content": "Paris is 14 °C with light rain, and New York is 9 °C and clear."},
    {"role": "user", "content": "Which of the three cities is warmest?"},
]


def history_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Problems in an OpenAI-shaped history that OpenAI or Anthropic rejects (the notebook shows the same
    function): OpenAI rejects tool results without their call and calls without results; Anthropic also
    rejects a history that opens with anything but a user turn (OpenAI accepts an assistant turn first)."""
    found = []
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    if rest and rest[0].get("role") != "user":
        found.append(f"opens with {an(repr(rest[0].get('role')))} message, not a user turn (Anthropic rejects that)")
    waiting: set[str] = set()  # tool calls whose results have not been seen yet
    for msg in rest:
        if msg.get("role") == "tool":
            if msg.get("tool_call_id") not in waiting:
                found.append(f"has a tool result ({msg.get('tool_call_id')}) whose call is missing")
            waiting.discard(msg.get("tool_call_id"))
            continue
        if waiting:
            found.append(f"has tool calls without results ({', '.join(sorted(waiting))})")
        waiting = {tool_call["id"] for tool_call in msg.get("tool_calls") or []}
    if waiting:
        found.append(f"ends with tool calls without results ({', '.join(sorted(waiting))})")
    return found


@exercise("07.1", title="A stateless chat turn",
          idea="The API remembers nothing: the list you send is the whole conversation, so the list you are given "
               "must hold both sides of every turn.",
          hint="Inside the function: question = {'role': 'user', 'content': user_message}; response = "
               "client.chat.completions.create(model=model, max_completion_tokens=500, messages=history + "
               "[question]); text = response.choices[0].message.content; then, once the answer is there, "
               "history.extend([question, {'role': 'assistant', 'content': text}]); return text. Use the `history` "
               "you are given, not the notebook's `conversation`.",
          hangs="does your function loop over a list it keeps growing (history.append inside `for m in history:`)?")
def _(fn):
    import openai

    from lessonlib.config import _ACTIVE

    if "course" not in _ACTIVE:  # a restarted kernel: OpenAI() would go to the provider with any key in the environment
        raise NotYet("this check makes the lesson's calls: run the set-up cell at the top of the notebook first, "
                     "then this check again.")
    model = _ACTIVE["course"].openai_model  # a recording made with other models replays with them
    client = openai.OpenAI()
    history: list[Any] = [{"role": "system", "content": "You are a Python tutor. Be concise."}]  # as in the cassette
    for turn, question in enumerate(("What is a decorator?", "Show me an example."), start=1):
        before = len(history)
        try:
            reply = call(fn, client, model, history, question, copy_args=False, none_ok=True)  # it must grow `history`
        except openai.NotFoundError as exc:
            if "Replay miss" not in str(exc):
                raise
            if turn == 1:
                raise NotYet("the request was not the lesson's: send model=model, max_completion_tokens=500 and "
                             "messages=history + [the user's message], the whole history with the new question "
                             "last.") from None
            last = history[before - 1]
            extra = sorted(set(last) - {"role", "content"}) if isinstance(last, dict) else []
            if extra:
                raise NotYet(f"the second request was not the lesson's: the assistant message you appended also has "
                             f"{', '.join(map(repr, extra))} (message.model_dump() adds them). Append exactly "
                             "{'role': 'assistant', 'content': text}.") from None
            raise NotYet("the second request did not carry the whole conversation: append the assistant's reply "
                         "to history as {'role': 'assistant', 'content': text} (a plain dict) before returning, "
                         "and send the full history every time.") from None
        added = history[before:]
        if not added:
            raise NotYet("history did not change: append the user's message (and then the reply) to the list "
                         "passed in as `history`, not to the notebook's `conversation`.")
        if len(added) == 1:
            raise NotYet("only one message was added per turn: append the user's message *and* the assistant's "
                         "reply, or the next request forgets the answer.")
        if len(added) != 2:
            raise NotYet(f"a turn should add exactly two messages (user, then assistant); this one added {len(added)}.")
        user, assistant = added
        if not (isinstance(user, dict) and user.get("role") == "user" and user.get("content") == question):
            raise NotYet(f"the first message a turn adds should be {{'role': 'user', 'content': {question!r}}}.")
        if not (isinstance(assistant, dict) and assistant.get("role") == "assistant"):
            raise NotYet("the second message a turn adds should be a dict with role 'assistant' "
                         "(not the SDK's message object).")
        if not isinstance(reply, str) or reply != assistant.get("content"):
            raise NotYet("return the assistant's reply text: response.choices[0].message.content, the same "
                         "string you appended.")
    return "two turns, five messages, and the second request carried the first answer."


PICTURE_TURN = {"role": "user", "content": [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/tokyo-street.jpg"}},
]}


def _expected_count(messages: list[dict[str, Any]]) -> int:
    """The lesson's 4 tokens per message, plus the text, the 'text' parts and each tool call's name and arguments."""
    from lessonlib.tokens import count_text

    total = 0
    for msg in messages:
        content = msg.get("content") or []
        texts = [content] if isinstance(content, str) else [p.get("text") for p in content if p.get("type") == "text"]
        texts += [c["function"][key] for c in msg.get("tool_calls") or [] for key in ("name", "arguments")]
        total += 4 + sum(count_text(text, "gpt-4o") for text in texts)
    return total


@exercise("07.2", title="Count messages with None and list content",
          idea="content can be a string, None or a list of parts, and a tool call is read by the model too.",
          hint="In the loop: content = msg.get('content'). If it is a str, encode it; if it is a list, add the tokens "
               "of each part whose type is 'text' (part['text']); if it is None, add nothing. Then, for each call in "
               "msg.get('tool_calls') or [], add the tokens of call['function']['name'] and "
               "call['function']['arguments']. Keep the lesson's 4 tokens per message.")
def _(fn):
    none = "when content is None, count nothing for it (and a tool call is a dict: call['function']['name'])."
    parts = "when content is a list, add the tokens of each part whose type is 'text' and skip the others."
    cases = [
        ("a plain text message", [{"role": "user", "content": "What's the weather in Tokyo?"}], ""),
        ("an assistant message that only calls a tool (content None)", [WEATHER_CHAT[2]], none),
        ("a message whose content is a list of parts (text and an image)", [PICTURE_TURN], parts),
        ("the whole weather conversation", WEATHER_CHAT, ""),
    ]
    for label, messages, why in cases:
        got = call(fn, messages, returns=int, want="an int (the token count)", raises={
            (TypeError, AttributeError, KeyError, ValueError): f"{label} made it raise {{exc.__class__.__name__}}: "
                                                               "{exc}" + (f"; {why}" if why else ".")})
        want = _expected_count(messages)
        compare(got, want, mistakes=[
            (lambda got: "None" in label and got == 4, f"{label}: you counted only the overhead. The model still reads "
             "the call: add the tokens of each tool call's function name and arguments."),
        ], otherwise=f"{label}: expected {want} tokens, got {got}. Keep 4 per message plus the "
                     "tokens of the text, of each 'text' part, and of each tool call's name and arguments.")
    return "None content, content lists and tool calls all count now."


BUDGETS = (90, 190, 60, 175, 150, 30, 1000)  # the first two split a tool round in a naive cut


@exercise("07.3", title="Trim without splitting a tool call from its result",
          idea="Where can you cut a history so that no tool call is separated from its results, and it still opens "
               "with a user turn?",
          hint="A cut just before a user message can never split a tool call from its results (they all sit between "
               "two user messages), and it leaves a history that opens with a user turn. So keep the backward walk, "
               "then drop messages from the oldest end of what you kept until the first one has role 'user'.")
def _(fn):
    from lessonlib.tokens import count_messages, trim_messages

    history = WEATHER_CHAT[1:]
    for budget in BUDGETS:
        out = call(fn, WEATHER_CHAT, budget, returns=list,
                   want=f"the trimmed list of messages (at max_tokens={budget})")
        if not out or out[0] != WEATHER_CHAT[0]:
            raise NotYet(f"at max_tokens={budget} the system prompt is not first: always keep it.")
        kept = out[1:]
        if kept != history[len(history) - len(kept):]:
            raise NotYet(f"at max_tokens={budget} the result is not the system prompt plus the most recent "
                         "messages, in their order.")
        issues = history_problems(out)
        if issues:
            raise NotYet(f"at max_tokens={budget} your history {'; '.join(issues)}. Keep an assistant message with "
                         "tool_calls together with the tool messages that answer it, and open with a user turn.")
        used = count_messages(out)
        if used > budget:
            raise NotYet(f"at max_tokens={budget} the result costs {used} tokens (count_messages): it must fit.")
        best = len(trim_messages(WEATHER_CHAT, budget)) - 1
        if len(kept) < best:
            raise NotYet(f"at max_tokens={budget} you kept {len(kept)} messages after the system prompt, but "
                         f"{best} fit without splitting a pair: cut only as much as you must.")
    return "no orphaned tool results and no assistant-first history, at any budget."
