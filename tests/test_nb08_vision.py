"""Checks for notebooks/08_vision: its images stay small, and each image in its cassette is what it claims.

The assets are drawn by tools/make_assets.py; the notebook reads them and sends their bytes, so the
cassette's request bodies depend on them.
"""

import base64
import io
import json
from pathlib import Path

import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "notebooks" / "assets"
CASSETTE = ROOT / "notebooks" / "cassettes" / "08_vision.yaml"
NB08_ASSETS = {"dashboard.png": (400, 300), "dashboard_after.png": (400, 300), "signups_chart.png": (2400, 1500)}


def test_assets_exist_and_are_small():
    total = 0
    for name, size in NB08_ASSETS.items():
        path = ASSETS / name
        assert path.exists(), f"{path} is missing: run python tools/make_assets.py"
        assert path.stat().st_size < 150 * 1024, f"{name} is over 150 KB"
        with Image.open(path) as img:
            assert (img.format, img.size) == ("PNG", size), f"{name}: {img.format} {img.size}"
        total += path.stat().st_size
    assert total < 400 * 1024


def _sent_images(body: dict):
    """(declared media type, bytes) of every inline image in a request body, both providers' shapes."""
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:"):
                header, data = part["image_url"]["url"].split(",", 1)
                yield header[len("data:"):].split(";")[0], base64.b64decode(data)
            elif part.get("type") == "image" and part["source"]["type"] == "base64":
                yield part["source"]["media_type"], base64.b64decode(part["source"]["data"])


def test_cassette_images_match_their_media_type():
    cassette = yaml.safe_load(CASSETTE.read_text(encoding="utf-8"))
    assert CASSETTE.stat().st_size < 500 * 1024
    mismatches = 0
    for interaction in cassette["interactions"]:
        body = json.loads(interaction["request"]["body"])
        status = interaction["response"]["status"]["code"]
        for declared, data in _sent_images(body):
            with Image.open(io.BytesIO(data)) as img:
                actual = img.get_format_mimetype()
                assert max(img.size) <= 480, "keep the images the notebook sends small (cassette size)"
            if declared != actual:
                mismatches += 1
                assert status == 400, "only the deliberate media-type mismatch may declare the wrong type"
            else:
                assert status == 200
    assert mismatches == 1, "the notebook shows exactly one misdeclared image (and its 400)"
