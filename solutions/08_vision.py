"""Solutions to the exercises of notebooks/08_vision.ipynb (run by tests/test_exercises.py)."""

from __future__ import annotations

import base64


# 08.1: the same base64 text, wrapped the OpenAI way and the Anthropic way.
def image_blocks(data: bytes, media_type: str) -> tuple[dict, dict]:
    b64 = base64.standard_b64encode(data).decode("ascii")
    openai_part = {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{b64}"}}
    anthropic_block = {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": b64}}
    return openai_part, anthropic_block


# 08.2: the first bytes of a file say what it is; the name does not.
def sniff_media_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":  # WAV and AVI files are RIFF too
        return "image/webp"
    return None


# 08.3: scale both sides by one factor so the long side fits; never enlarge.
def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = max_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


ANSWERS = {
    "08.1": image_blocks,
    "08.2": sniff_media_type,
    "08.3": fit_within,
}
