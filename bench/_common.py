"""Shared helpers for the benchmarks: results, medians, machine load, temporary cassettes.

Every benchmark returns a :class:`Result`: one figure (a ratio measured in one run on this machine),
its goal, whether it meets it, and detail lines saying exactly what was measured.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH.parent / "tests" / "wire" / "real"  # real OpenAI recordings, vendored once for tests and bench

for path in (str(ROOT), str(ROOT / "tools")):
    if path not in sys.path:
        sys.path.insert(0, path)

os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT / "lessonlib" / "tiktoken_cache"))


@dataclass
class Result:
    key: str  # P1 ... P6
    title: str
    figure: str  # the headline number, e.g. "1.21x"
    goal: str  # e.g. "<= 1.5x"
    passed: bool | None  # None: not measured (skipped)
    detail: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FALLS SHORT", None: "NOT MEASURED"}[self.passed]

    def line(self) -> str:
        return f"{self.key}  {self.title:<34} {self.figure:<28} goal {self.goal:<22} {self.verdict}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min) and the number of cores, for the report."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "load average unavailable"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def render_temp_cassette(spec: dict[str, Any], out_dir: Path) -> Path:
    """Write ``spec`` to a temporary spec file and render it with tools/render_cassettes.py."""
    import yaml
    from render_cassettes import render_spec

    spec_path = out_dir / f"{spec['notebook']}.spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return render_spec(spec_path, out_dir)


def temp_dir(prefix: str) -> Path:
    """A temporary folder, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix=f"lessonbench-{prefix}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"
