"""No secrets in the repository's recordings and outputs.

Scanned: every cassette (notebooks/cassettes/), every spec it is rendered from (tools/specs/), every
notebook (outputs and sources), .env.example, the solutions, and the vendored real recordings
(tests/wire/real/). Looked for: API-key shapes (sk-..., sk-ant-...), bearer tokens, OpenAI
organisation and project ids, URLs with a user:password part, and the headers that carry credentials or
identify an account
(authorization, x-api-key, cookie, set-cookie, openai-organization, openai-project,
anthropic-organization-id), which record mode scrubs (lessonlib.cassette.SCRUBBED_HEADERS).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import wirecheck as W
from lessonlib.cassette import SCRUBBED_HEADERS

ROOT = W.ROOT
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "cookie", "set-cookie", "openai-organization", "openai-project",
                      "anthropic-organization-id"}
# What a secret looks like. A placeholder is a value someone already masked, or an obvious example.
SECRET = re.compile(
    r"\bsk-[A-Za-z0-9_\-]{20,}"  # OpenAI (sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-) keys
    r"|\bBearer\s+[A-Za-z0-9._~+/\-]{12,}=*"
    r"|\borg-[A-Za-z0-9]{20,}"  # OpenAI organisation id
    r"|\bproj_[A-Za-z0-9]{20,}"  # OpenAI project id
    r"|\b[a-z][a-z0-9+.\-]*://[^\s/@:'\"]+:[^\s/@'\"]+@"  # a URL with user:password (record mode scrubs it)
)
PLACEHOLDER = re.compile(r"^(?:Bearer\s+)?(?:REDACTED|FILTERED|test_\w+|[A-Z0-9\-]*XXX[A-Z0-9\-]*)$")
_NAMES = "|".join(re.escape(h) for h in sorted(CREDENTIAL_HEADERS))
HEADER_IN_TEXT = re.compile(r"(?im)['\"]?\b(" + _NAMES + r")['\"]?\s*[:=]\s*['\"]?([^\s'\",}\]]+)")


def secrets_in(text: str) -> list[str]:
    return [m.group(0) for m in SECRET.finditer(text) if not PLACEHOLDER.match(m.group(0))]


def _scanned_files() -> list[Path]:
    files = [*W.course_cassettes(), *sorted((ROOT / "tools" / "specs").glob("*.yaml")),
             *sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / ".env.example",
             *sorted((ROOT / "solutions").glob("*.py")), *W.real_recordings()]
    return [f for f in files if f.exists()]


def _show(secret: str) -> str:
    return secret[:10] + "…"  # never print a whole key in a test report


def test_the_scanned_files_are_there():
    files = _scanned_files()
    assert len([f for f in files if f.suffix == ".ipynb"]) >= 9 and len(W.course_cassettes()) >= 9
    assert ROOT / ".env.example" in files


@pytest.mark.parametrize("path", _scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_key_like_strings(path):
    found = secrets_in(path.read_text(encoding="utf-8", errors="replace"))
    assert not found, f"{path.relative_to(ROOT)} holds key-like strings: {[_show(s) for s in found]}"


@pytest.mark.parametrize("path", W.course_cassettes(), ids=lambda p: p.name)
def test_cassettes_carry_no_credential_headers(path):
    data = yaml.safe_load(path.read_text())
    problems = []
    for n, item in enumerate(data["interactions"]):
        for side in ("request", "response"):
            names = {str(k).lower() for k in (item[side].get("headers") or {})}
            scrubbed = names & (CREDENTIAL_HEADERS | SCRUBBED_HEADERS)
            problems += [f"#{n} {side} header {name}" for name in sorted(scrubbed)]
    assert not problems, f"{path.name} keeps headers record mode must scrub: {problems}"


def test_record_mode_scrubs_every_credential_header():
    assert CREDENTIAL_HEADERS <= SCRUBBED_HEADERS


@pytest.mark.parametrize("path", W.real_recordings(), ids=lambda p: p.stem)
def test_vendored_real_recordings_keep_only_masked_credentials(path):
    data = yaml.safe_load(path.read_text())
    problems = []
    for n, item in enumerate(data["interactions"]):
        for side in ("request", "response"):
            for name, values in (item[side].get("headers") or {}).items():
                if name.lower() in CREDENTIAL_HEADERS:
                    for value in values if isinstance(values, list) else [values]:
                        if not PLACEHOLDER.match(str(value)):
                            problems.append(f"#{n} {side} {name}: {_show(str(value))}")
    assert not problems, f"{path.name}: credential headers with real-looking values: {problems}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_outputs_show_no_credential_headers(path):
    problems = []
    for n, cell in enumerate(json.loads(path.read_text())["cells"]):
        for output in cell.get("outputs", []):
            text = json.dumps(output, ensure_ascii=False)
            for match in HEADER_IN_TEXT.finditer(text.replace("\\n", "\n")):
                if not PLACEHOLDER.match(match.group(2)):
                    problems.append(f"cell {n}: {match.group(1)}: {_show(match.group(2))}")
    assert not problems, f"{path.name} outputs show credential headers: {problems}"


@pytest.mark.parametrize("text", [
    "OPENAI_API_KEY=sk-proj-" + "Ab1Cd2Ef3Gh4" * 3,
    "x-api-key: sk-ant-api03-" + "Zz9Yy8Xx7Ww6" * 3,
    '"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghijkl"',
    "openai-organization: org-" + "a1B2c3D4e5F6g7H8i9J0k1L2",
    "uri: https://ada:hunter2@proxy.example/v1/chat/completions",
])
def test_the_scan_finds_secrets(text):
    assert secrets_in(text)


@pytest.mark.parametrize("text", [
    "OPENAI_API_KEY=sk-...", "ANTHROPIC_API_KEY=sk-ant-...", "Bearer REDACTED", "Bearer test_openai_api_key",
    "organization org-REDACTED", "OPENAI_API_KEY = replay-mode-no-key-needed", "http://127.0.0.1:8080/v1",
    "uri: https://api.openai.com/v1/chat/completions?api_key=REDACTED",
])
def test_the_scan_leaves_placeholders_alone(text):
    assert not secrets_in(text)


def test_the_output_scan_finds_a_printed_header():
    text = "{'content-type': 'application/json', 'openai-organization': 'user-abc123'}"
    assert [m.group(1) for m in HEADER_IN_TEXT.finditer(text)] == ["openai-organization"]
