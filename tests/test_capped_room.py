"""An instructor's room: notebooks run top to bottom in live mode with LESSON_BUDGET_USD=0.50.

The providers cannot be reached, so a replay server on each notebook's own cassette stands in for them. The
kernel is made to take it for the providers' own APIs (the first cell points PROVIDERS' upstreams at it), so
lessonlib behaves as in a real room: the calls are billed, a model without a price is refused, the banner says
"billed to your API keys". What the stand-in cannot show: it replays the cassette's authored failures (a 429, a
529) that a real provider does not produce on cue, and it accepts any key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lessonlib.replay import ReplayServer

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("jupyter_client.kernelspec")

ROOT = Path(__file__).resolve().parent.parent
# Both providers, JSON and streamed answers, tools, structured outputs: about 30 s, mostly 04's paced streams.
ROOM = ("02_openai_chat", "03_anthropic_messages", "04_streaming", "05_tool_use", "06_structured_outputs")
KEYS = {"OPENAI_API_KEY": "sk-proj-FAKEroomQx7Vb2Lm9Tz4Wk1Np8",  # made up: not a key
        "ANTHROPIC_API_KEY": "sk-ant-api03-FAKEroomHu4Zr8Xe2Mv6"}  # made up: not a key


class StandIn(ReplayServer):
    """The provider: replays the cassette, and counts the calls a provider bills (a good answer to a POST that
    generates: anything but count_tokens)."""

    billed = 0

    def answer(self, method, provider, path, body):
        action, item = super().answer(method, provider, path, body)
        if action == "replay" and int(item.response["status"]["code"]) < 400:
            self.billed += method == "POST" and not path.endswith("/count_tokens")
        return action, item


def _has_kernel() -> bool:
    try:
        kernelspec.KernelSpecManager().get_kernel_spec("python3")
    except Exception:  # noqa: BLE001 - any failure means: no kernel to run a notebook in
        return False
    return True


@pytest.mark.skipif(not _has_kernel(), reason="no python3 Jupyter kernel is installed to run the notebooks in")
@pytest.mark.parametrize("name", ROOM)
def test_a_notebook_runs_in_a_capped_live_room(name, monkeypatch):
    stand_in = StandIn(ROOT / "notebooks" / "cassettes" / f"{name}.yaml", speed=0).start()
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LESSON_OPENAI_UPSTREAM", "LESSON_ANTHROPIC_UPSTREAM",
                "LESSON_CASSETTE_DIR", "LESSON_OPENAI_MODEL", "LESSON_ANTHROPIC_MODEL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in {"LESSON_MODE": "live", "LESSON_BUDGET_USD": "0.50", "PYTHON_DOTENV_DISABLED": "1",
                       **KEYS}.items():
        monkeypatch.setenv(var, value)
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import dataclasses, lessonlib.providers as P\n"
        + "".join(f"P.PROVIDERS[{p!r}] = dataclasses.replace(P.PROVIDERS[{p!r}], upstream={url!r})\n"
                  for p, url in (("openai", stand_in.openai_base_url), ("anthropic", stand_in.anthropic_base_url)))))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, lessonlib.budget as b\n"
        "print(json.dumps({'calls': b._CURRENT['budget'].calls, 'usd': b._CURRENT['budget'].spent_usd}))"))
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        stand_in.stop()
    errors = [f"cell {n}: {out.ename}: {out.evalue[:300]}" for n, cell in enumerate(nb.cells)
              if cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", [])
              for out in cell.get("outputs", []) if out.output_type == "error"]
    assert errors == []
    setup_out = "".join(o.get("text", "") for c in nb.cells[1:3] for o in c.get("outputs", []))
    assert "live mode: real calls to the providers, billed to your API keys; spending cap $0.50" in setup_out
    spent = json.loads(nb.cells[-1].outputs[0]["text"])
    assert stand_in.billed > 0 and spent["calls"] == stand_in.billed  # every billed answer was counted
    assert 0 < spent["usd"] < 0.50
