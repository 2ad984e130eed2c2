"""Solutions to the exercises of notebooks/03_anthropic_messages.ipynb."""

from __future__ import annotations

from typing import Any


def all_text(content: list[Any]) -> str:
    """The text of every text block, joined; thinking, tool_use and other blocks are skipped."""
    return "".join(block.text for block in content if block.type == "text")


def split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI-style messages -> Anthropic's (system, messages) pair."""
    instructions = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    rest = [m for m in messages if m["role"] not in ("system", "developer")]
    return ("\n\n".join(instructions) if instructions else None), rest


def total_tokens(usage: Any) -> int:
    """Every token the call processed: uncached input, cache writes, cache reads and output."""
    return (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
        + usage.output_tokens
    )


ANSWERS = {
    "03.1": all_text,
    "03.2": split_system,
    "03.3": total_tokens,
}
