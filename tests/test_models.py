"""Model-id currency: every model id the course uses is one the pinned SDKs list, with no announced
shutdown: neither in openai's "Deprecated values" docstrings nor in anthropic's deprecation table.

Checked: the defaults (lessonlib/providers.py, .env.example), every notebook's code cells, string
literals in solutions/ and lessonlib/exercises/, and every cassette's requests and responses (including the dated
snapshots the API answers with, e.g. gpt-5.4-mini-2026-03-17). Lists come from the installed SDKs:
openai.types.shared.ChatModel / ResponsesModel (and the "Deprecated values" docstring that follows each
in its module), anthropic.types.Model and anthropic/_data/deprecated_models.py.
"""

from __future__ import annotations

import ast
import json
import re
import typing

import pytest

# Private on purpose: the SDK's own deprecation table is the earliest warning of a retiring model id.
from anthropic._data.deprecated_models import DEPRECATED_MODELS
from anthropic.types import Model as AnthropicModel
from openai.types.shared import ChatModel, ResponsesModel, chat_model, responses_model

import wirecheck as W
from lessonlib.config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL

ROOT = W.ROOT

# (file relative to the repo, model id) pairs that are there on purpose, and why.
ALLOWED = {
    ("notebooks/03_anthropic_messages.ipynb", "claude-haiku-4-20250414"):
        "the lesson's invented id, shown (and sent, cell tagged raises-exception) to teach the 404",
    ("notebooks/03_anthropic_messages.ipynb", "claude-sonnet-4-20250514"):
        "the lesson's retired id, looked up in the SDK's model list to show it is gone",
    ("notebooks/cassettes/03_anthropic_messages.yaml", "claude-haiku-4-20250414"):
        "the recorded 404 answering the cell above",
    ("notebooks/07_multi_turn.ipynb", "gpt-4o"):
        "the lesson's count_tokens default: a tokenizer name for tiktoken.encoding_for_model, never sent to an API "
        "(tiktoken 0.14 cannot map gpt-6-luna)",
    ("solutions/07_multi_turn.py", "gpt-4o"): "the same tokenizer-name default, in the exercise's fixed count_tokens",
    ("lessonlib/exercises/nb07.py", "gpt-4o"): "the same tokenizer name, in the checker that grades it",
    ("notebooks/08_vision.ipynb", "claude-sonnet-4-20250514"):
        "a code comment naming the lesson's retired id where course.anthropic_model replaces it",
}

MODEL_ID = re.compile(
    r"(?<![\w.\-])(?:gpt-\d[\w.\-]*|chatgpt-[\w.\-]+|o\d(?:-[a-z0-9][\w.\-]*)?|claude-[\w.\-]+)(?![\w\-])"
)


def _literals(tp) -> set[str]:
    out = set()
    for arg in typing.get_args(tp):
        if isinstance(arg, str):
            out.add(arg)
        else:
            out |= _literals(arg)
    return out


OPENAI_IDS = _literals(ChatModel) | _literals(ResponsesModel)
ANTHROPIC_IDS = _literals(AnthropicModel)


def openai_deprecations(*modules) -> dict[str, str]:
    """id -> what the SDK announces, read from the "Deprecated values:" docstring under each model literal.

    The docstring is generated from OpenAI's spec (a bare string after the type alias, so it is not the
    module's __doc__): "- "gpt-5", "gpt-5-mini": Announced shutdown date: 2026-12-11. See ...".
    """
    out: dict[str, str] = {}
    for module in modules or (chat_model, responses_model):
        for node in ast.walk(ast.parse(open(module.__file__, encoding="utf-8").read())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.lstrip().startswith("Deprecated values")):
                continue
            for item in re.split(r"\n- ", node.value)[1:]:
                ids, _, said = item.rpartition('":')
                said = " ".join(said.split()).split(" See ")[0].strip().rstrip(".")
                for model_id in re.findall(r'"([^"]+)', ids + '"'):
                    out[model_id] = said
    return out


OPENAI_DEPRECATED = openai_deprecations()


def verdict(model_id: str) -> str | None:
    """Why a model id is not current, or None."""
    if model_id.startswith("claude"):
        if model_id not in ANTHROPIC_IDS:
            return "not listed by anthropic.types.Model"
        if model_id in DEPRECATED_MODELS:
            return f"deprecated (end of life {DEPRECATED_MODELS[model_id]}, anthropic/_data/deprecated_models.py)"
        return None
    if model_id not in OPENAI_IDS:
        return "not listed by openai.types.shared.ChatModel / ResponsesModel"
    if model_id in OPENAI_DEPRECATED:
        return f"deprecated ({OPENAI_DEPRECATED[model_id]}, openai/types/shared/chat_model.py)"
    return None


def _ids_in_text(text: str) -> set[str]:
    return {m.rstrip(".-") for m in MODEL_ID.findall(text)}


def _ids_in_json(node, out: set[str]) -> None:
    """Every `model` value in a request or response body (batch requests and results included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "model" and isinstance(value, str):
                out.add(value)
            _ids_in_json(value, out)
    elif isinstance(node, list):
        for item in node:
            _ids_in_json(item, out)


def uses() -> dict[tuple[str, str], str]:
    """(file, model id) -> where in the file, for every model id the course uses."""
    found: dict[tuple[str, str], str] = {}
    found[("lessonlib/providers.py", DEFAULT_OPENAI_MODEL)] = "DEFAULT_OPENAI_MODEL"
    found[("lessonlib/providers.py", DEFAULT_ANTHROPIC_MODEL)] = "DEFAULT_ANTHROPIC_MODEL"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "_MODEL=" in line:
            for model_id in _ids_in_text(line.split("=", 1)[1]):
                found[(".env.example", model_id)] = line.strip()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rel = str(nb.relative_to(ROOT))
        for n, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] == "code":
                for model_id in _ids_in_text("".join(cell["source"])):
                    found.setdefault((rel, model_id), f"code cell {n}")
    for py in sorted([*(ROOT / "solutions").glob("*.py"), *(ROOT / "lessonlib" / "exercises").glob("*.py")]):
        # string literals that are a model id (not comments, not prefixes such as "gpt-4-" in tokens.py)
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and MODEL_ID.fullmatch(node.value):
                found.setdefault((str(py.relative_to(ROOT)), node.value), f"line {node.lineno}")
    for path in W.course_cassettes():
        rel = str(path.relative_to(ROOT))
        for ex in W.exchanges(path):
            ids: set[str] = set()
            _ids_in_json(ex.request, ids)
            for payload in W._payloads(ex):
                _ids_in_json(payload, ids)
            for model_id in ids:
                found.setdefault((rel, model_id), f"interaction #{ex.index}")
    return found


def test_defaults_are_current():
    assert verdict(DEFAULT_OPENAI_MODEL) is None, (
        f"DEFAULT_OPENAI_MODEL {DEFAULT_OPENAI_MODEL}: {verdict(DEFAULT_OPENAI_MODEL)}")
    assert verdict(DEFAULT_ANTHROPIC_MODEL) is None, (
        f"DEFAULT_ANTHROPIC_MODEL {DEFAULT_ANTHROPIC_MODEL}: {verdict(DEFAULT_ANTHROPIC_MODEL)}")


def test_every_model_id_in_use_is_current():
    problems = []
    for (rel, model_id), where in sorted(uses().items()):
        why = verdict(model_id)
        if why and (rel, model_id) not in ALLOWED:
            problems.append(f"{rel} ({where}): {model_id!r} is {why}")
    assert not problems, "model ids that are not current:\n" + "\n".join(problems)


def test_the_allow_list_holds_only_ids_still_in_use_and_not_current():
    found = uses()
    stale = [f"{rel}: {model_id}" for rel, model_id in ALLOWED
             if (rel, model_id) not in found or verdict(model_id) is None]
    assert not stale, f"ALLOWED entries no longer needed (remove them): {stale}"


def test_responses_name_the_snapshot_behind_an_alias_where_the_sdk_lists_one():
    """The API answers with the dated snapshot behind an alias (gpt-5.4-mini -> gpt-5.4-mini-2026-03-17);
    an alias with no listed snapshot (gpt-6-luna) answers as itself. The renderer must do the same."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import render_cassettes

    r = render_cassettes.Renderer.__new__(render_cassettes.Renderer)
    assert r.openai_model("gpt-5.4-mini") == "gpt-5.4-mini-2026-03-17"
    assert r.openai_model("gpt-6-luna") == "gpt-6-luna"
    responses = {model_id for (rel, model_id) in uses() if rel.endswith(".yaml")}
    assert responses and all(verdict(model_id) is None for model_id in responses - {m for _, m in ALLOWED})


def test_the_deprecation_docstring_is_read():
    """If the SDK changes the docstring's layout, this fails before a retiring id slips through."""
    assert OPENAI_DEPRECATED.get("gpt-5") == OPENAI_DEPRECATED.get("gpt-5-mini") != None  # noqa: E711
    assert "2026-12-11" in OPENAI_DEPRECATED["gpt-5"]
    assert "2027-01-14" in OPENAI_DEPRECATED["gpt-4o"]
    assert "Not a supported model ID" in OPENAI_DEPRECATED["gpt-5.1-mini"]
    assert "gpt-6-luna" not in OPENAI_DEPRECATED and len(OPENAI_DEPRECATED) > 40


@pytest.mark.parametrize("model_id, expected", [
    ("claude-haiku-4-20250414", "not listed"),
    ("claude-opus-4-5", "deprecated"),
    ("claude-sonnet-4-5", "not listed"),  # retired 2026-11-30: anthropic 2.15 dropped it
    ("gpt-4.5-preview", "not listed"),
    ("gpt-5.4-mini-2026-03-17", None),
    ("gpt-6-luna", None),
    ("gpt-5-mini", "deprecated (Announced shutdown date: 2026-12-11"),
    ("gpt-4o", "deprecated (Announced shutdown date: 2027-01-14"),
])
def test_verdicts(model_id, expected):
    why = verdict(model_id)
    assert (why is None) if expected is None else (expected in why)


def test_the_id_pattern_finds_ids_in_code():
    code = 'client.create(model="gpt-4o")  # or o3-mini, claude-sonnet-4-20250514.\nx = "gpt-5.4-mini"'
    assert _ids_in_text(code) == {"gpt-4o", "o3-mini", "claude-sonnet-4-20250514", "gpt-5.4-mini"}
    assert not _ids_in_text("proto3-x = foo_o1; 'gpto1'")


# ---- prose that names an SDK version: a bump must re-read it ------------------------------------------------------

VERSION_MENTION = re.compile(r"(?i)\b(openai|anthropic|instructor) v?(\d+\.\d+(?:\.\d+)?)\b(?![.\d])")
# A mention of an older release on purpose: "since anthropic 2.14", "new in ...", "openai 3.4.0 and later",
# "anthropic 2.14.0 → 2.15.0", "openai 3.3.0, 54 releases behind".
HISTORICAL = re.compile(r"(?i)(since|new in|older|before)\s+$"), re.compile(r"^(\s+and later|\s*→|, \d+ releases)")


def _prose() -> list[tuple[str, str]]:
    """(where, text) of what a reader takes as true of the pinned SDKs: notebook markdown and code comments,
    README.md and CONTRIBUTING.md."""
    out = [(name, (ROOT / name).read_text(encoding="utf-8")) for name in ("README.md", "CONTRIBUTING.md")]
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for n, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            text = "".join(cell["source"])
            if cell["cell_type"] == "code":
                text = "\n".join(line[line.index("#"):] for line in text.splitlines() if "#" in line)
            out.append((f"{path.name} cell {n}", text))
    return out


def test_prose_names_the_pinned_sdk_versions():
    """"anthropic 2.14 has ..." in a notebook goes stale at the next bump, and no stored output shows it: this
    test names each such sentence, so that `make canary` lists the prose to re-read too."""
    from importlib.metadata import version

    stale = []
    for where, text in _prose():
        for m in VERSION_MENTION.finditer(text):
            pinned = version(m[1].lower())
            if pinned == m[2] or pinned.startswith(m[2] + "."):
                continue
            if HISTORICAL[0].search(text[max(0, m.start() - 12):m.start()]) or HISTORICAL[1].search(text[m.end():]):
                continue
            stale.append(f"{where}: {text[max(0, m.start() - 40):m.end() + 20]!r} (pinned: {m[1].lower()} {pinned})")
    assert not stale, "\n".join(stale)


def test_the_version_check_finds_a_stale_mention_and_spares_a_historical_one():
    text = "anthropic 1.0 has this; since anthropic 1.0 it has that; anthropic 1.0.0 → 2.0.0; openai 0.1 and later"
    # the first is stale; the rest speak of an older release on purpose
    found = [m[0] for m in VERSION_MENTION.finditer(text)
             if not (HISTORICAL[0].search(text[max(0, m.start() - 12):m.start()])
                     or HISTORICAL[1].search(text[m.end():]))]
    assert found == ["anthropic 1.0"]
