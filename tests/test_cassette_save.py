"""lessonlib/cassette.py: what Cassette.save writes for record mode, and what it leaves behind when it fails."""

import os

import pytest

from lessonlib.cassette import Cassette


def _recording(tmp_path, pacing_required):
    cassette = Cassette(path=tmp_path / "nb.yaml", provenance={"kind": "recorded"}, pacing_required=pacing_required)
    cassette.add(method="POST", uri="https://api.openai.com/v1/chat/completions", request_headers={},
                 request_body=b'{"model": "m"}', status=200, reason="OK", response_headers=[],
                 response_body=b"data: {}\n\ndata: [DONE]\n\n", event_times=[0.1, 0.2], latency=0.5)
    return cassette


@pytest.mark.parametrize("pacing_required", [True, False])
def test_a_saved_recording_loads_back_with_its_pacing(tmp_path, pacing_required):
    path = _recording(tmp_path, pacing_required).save()
    assert ("pacing: required" in path.read_text()) == pacing_required
    loaded = Cassette.load(path)
    assert loaded.pacing_required == pacing_required and loaded.provenance == {"kind": "recorded"}
    assert loaded.interactions[0].response["event_times"] == [0.1, 0.2]
    assert loaded.interactions[0].response_body() == b"data: {}\n\ndata: [DONE]\n\n"


def test_a_failed_save_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    (tmp_path / "nb.yaml").write_text("old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        _recording(tmp_path, False).save()
    assert [p.name for p in tmp_path.iterdir()] == ["nb.yaml"] and (tmp_path / "nb.yaml").read_text() == "old"
