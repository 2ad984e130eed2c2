"""Notebook display helpers: short error tracebacks and readable JSON of SDK objects.

Taught in: 01_setup (errors), 02_openai_chat (``show_json``).
"""

from __future__ import annotations

import json
import sys
import sysconfig
import types
from typing import Any

__all__ = ["console_shows", "install_error_display", "ipython_shell", "show_json"]

_LIBRARY_DIRS = tuple(filter(None, {sysconfig.get_paths().get(k) for k in ("purelib", "platlib", "stdlib")}))


def _user_frames(tb: types.TracebackType | None) -> tuple[types.TracebackType | None, int]:
    """A copy of a traceback without the frames inside installed libraries; and how many were cut."""
    kept: list[types.TracebackType] = []
    while tb is not None:
        kept.append(tb)
        tb = tb.tb_next
    ours = [t for t in kept if not t.tb_frame.f_code.co_filename.startswith(_LIBRARY_DIRS)
            and "site-packages" not in t.tb_frame.f_code.co_filename]
    new_tb = None
    for old in reversed(ours):
        new_tb = types.TracebackType(new_tb, old.tb_frame, old.tb_lasti, old.tb_lineno)
    return new_tb, len(kept) - len(ours)


def _short_traceback(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
    short_tb, hidden = _user_frames(tb)
    if hidden:
        # The SDKs chain transport errors (httpx2, sockets) under theirs; the SDK's own message says it.
        value.__suppress_context__ = True
        note = f"[lessonlib: {hidden} frames inside installed libraries hidden; LESSON_FULL_TRACEBACKS=1 shows them]"
        if hasattr(value, "__notes__"):  # shown before (raised again): its note is replaced, not piled up
            value.__notes__ = [n for n in value.__notes__ if not n.startswith("[lessonlib: ")]
        value.add_note(note)
    # `raise APIConnectionError(...) from err`: the transport errors under it are shown by their messages only
    # (the notebook's own `err.__cause__` is given back its frames once shown)
    chained, cause = [], value.__cause__
    while cause is not None and all(cause is not c for c, _ in chained):
        chained.append((cause, cause.__traceback__))
        cause.__traceback__ = _user_frames(cause.__traceback__)[0]
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    try:
        shell.showtraceback((etype, value, short_tb or tb), tb_offset=0)
    finally:
        for cause, frames in chained:
            cause.__traceback__ = frames


def console_shows(text: str) -> bool:
    """Whether this process's console can print ``text`` (an ASCII or cp1252 one cannot print ✔ or ·)."""
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def ipython_shell() -> Any:
    """The running IPython shell (a notebook kernel), or None; IPython is not imported just to ask."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def install_error_display() -> None:
    """In IPython, show SDK and set-up errors as your code's frames plus the message, not 30 frames of library
    internals (setup() skips it when LESSON_FULL_TRACEBACKS=1)."""
    shell = ipython_shell()
    if shell is None:
        return
    import anthropic
    import openai

    from .errors import LessonSetupError

    kinds = (LessonSetupError, openai.APIError, openai.APIResponseValidationError, anthropic.APIError,
             anthropic.APIResponseValidationError)
    shell.set_custom_exc(kinds, _short_traceback)


def show_json(obj: Any) -> None:
    """Print an SDK response (a Pydantic model), a dict or a list (of them too) as indented JSON."""

    def plain(value: Any) -> Any:  # also the SDK objects inside a list or a dict (message.content)
        if isinstance(value, (set, frozenset)):  # sorted: str() of a set prints in another order each run
            return sorted(value, key=repr)
        return value.model_dump(mode="json", exclude_unset=True) if hasattr(value, "model_dump") else str(value)

    print(json.dumps(obj, indent=2, ensure_ascii=False, default=plain))
