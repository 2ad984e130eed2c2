"""A wheel built from the repo carries every lessonlib module (a non-editable `pip install .` once
shipped without lessonlib/exercises/), its tiktoken files, and declares httpx2; and setuptools builds it without
a deprecation warning (the `project.license` table one becomes an error after 2027-02-18)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warned = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if "DeprecationWarning" in line]
    assert not warned, warned
    (wheel,) = tmp_path.glob("lessonlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "lessonlib").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    assert {f"lessonlib/tiktoken_cache/{p.name}" for p in (ROOT / "lessonlib" / "tiktoken_cache").iterdir()} <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    assert any("httpx2" in line for line in requires), requires
