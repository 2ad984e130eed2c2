"""Command line: ``python -m lessonlib doctor [--live]`` and ``python -m lessonlib progress``."""

from __future__ import annotations

import sys

USAGE = """usage: python -m lessonlib COMMAND

  doctor [--live]   check this machine's set-up, one line per check (--live: one tiny real call each)
  progress          which exercises you have solved, read from the notebooks on disk
"""


def main(argv: list[str] | None = None) -> int:
    command, *rest = (sys.argv[1:] if argv is None else argv) or [""]
    unknown = [arg for arg in rest if command != "doctor" or arg != "--live"]
    if command in ("progress", "doctor") and unknown:  # `doctor --Live` once ran the doctor without its live calls
        helped = unknown[0] in ("-h", "--help")
        print(USAGE if helped else f"unknown option {unknown[0]!r} for {command}\n\n{USAGE}")
        return 0 if helped else 2
    if command == "progress":
        from .exercises.progress import print_progress

        return print_progress()
    if command == "doctor":
        from .doctor import run_doctor

        return run_doctor(live="--live" in rest)
    helped = command in ("-h", "--help", "help")
    print(USAGE if helped or not command else f"unknown command {command!r}\n\n{USAGE}")
    return 0 if helped else 2


if __name__ == "__main__":
    raise SystemExit(main())
