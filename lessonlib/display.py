"""Notebook display helpers: short error tracebacks and readable JSON of SDK objects.

Taught in: 01_setup (errors), 02_openai_chat (``show_json``).
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import types
from typing import Any

__all__ = ["install_error_display", "show_json", "user_frames_only"]

_LIBRARY_DIRS = tuple(
    {p for p in (sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"), sysconfig.get_paths().get("stdlib")) if p}
)


def _is_library(filename: str) -> bool:
    return "site-packages" in filename or filename.startswith(_LIBRARY_DIRS)


def user_frames_only(tb: types.TracebackType | None) -> tuple[types.TracebackType | None, int]:
    """A copy of a traceback without the frames inside installed libraries; and how many were cut."""
    kept: list[types.TracebackType] = []
    hidden = 0
    while tb is not None:
        if _is_library(tb.tb_frame.f_code.co_filename):
            hidden += 1
        else:
            kept.append(tb)
        tb = tb.tb_next
    new_tb = None
    for old in reversed(kept):
        new_tb = types.TracebackType(new_tb, old.tb_frame, old.tb_lasti, old.tb_lineno)
    return new_tb, hidden


def _short_traceback(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    short_tb, hidden = user_frames_only(tb)
    if hidden:
        # The SDKs chain transport errors (httpx2, sockets) under theirs; the SDK's own message says it.
        value.__suppress_context__ = True
        note = f"[lessonlib: {hidden} frames inside installed libraries hidden; LESSON_FULL_TRACEBACKS=1 shows them]"
        if note not in getattr(value, "__notes__", []):
            value.add_note(note)
    shell.showtraceback((etype, value, short_tb or tb), tb_offset=0)
    return None


def install_error_display() -> None:
    """Show SDK and set-up errors in notebooks as your code's frames plus the message, not 30 frames of
    library internals. Does nothing outside IPython or when ``LESSON_FULL_TRACEBACKS=1``."""
    if os.environ.get("LESSON_FULL_TRACEBACKS", "").strip() in ("1", "true", "yes"):
        return
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    kinds: list[type] = []
    from .errors import LessonSetupError

    kinds.append(LessonSetupError)
    for module_name in ("openai", "anthropic"):
        try:
            module = __import__(module_name)
        except ImportError:  # pragma: no cover
            continue
        kinds.extend([module.APIError, module.APIResponseValidationError])
    shell.set_custom_exc(tuple(kinds), _short_traceback)


def show_json(obj: Any, *, limit: int | None = None) -> None:
    """Print an SDK response (a Pydantic model), a dict or a list as indented JSON."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json", exclude_unset=True)
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    print(text)
