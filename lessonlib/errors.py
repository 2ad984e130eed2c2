"""The errors lessonlib raises, as objects that say where the problem is and how to fix it.

    Exception
    ├── LessonSetupError (RuntimeError)   a setting, a key or .env cannot be used: setting, what, fix
    └── CassetteError                     a cassette cannot be used: path, index, field, what, fix

``str()`` of each is one sentence for the notebook; the doctor shows ``what`` and ``fix`` on its line. No message
ever holds a key: a LessonSetupError passes through :func:`lessonlib.redact.hide_keys`.
"""

from __future__ import annotations

from pathlib import Path

from .redact import hide_keys

__all__ = ["LessonSetupError", "CassetteError"]


class LessonSetupError(RuntimeError):
    """Something in the set-up (mode, keys, .env, cassette) needs fixing; the message says what."""

    def __init__(self, message: str, *, setting: str = "", what: str = "", fix: str = "") -> None:
        super().__init__(hide_keys(message))
        self.setting, self.what, self.fix = setting, hide_keys(what or message), hide_keys(fix)


class CassetteError(Exception):
    """A cassette file is missing, unreadable or not shaped like a cassette."""

    def __init__(self, path: Path, what: str, *, index: int | None = None, field: str = "",
                 fix: str = "Restore it with git, then re-record it if you want new answers.") -> None:
        self.path, self.what, self.index, self.field, self.fix = Path(path), what, index, field, fix
        where = "" if index is None else f"interaction #{index} "
        self.short = f"{self.path.name} {where}{what}"  # the doctor's line: the file, where in it, what is wrong
        super().__init__(f"cassette {path} {where}{what}. {fix}")
