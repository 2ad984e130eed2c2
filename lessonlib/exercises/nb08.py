"""Checks for 08_vision, on images of a few pixels made here with Pillow (offline and fast)."""

from __future__ import annotations

import base64
import io
from typing import Any

from lessonlib.exercises import NotYet, call, compare, exercise


def _image_bytes(fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (37, 99, 235)).save(buffer, format=fmt)
    return buffer.getvalue()


def _check_base64(text: Any, where: str, data: bytes) -> None:
    if isinstance(text, bytes):
        raise NotYet(f"{where} is bytes; JSON needs text. base64.standard_b64encode(...) returns bytes: add "
                     ".decode('ascii').")
    if not isinstance(text, str):
        raise NotYet(f"{where} should be a base64 string, not {type(text).__name__}.")
    try:
        decoded = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error is a ValueError, and so is non-ASCII text
        raise NotYet(f"{where} is not valid base64: encode the raw bytes with base64.standard_b64encode.") from None
    if decoded != data:
        raise NotYet(f"{where} does not decode back to the image bytes.")


@exercise("08.1", title="One image, two providers' shapes",
          idea="Both carry the same base64 text of the bytes; OpenAI wraps it in a data: URL, Anthropic in a 'source'.",
          hint="b64 = base64.standard_b64encode(data).decode('ascii'). OpenAI: {'type': 'image_url', 'image_url': "
               "{'url': f'data:{media_type};base64,{b64}'}}. Anthropic: {'type': 'image', 'source': {'type': "
               "'base64', 'media_type': media_type, 'data': b64}} (no 'data:' prefix there).")
def _check_image_blocks(fn: Any) -> str:
    for fmt, media_type in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        data = _image_bytes(fmt)
        out = call(fn, data, media_type, returns=(tuple, list), want="two things: (openai_part, anthropic_block)")
        if len(out) != 2:
            raise NotYet("return two things: (openai_part, anthropic_block), as a tuple.")
        openai_part, anthropic_block = out
        if not isinstance(openai_part, dict) or not isinstance(anthropic_block, dict):
            raise NotYet("both parts should be plain dicts, the JSON the SDKs send.")

        if openai_part.get("type") != "image_url":
            raise NotYet(f"the OpenAI part needs \"type\": \"image_url\", not {openai_part.get('type')!r}.")
        image_url = openai_part.get("image_url")
        if not isinstance(image_url, dict) or "url" not in image_url:
            raise NotYet("OpenAI nests the URL: {'type': 'image_url', 'image_url': {'url': ...}}.")
        url = image_url["url"]
        if not isinstance(url, str) or not url.startswith("data:"):
            raise NotYet("for bytes, OpenAI's url is a data URL: it starts with 'data:'.")
        prefix = f"data:{media_type};base64,"
        if not url.startswith(prefix):
            if media_type == "image/jpeg" and url.startswith("data:image/png"):
                raise NotYet("you sent JPEG bytes labelled image/png: put the media_type argument in the data URL.")
            raise NotYet(f"the data URL should start with {prefix!r}, then the base64 text.")
        _check_base64(url[len(prefix):], "the data URL's payload", data)

        if anthropic_block.get("type") != "image":
            raise NotYet(f"the Anthropic block needs \"type\": \"image\", not {anthropic_block.get('type')!r}.")
        source = anthropic_block.get("source")
        if not isinstance(source, dict):
            raise NotYet("Anthropic nests the image in 'source': {'type': 'image', 'source': {...}}.")
        if source.get("type") != "base64":
            raise NotYet("the source type for inline bytes is 'base64' ('url' and 'file' are the other two).")
        if source.get("media_type") != media_type:
            raise NotYet(f"source['media_type'] should be the media type you were given ({media_type!r}).")
        raw = source.get("data")
        if isinstance(raw, str) and raw.startswith("data:"):
            raise NotYet("Anthropic's 'data' is the bare base64 text, without the 'data:...;base64,' prefix.")
        _check_base64(raw, "source['data']", data)
    return "both blocks carry the same base64 text; only the wrapping differs."


@exercise("08.2", title="Media type from the bytes",
          idea="Every image format starts with its own fixed bytes (a 'magic number'); look them up and compare.",
          hint="Compare the first bytes: PNG b'\\x89PNG\\r\\n\\x1a\\n'; JPEG b'\\xff\\xd8\\xff'; GIF b'GIF87a' or "
               "b'GIF89a'; WebP b'RIFF' at 0:4 and b'WEBP' at 8:12. data.startswith(...) and slicing do it; return "
               "None for anything else.")
def _check_sniff(fn: Any) -> str:
    cases = [
        ("a PNG", _image_bytes("PNG"), "image/png"),
        ("a JPEG", _image_bytes("JPEG"), "image/jpeg"),
        ("a GIF87a", _image_bytes("GIF"), "image/gif"),
        ("a GIF89a", b"GIF89a" + _image_bytes("GIF")[6:], "image/gif"),
        ("a WebP", _image_bytes("WEBP"), "image/webp"),
        ("a WAV file (also RIFF)", b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00", None),
        ("a PDF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", None),
        ("an empty file", b"", None),
        ("a BMP", _image_bytes("BMP"), None),
    ]
    for label, data, expected in cases:
        then = (f"It should return {expected!r}." if expected else "Return None for anything it does not recognise; "
                "slices such as data[8:12] never raise, even on short data.")
        got = call(fn, data, none_ok=True, raises={Exception: f"for {label} (starts with {data[:12]!r}) your function "
                   f"raised {{exc.__class__.__name__}}: {{exc}}. {then}"})
        compare(got, expected, mistakes=[
            (lambda got: isinstance(got, str) and "/" not in got and expected is not None,
             f"return a media type such as {expected!r}, not a format name like {got!r}."),
            (lambda got: got == "image/webp" and data.startswith(b"RIFF") and expected is None,
             f"for {label} you returned 'image/webp'; b'RIFF' alone is not enough: check b'WEBP' at data[8:12]."),
        ], otherwise=f"for {label} (starts with {data[:12]!r}) you returned {got!r}; expected {expected!r}"
                     + ("" if expected else ": return None for anything else."))
    return "the file name never came into it, which is the point."


@exercise("08.3", title="Fit inside a maximum side",
          idea="One scale factor for both sides, chosen so the longer side fits; and a factor above 1 would enlarge.",
          hint="scale = max_side / max(width, height); if scale >= 1 return (width, height) unchanged. Otherwise "
               "return (max(1, round(width * scale)), max(1, round(height * scale))), as ints.")
def _check_fit(fn: Any) -> str:
    cases = [
        ((2400, 1500, 480), "the chart of this notebook"),
        ((1500, 2400, 480), "a portrait image"),
        ((1000, 1000, 768), "a square"),
        ((4032, 3024, 1568), "a phone photo"),
        ((400, 300, 1568), "an image already small enough"),
        ((5000, 3, 1000), "a very thin strip"),
    ]
    for (width, height, max_side), label in cases:
        got = call(fn, width, height, max_side, returns=(tuple, list), want="a pair (new_width, new_height)")
        if len(got) != 2:
            raise NotYet("return a pair (new_width, new_height).")
        w, h = got
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (w, h)):
            raise NotYet(f"pixel sizes are whole numbers: you returned {got!r} for {label}; use round() or int().")
        scale = max_side / max(width, height)
        if scale >= 1:
            if (w, h) != (width, height):
                raise NotYet(f"for {label} ({width}x{height}, max side {max_side}) return it unchanged: never enlarge.")
            continue
        if max(w, h) != max_side:
            raise NotYet(f"for {label} ({width}x{height}) the long side should become exactly {max_side}; got {w}x{h}.")
        if min(w, h) < 1:
            raise NotYet(f"for {label} a side became {min(w, h)}: keep every side at least 1 pixel.")
        exact = (width * scale, height * scale)
        if abs(w - exact[0]) > 1 or abs(h - exact[1]) > 1:
            raise NotYet(f"for {label} ({width}x{height}) you returned {w}x{h}; keeping the aspect ratio gives "
                         f"about {exact[0]:.0f}x{exact[1]:.0f}. Scale both sides by the same factor.")
    return "the same size Image.thumbnail() picks for these cases; providers shrink oversized images the same way."
