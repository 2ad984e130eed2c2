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

USAGE_DIR = Path(os.environ["LESSON_USAGE_DIR"])


def pytest_configure(config):
    config.addinivalue_line("markers", "run_last: run after every other test (tests/test_usage.py)")
    if not hasattr(config, "workerinput"):  # the main process (not a pytest-xdist worker), before any kernel
        # Each replay server writes <notebook>.<pid>.json here after every request; start this session clean
        # so tests/test_usage.py reads only what this run's kernels played.
        for stale in [*USAGE_DIR.glob("*.json"), *USAGE_DIR.glob("*.tmp")]:
            stale.unlink(missing_ok=True)


def pytest_collection_modifyitems(items):
    # Keep the collected order (pyproject's testpaths: tests/, then notebooks/), but move the usage check
    # after everything, so it runs once every notebook has played its cassette.
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)
