"""Every notebook in a real browser: JupyterLab on loopback, headless Chromium, Run All Cells, read the DOM.

nbval checks the stored outputs; this checks what a learner sees. For each notebook the test opens it in
JupyterLab, clears its outputs (Edit > Clear Outputs of All Cells), runs it from the Run menu, waits for
every code cell to get an execution count, and then reads the page: no cell shows an error (or any
stderr) unless it is tagged ``raises-exception`` — and those must show one —, and every cell that has
a stored output shows one. In 04_streaming, the streaming cells' output is sampled while they run and
must be seen growing. The run is instant (LESSON_REPLAY_SPEED=0) except where a lesson is about time:
04 and 10 are marked `pacing: required` in their cassettes, so their streams and waits keep recorded pace.

JupyterLab serves a temporary copy of notebooks/ (outside the repo, so nbval never collects it, and
nothing is saved over the stored outputs; autosave is off as well). Two notebooks run at a time, each
in its own Chromium. Needs Debian's ``chromium`` and
``chromium-driver`` (.ci/run installs them) and selenium (requirements.txt); skips without them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
STDERR = "application/vnd.jupyter.stderr"  # tracebacks and stderr streams both render with this type
RUN_TIMEOUT = 240  # seconds for one notebook; they take 5-40 s in replay
WORKERS = 2  # notebooks run at the same time, each in its own browser
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1400,1000"]
SETTINGS = {  # JupyterLab user settings for the run: nothing saved, no news pop-up, every cell in the DOM
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

if CHROMIUM is None:
    pytest.skip("no Chromium found (apt-get install chromium chromium-driver; .ci/run does it)",
                allow_module_level=True)
if CHROMEDRIVER is None:
    pytest.skip("no chromedriver found (apt-get install chromium-driver; .ci/run does it)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing (pip install -r requirements.txt)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# One JS call returns everything the test polls: kernel state, prompts, and each code cell's outputs; while a
# notebook runs only the outputs' lengths (arguments[0] false: less for Chromium to serialize at every poll).
STATE_JS = """
const ind = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-CodeCell'));
const kernel = document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName');
return JSON.stringify({
  kernel: kernel ? kernel.textContent : '',
  status: ind ? ind.getAttribute('data-status') : null,
  cells: cells.map(c => ({
    prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    outputs: Array.from(c.querySelectorAll('.jp-OutputArea-output'))
      .map(o => [o.getAttribute('data-mime-type') || '', arguments[0] ? o.textContent : o.textContent.length]),
  })),
});
"""


# Samples every code cell's total output length every 30 ms inside the page (so streams are seen growing without
# the test calling into the browser 30 times a second); window.lessonLengths holds each cell's distinct lengths.
SAMPLER_JS = """
window.lessonLengths = {};
window.lessonSampler = setInterval(() => {
  document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-CodeCell').forEach((c, i) => {
    let n = 0;
    c.querySelectorAll('.jp-OutputArea-output').forEach(o => { n += o.textContent.length; });
    const seen = window.lessonLengths[i] || (window.lessonLengths[i] = []);
    if (!seen.length || seen[seen.length - 1] !== n) seen.push(n);
  });
}, 30);
"""

LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ on 127.0.0.1, replay mode, instant but for `pacing: required`."""
    base = tmp_path_factory.mktemp("browser")
    course = base / "course"  # 01_setup reads ../.env.example from the notebooks folder
    shutil.copytree(ROOT / "notebooks", course / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.recording.yaml", ".*.tmp"))
    shutil.copy(ROOT / ".env.example", course / ".env.example")
    for plugin, values in SETTINGS.items():
        target = base / "settings" / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    for folder in ("config", "data", "runtime", "workspaces"):
        (base / folder).mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (
        "LESSON_USAGE_DIR", "MPLBACKEND", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL")}
    env.update(LESSON_MODE="replay", LESSON_REPLAY_SPEED="0",
               LESSON_CASSETTE_DIR=str(course / "notebooks" / "cassettes"),
               LESSON_SOCKET_GUARD="1", JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), PYTHONUNBUFFERED="1")
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={course / 'notebooks'}",
           f"--LabApp.user_settings_dir={base / 'settings'}", f"--LabApp.workspaces_dir={base / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (base / "jupyter.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(base / 'jupyter.log').read_text()[-3000:]}")
            try:
                request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
                with LOOPBACK.open(request, timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield {"url": url, "token": token, "dir": course / "notebooks", "log": base / "jupyter.log", "base": base}
    finally:
        proc.send_signal(signal.SIGTERM)  # Jupyter shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _browser(lab, worker: int):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={lab['base'] / f'chromium-profile-{worker}'}"]:
        options.add_argument(flag)
    options.unhandled_prompt_behavior = "accept"  # "leave this page?" when moving on from a run notebook
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    return driver


def _api(lab, method: str, path: str):
    headers = {"Authorization": f"token {lab['token']}"}
    request = urllib.request.Request(f"{lab['url']}{path}", method=method, headers=headers)
    with LOOPBACK.open(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def runs(lab):
    """Run every notebook once, WORKERS at a time (replay mostly waits on paced answers, so two share 2 cores
    well), each worker in its own Chromium and JupyterLab workspace. Maps name -> result or exception."""
    paced = ["10_async", "04_streaming"]  # the longest (recorded pace) first, so the others fill in beside them
    queue, results, lock = paced + [n for n in NOTEBOOKS if n not in paced], {}, threading.Lock()

    def worker(n: int) -> None:
        try:
            driver = _browser(lab, n)
        except Exception as exc:  # noqa: BLE001 - reported by every test that has no result
            results.setdefault("browser", exc)
            return
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    name = queue.pop(0)
                try:
                    results[name] = run_in_browser(driver, lab, name, workspace=f"w{n}")
                except Exception as exc:  # noqa: BLE001
                    results[name] = exc
                try:  # leave the page first (else JupyterLab starts a new kernel for it), then free the kernel
                    driver.get("about:blank")
                    for session in _api(lab, "GET", "/api/sessions"):
                        if session["path"].endswith(f"{name}.ipynb"):
                            _api(lab, "DELETE", f"/api/sessions/{session['id']}")
                except OSError:
                    pass  # the server stops them all at the end anyway
        finally:
            driver.quit()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _state(driver, full: bool = True) -> dict:
    return json.loads(driver.execute_script(STATE_JS, full))


def _menu(driver, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items, as a learner would."""
    for xpath in (f"//div[contains(@class,'lm-MenuBar-itemLabel')][text()='{top}']",
                  f"//div[contains(@class,'lm-Menu-itemLabel')][text()='{item}']"):
        WebDriverWait(driver, 10).until(expected_conditions.element_to_be_clickable((By.XPATH, xpath))).click()


def _ran(prompt: str) -> bool:
    return prompt.strip().strip("[]:").isdigit()


def _cells(name: str) -> list[dict]:
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _stream_cells(cells: list[dict]) -> list[int]:
    """Code cells that print a stream piece by piece and have a stored output to show."""
    return [i for i, c in enumerate(cells) if 'end="", flush=True' in "".join(c["source"]) and c.get("outputs")]


def run_in_browser(driver, lab, name: str, workspace: str) -> dict:
    """Open, clear, Run All, wait; the final page state, each cell's output lengths over time, the run time."""
    driver.get(f"{lab['url']}/lab/workspaces/{workspace}/tree/{name}.ipynb?reset&token={lab['token']}")
    deadline = time.monotonic() + 90
    # The indicator says "idle" before there is a kernel ("No Kernel"), so wait for a named, idle kernel.
    while ((state := _state(driver, full=False))["status"] != "idle" or state["kernel"] in ("", "No Kernel")
           or not state["cells"]):
        assert time.monotonic() < deadline, f"{name}: no idle kernel ({state['kernel']}, {state['status']})"
        time.sleep(0.3)
    _menu(driver, "Edit", "Clear Outputs of All Cells")
    deadline = time.monotonic() + 10
    while any(c["outputs"] or _ran(c["prompt"]) for c in _state(driver, full=False)["cells"]):
        assert time.monotonic() < deadline, f"{name}: outputs were not cleared"
        time.sleep(0.2)
    driver.execute_script(SAMPLER_JS)
    _menu(driver, "Run", "Run All Cells")
    started = time.monotonic()
    idle_since = None
    while True:
        state = _state(driver, full=False)
        # An untagged error makes the kernel skip the rest: stop waiting once it has sat idle a while.
        idle_since = (idle_since or time.monotonic()) if state["status"] == "idle" else None
        done = all(_ran(c["prompt"]) for c in state["cells"]) and state["status"] == "idle"
        if done or (idle_since and time.monotonic() - idle_since > 5) or time.monotonic() - started > RUN_TIMEOUT:
            state = _state(driver)
            lengths = {int(i): seen for i, seen in driver.execute_script(
                "clearInterval(window.lessonSampler); return window.lessonLengths;").items()}
            shot = lab["base"] / f"{name}.png"
            driver.save_screenshot(str(shot))
            return {"state": state, "lengths": lengths, "took": time.monotonic() - started, "shot": shot}
        time.sleep(0.25)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(runs, lab, name):
    result = runs.get(name, runs.get("browser"))
    if isinstance(result, Exception) or result is None:
        raise AssertionError(f"{name} could not be run in the browser (JupyterLab log: {lab['log']})") from result
    cells, streaming = _cells(name), (_stream_cells(_cells(name)) if name == "04_streaming" else [])
    state, lengths = result["state"], result["lengths"]
    where = f"(screenshot: {result['shot']}; JupyterLab log: {lab['log']})"
    on_page = len(state["cells"])
    assert on_page == len(cells), f"{name}: {on_page} code cells on the page, {len(cells)} in the file"

    problems = []
    for i, (cell, shown) in enumerate(zip(cells, state["cells"], strict=True)):
        first_line = "".join(cell["source"]).strip().splitlines()[0][:70] if cell["source"] else ""
        label = f"code cell {i} ({first_line!r})"
        stderr = [text for mime, text in shown["outputs"] if mime == STDERR]
        tagged = "raises-exception" in cell["metadata"].get("tags", [])
        if not _ran(shown["prompt"]):
            problems.append(f"{label} did not run (prompt {shown['prompt']!r})")
        elif tagged and not stderr:
            problems.append(f"{label} is tagged raises-exception but showed no error")
        elif stderr and not tagged:
            problems.append(f"{label} shows an error:\n{stderr[0][-1500:]}")
        elif cell.get("outputs") and not shown["outputs"]:
            problems.append(f"{label} has a stored output but showed none")
    counts = [int(c["prompt"].strip().strip("[]:")) for c in state["cells"] if _ran(c["prompt"])]
    if not problems and counts != list(range(1, len(cells) + 1)):  # a fresh kernel, each cell once, top to bottom
        problems.append(f"execution counts should be 1..{len(cells)}, are {counts}")
    assert not problems, f"{name} in JupyterLab {where}:\n" + "\n".join(problems)

    for i in streaming:
        growth = [n for n in lengths.get(i, []) if n > 0]
        assert len(growth) >= 3 and growth == sorted(growth), (
            f"{name}: code cell {i}'s output should grow while the stream arrives; seen lengths {growth} {where}")
    seen = ", ".join(f"cell {i} grew through {len([n for n in lengths[i] if n])} lengths" for i in streaming)
    summary = f"{name}: {len(cells)} code cells ran in {result['took']:.1f} s in JupyterLab"
    print(summary + (f"; {seen}" if seen else ""))
