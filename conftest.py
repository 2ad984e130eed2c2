"""Test-run settings shared by the notebook (nbval) and unit tests.

Kernels started by nbval inherit this process's environment, so what is set here reaches every
notebook: replay mode whatever .env says, instant pacing (except cassettes marked
``pacing: required``), the repo's tiktoken files, and a guard that fails any non-loopback socket.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

os.environ["LESSON_MODE"] = "replay"
os.environ.setdefault("LESSON_REPLAY_SPEED", "0")
os.environ["TIKTOKEN_CACHE_DIR"] = str(ROOT / "lessonlib" / "tiktoken_cache")
os.environ["LESSON_SOCKET_GUARD"] = "1"
os.environ.setdefault("LESSON_USAGE_DIR", str(ROOT / ".pytest_usage"))
os.environ.pop("LESSON_FULL_TRACEBACKS", None)
for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL"):
    os.environ.pop(var, None)
os.environ["MPLBACKEND"] = "agg"
