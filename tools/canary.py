"""The canary: what would a bump of the SDKs change? Run it as `make canary`.

    make canary                                  # newest openai, anthropic and instructor from the index
    make canary CANARY_ARGS="openai==3.40.0"     # or any versions you name (requirement specifiers)

It resolves requirements.in again with the newest releases of the three SDKs (or the versions given),
everything else held at the lock's pins and the same overrides as `make lock`, installs that into a
throw-away venv (.canary/venv), runs every notebook (nbval, replay mode) and every unit test there (not
the browser test), and prints a report grouped by notebook and test file: the packages that changed,
then every cell whose output changed, with nbval's diff, and every test that failed. The report is
also written to .canary/report.md. Exit status: 0 when nothing changed, 1 when something did, 2 when
the canary itself could not run. The pinned course venv (.venv) is not touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".canary"
SDKS = ("openai", "anthropic", "instructor")
MAX_DIFF_LINES = 40


def pins(lock: Path) -> dict[str, str]:
    """name -> version for the lines of a lock that apply to this Python and platform."""
    from packaging.markers import Marker

    out = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;(.*))?$", line.strip())
        if m and (not m[3] or Marker(m[3]).evaluate()):
            out[m[1].lower().replace("_", "-")] = m[2]
    return out


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "uv"], check=True)
        found = shutil.which("uv", path=str(Path(sys.executable).parent))
    return found


def resolve(wanted: list[str]) -> Path:
    WORK.mkdir(exist_ok=True)
    lock = WORK / "requirements.txt"
    shutil.copy(ROOT / "requirements.txt", lock)  # uv keeps these pins as preferences for everything else
    extra = WORK / "wanted.txt"
    extra.write_text("".join(f"{w}\n" for w in wanted), encoding="utf-8")
    cmd = [uv(), "pip", "compile", "-q", str(ROOT / "requirements.in"), "--override",
           str(ROOT / "requirements-overrides.txt"), "--python", sys.executable, "-o", str(lock),
           "--no-emit-package", "rfc3987-syntax", "--no-emit-package", "lark"]  # as `make lock` (Makefile)
    cmd += ["-c", str(extra)] if wanted else []
    for sdk in SDKS:
        cmd += ["--upgrade-package", sdk]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return lock


def install(lock: Path) -> Path:
    venv = WORK / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv(), "pip", "install", "-q", "--compile-bytecode", "--python", str(python), "--no-deps",
                    "-r", str(lock), "-e", str(ROOT)], check=True, cwd=ROOT)
    return python


def run_tests(python: Path) -> Path:
    junit = WORK / "junit.xml"
    junit.unlink(missing_ok=True)  # an earlier run's report is not this run's
    # The doctor checks the installed packages against the canary's lock, not the course's pins.
    env = {**os.environ, "LESSON_USAGE_DIR": str(WORK / "usage"), "LESSON_REQUIREMENTS": str(WORK / "requirements.txt")}
    # verbosity_assertions=2: nbval's output diffs in full, not "...Full output truncated".
    # --continue-on-collection-errors: a test file that no longer imports on the new SDKs is one finding, and
    # every other notebook and test still runs (pytest stops before running any test otherwise).
    subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ignore=tests/test_browser.py",
                    "--ignore=tests/test_site.py", "--continue-on-collection-errors", f"--junitxml={junit}",
                    "-o", "junit_logging=no", "-o", "verbosity_assertions=2"], cwd=ROOT, env=env)
    return junit


def failures(junit: Path) -> tuple[int, dict[str, list[tuple[str, str]]]]:
    """(tests run, {notebook or test file: [(cell or test, what changed)]})."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    cases = ET.parse(junit).getroot().iter("testcase")
    total = 0
    for case in cases:
        total += 1
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is None:
            continue
        classname = case.get("classname", "")
        if ".ipynb" in classname:
            where = "notebooks/" + re.sub(r".*?(\d\d_[\w]+)\.ipynb.*", r"\1.ipynb", classname)
            text = nbval_diff(bad.text or "")
        elif not classname:  # a test file that no longer imports: name "tests.test_foo"
            where = case.get("name", "?").replace(".", "/") + ".py"
            text = ANSI.sub("", bad.text or "").strip()
            text = "\n".join(line for line in text.splitlines() if line.startswith("E ")) or text
        else:
            module, _, klass = classname.partition(".test_")
            where = classname.replace(".", "/") + ".py" if not klass else f"{module}/test_{klass.split('.')[0]}.py"
            text = ANSI.sub("", bad.text or bad.get("message") or "").strip()
            lines = text.splitlines()
            text = "\n".join([line for line in lines if line.startswith("E ")] + lines[-1:]) or text
        groups[where].append((case.get("name", "?"), text))
    return total, groups


ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")


def nbval_diff(text: str) -> str:
    """nbval's failure text, without colour codes, from the cell's first line to the output diff."""
    text = ANSI.sub("", text)
    source = text.split("Input:", 1)[-1].split("Traceback:", 1)[0].strip().splitlines()
    diff = text.split("Traceback:", 1)[-1].strip()
    return (f"cell: {source[0]} ..." if source else "") + "\n" + diff


def diff_lines(text: str) -> str:
    lines = text.splitlines()
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return "\n".join("    " + line for line in lines)


def report(old: dict[str, str], new: dict[str, str], total: int, groups) -> str:
    out = ["# Canary report", ""]
    changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    sdk_line = ", ".join(f"{s} {old.get(s)} → {new.get(s)}" if old.get(s) != new.get(s) else f"{s} {new.get(s)} (as pinned)"
                         for s in SDKS)
    out += [f"SDKs: {sdk_line}", ""]
    if changed:
        out.append("Packages that differ from requirements.txt:")
        out += [f"- {n}: {old.get(n, '(not pinned)')} → {new.get(n, '(dropped)')}" for n in changed]
    else:
        out.append("Packages: identical to requirements.txt.")
    out.append("")
    failed = sum(len(v) for v in groups.values())
    out.append(f"Tests: {total} run, {failed} changed or failed.")
    for where in sorted(groups, key=lambda w: (not w.startswith("notebooks/"), w)):
        out += ["", f"## {where} ({len(groups[where])})"]
        for name, text in groups[where]:
            out += [f"- {name}", diff_lines(text)]
    if not failed:
        out += ["", "Nothing changed: every notebook output and every test is the same on these versions."]
    return "\n".join(out) + "\n"


def main(wanted: list[str]) -> int:
    try:
        lock = resolve(wanted)
        python = install(lock)
    except subprocess.CalledProcessError as exc:
        print(f"canary: could not build the canary venv ({exc}); see the output above.")
        return 2
    junit = run_tests(python)
    if not junit.exists():
        print("canary: pytest wrote no report; see its output above.")
        return 2
    total, groups = failures(junit)
    text = report(pins(ROOT / "requirements.txt"), pins(lock), total, groups)
    (WORK / "report.md").write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"(also in {WORK / 'report.md'})")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
