"""Test-run settings shared by the notebook (nbval) and unit tests.

Kernels started by nbval inherit this process's environment, so what is set here reaches every
notebook: replay mode whatever .env says, instant pacing (except cassettes marked
``pacing: required``), the repo's tiktoken files, and a guard that fails any non-loopback socket.
"""

import copy
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))  # as tests/test_record_all.py does
from store_outputs import send_cell_ids  # noqa: E402 - the cell ids JupyterLab sends, as `make record` sends them

os.environ["LESSON_MODE"] = "replay"
os.environ.setdefault("LESSON_REPLAY_SPEED", "0")
os.environ["TIKTOKEN_CACHE_DIR"] = str(ROOT / "lessonlib" / "tiktoken_cache")
os.environ["LESSON_SOCKET_GUARD"] = "1"
# One folder per test session (the main process's pid; pytest-xdist workers and their kernels inherit it): with one
# folder, a second session in the same checkout (one file's tests while `make test` ran) emptied the first's reports,
# and its usage check failed for every notebook.
os.environ.setdefault("LESSON_USAGE_DIR", str(ROOT / ".pytest_usage" / str(os.getpid())))
os.environ.pop("LESSON_FULL_TRACEBACKS", None)
for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL"):
    os.environ.pop(var, None)
os.environ["MPLBACKEND"] = "agg"

USAGE_DIR = Path(os.environ["LESSON_USAGE_DIR"])


def _start_kernel_with_retry():
    """Let nbval retry a kernel that died while starting (up to three tries), saying why it died.

    Under pytest-xdist several kernels start at once; each picks its five TCP ports by binding to port 0
    and letting go, so two can pick the same one, which is the likely reason some died at once ("Kernel died
    before replying to kernel_info": 27 times in one run with six workers; not seen in the runs with the
    four that `make test` uses, but a red CI for it would say nothing about the course). nbval sends a
    kernel's stderr to /dev/null; here it is kept, and shown if the last try fails.
    """
    import tempfile

    import nbval.kernel

    start = nbval.kernel.start_new_kernel
    if getattr(start, "lesson_retry", False):
        return

    def start_new_kernel(*args, **kwargs):
        for attempt in range(3):
            with tempfile.TemporaryFile("w+") as err:
                try:
                    return start(*args, **{**kwargs, "stderr": err})
                except RuntimeError as exc:
                    if "died" not in str(exc) or attempt == 2:
                        err.seek(0)
                        raise RuntimeError(f"{exc}; the kernel's stderr ends:\n{err.read()[-2000:]}") from exc

    start_new_kernel.lesson_retry = True
    nbval.kernel.start_new_kernel = start_new_kernel


def pytest_configure(config):
    _start_kernel_with_retry()
    config.addinivalue_line("markers", "run_last: run after every other test (tests/test_usage.py)")
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(UsageAcrossWorkers(), "usage-across-workers")
    if not hasattr(config, "workerinput"):  # the main process (not a pytest-xdist worker), before any kernel
        # Each replay server writes <notebook>.<pid>.json here after every request; start this session clean
        # so tests/test_usage.py reads only what this run's kernels played, and drop the folders of sessions
        # that ended long ago (by age: os.kill(pid, 0), to ask whether a pid runs, ends that process on Windows).
        shutil.rmtree(USAGE_DIR, ignore_errors=True)
        for folder in USAGE_DIR.parent.glob("*"):
            if folder.name.isdigit() and time.time() - folder.stat().st_mtime > 24 * 3600:
                shutil.rmtree(folder, ignore_errors=True)


RUN_TWICE = os.environ.get("LESSON_NBVAL_RUN_TWICE", "1") != "0"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Every notebook cell runs twice in a row under nbval, and both runs must match the stored output.

    The second run is what a learner does when re-running a cell: it must show the same lesson again
    (issue 12, defect 12). As JupyterLab does, each execute request carries the cell's id, which
    lessonlib's replay server follows (IPython's pre_run_cell event) to answer a re-run with the cell's
    own recordings. LESSON_NBVAL_RUN_TWICE=0 runs each cell once (bench/p1_validation.py's plain pass).
    """
    cell = getattr(item, "cell", None)
    kernel = getattr(getattr(item, "parent", None), "kernel", None)
    if cell is None or kernel is None or not hasattr(kernel, "kc"):
        return (yield)
    send_cell_ids(kernel.kc.session)
    kernel.kc.session.cell_id = cell.get("id")
    stored = copy.deepcopy(cell.outputs) if RUN_TWICE else None
    result = yield
    if RUN_TWICE and not item.options.get("skip"):
        cell.outputs = stored  # nbval's coalesce_streams merged split stream outputs into the first one, in place
        try:
            item.runtest()
        except Exception as exc:
            exc.args = ("re-running this cell (as a learner may) did not show its lesson again: "
                        + str(exc.args[0] if exc.args else ""), *exc.args[1:])
            raise
    return result


# pytest-xdist runs one file at a time per worker, in this order (pyproject: --no-loadscope-reorder, else xdist
# orders files by their number of tests): the longest first, so the workers end together instead of one of them
# finishing a long file alone. Durations as measured on 2 cores (bench/README.md, P7); the files not listed
# follow in collected order: tests/, then notebooks/.
START_FIRST = ("tests/test_browser.py", "notebooks/10_async.ipynb", "tests/test_site.py", "tests/test_record_all.py",
               "tests/test_doctor.py", "notebooks/04_streaming.ipynb", "tests/test_defects.py",
               "notebooks/09_error_handling.ipynb", "tests/test_exercises.py", "tests/test_usage_xdist.py",
               "tests/test_local_model.py", "tests/test_real_traffic.py", "tests/test_record.py",
               "tests/test_replay.py", "tests/test_wire_fidelity.py", "tests/test_rerun.py",
               *(f"notebooks/{p.name}" for p in sorted((ROOT / "notebooks").glob("0[1-8]_*.ipynb"))))


def pytest_collection_modifyitems(items):
    # Keep the collected order (pyproject's testpaths: tests/, then notebooks/) but for START_FIRST, and move
    # the usage check after everything, so it runs once every notebook has played its cassette.
    def order(item):
        path = item.nodeid.partition("::")[0]
        return (item.get_closest_marker("run_last") is not None,
                START_FIRST.index(path) if path in START_FIRST else len(START_FIRST))

    items.sort(key=order)


class UsageAcrossWorkers:
    """tests/test_usage.py's check, for runs under pytest-xdist (`make test` runs four workers).

    A worker cannot tell when the other workers' notebooks are done, so the controller does the check:
    it sees every test report (so it knows which notebooks ran all their cells), and when the session
    ends it reads the usage reports that every notebook kernel wrote, whichever worker ran it.
    """

    def __init__(self):
        self.cells: dict[str, set[str]] = {}

    def pytest_runtest_logreport(self, report):
        path, sep, _ = report.nodeid.partition(".ipynb::")
        if sep:
            self.cells.setdefault(path + ".ipynb", set()).add(report.nodeid)

    def problems(self) -> list[str]:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_usage import _code_cells, _reports, usage_problems

        ran = sorted(Path(p).stem for p, ids in self.cells.items() if len(ids) == len(_code_cells(ROOT / p)))
        return [problem for name in ran for problem in usage_problems(name, _reports(name))]

    def pytest_sessionfinish(self, session, exitstatus):
        # Runs before the terminal summary (the reporter's hook wraps this one), so both see the verdict.
        self.found = self.problems()
        if self.found and session.exitstatus == 0:
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter):
        if getattr(self, "found", None):
            terminalreporter.section("usage check across workers (tests/test_usage.py)", red=True)
            for line in self.found:
                terminalreporter.line(line, red=True)
            terminalreporter.line(f"usage check: {len(self.found)} problem(s); the run fails", red=True)


@pytest.fixture(autouse=True)
def _own_budget_ledger(monkeypatch):
    """Each test, and each kernel it starts, gets its own spending-cap ledger: the default one, beside .env, is the
    learner's, shared by every kernel on purpose (lessonlib/budget.py)."""
    folder = USAGE_DIR / "budgets"
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("LESSON_BUDGET_FILE", str(folder / f"{uuid.uuid4().hex}.sqlite"))
