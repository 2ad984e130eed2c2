"""Draw the images of notebooks/assets/ with Pillow, so they are reproducible and free of copyright.

    python tools/make_assets.py

Writes three PNGs used by notebooks/08_vision.ipynb:

- ``dashboard.png`` (400x300): a small "screenshot" of a service dashboard, all healthy.
- ``dashboard_after.png`` (400x300): the same dashboard during an incident (what changed?).
- ``signups_chart.png`` (2400x1500): a chart exported at print size, to be resized before sending.

The fonts are the DejaVu fonts that ship inside matplotlib (a pinned dependency), so every machine draws
the same glyphs. The notebook reads the committed files; re-running this script is only needed to
change the pictures (and then the cassette's request bodies change too: re-render the spec).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "notebooks" / "assets"
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

NAVY = (24, 36, 64)
INK = (33, 37, 41)
GREY = (108, 117, 125)
LIGHT = (233, 236, 239)
PAGE = (248, 249, 250)
WHITE = (255, 255, 255)
BLUE = (37, 99, 235)
RED = (220, 38, 38)
GREEN = (22, 163, 74)
AMBER = (217, 119, 6)


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


# Requests per hour (thousands) over 24 hours: a quiet night and a busy afternoon.
REQUESTS = [21, 17, 14, 12, 11, 12, 18, 31, 47, 60, 66, 69, 71, 70, 68, 66, 67, 70, 72, 67, 56, 44, 34, 26]
ERRORS_OK = [0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3,
             0.3, 0.3, 0.2, 0.2, 0.2, 0.2]
# During the incident (14:05): requests sag, errors jump for two hours, then ease off.
REQUESTS_BAD = REQUESTS[:14] + [52, 49, 58, 66, 70, 66, 55, 43, 33, 25]
ERRORS_BAD = ERRORS_OK[:14] + [9.5, 11.0, 6.5, 2.0, 0.6, 0.4, 0.3, 0.2, 0.2, 0.2]


def dashboard(incident: bool) -> Image.Image:
    w, h = 400, 300
    img = Image.new("RGB", (w, h), PAGE)
    d = ImageDraw.Draw(img)

    # Title bar
    d.rectangle([0, 0, w, 30], fill=NAVY)
    d.text((10, 8), "Checkout API · production", font=font(13, bold=True), fill=WHITE)
    d.text((w - 10, 10), "Last 24 h", font=font(10), fill=(190, 200, 220), anchor="ra")

    y = 38
    if incident:
        # Alert banner with a warning triangle
        d.rectangle([8, y, w - 8, y + 22], fill=(254, 226, 226), outline=RED)
        d.polygon([(16, y + 17), (24, y + 4), (32, y + 17)], fill=RED)
        d.text((24, y + 9), "!", font=font(9, bold=True), fill=WHITE, anchor="mm")
        d.text((38, y + 5), "payments-db: connection pool exhausted (14:05 UTC)", font=font(10, bold=True), fill=RED)
        y += 28

    # Status pill
    colour, label = (RED, "Degraded performance") if incident else (GREEN, "All systems operational")
    d.ellipse([10, y + 3, 20, y + 13], fill=colour)
    d.text((26, y + 1), label, font=font(11, bold=True), fill=colour)
    y += 22

    # KPI cards
    kpis = (
        [("Requests", "1.19 M", INK), ("Error rate", "3.8 %", RED), ("p95 latency", "1,840 ms", RED),
         ("Uptime", "99.71 %", AMBER)]
        if incident else
        [("Requests", "1.24 M", INK), ("Error rate", "0.4 %", INK), ("p95 latency", "212 ms", INK),
         ("Uptime", "99.98 %", INK)]
    )
    card_w, gap = 89, 8
    for i, (name, value, colour) in enumerate(kpis):
        x0 = 10 + i * (card_w + gap)
        d.rounded_rectangle([x0, y, x0 + card_w, y + 48], radius=5, fill=WHITE, outline=LIGHT)
        d.text((x0 + 8, y + 7), name, font=font(9), fill=GREY)
        d.text((x0 + 8, y + 21), value, font=font(15, bold=True), fill=colour)
    y += 58

    # Chart: requests per hour (blue, left axis) and error rate (red, right axis)
    top, bottom, left, right = y + 18, h - 22, 34, w - 34
    d.rounded_rectangle([6, y, w - 6, h - 6], radius=5, fill=WHITE, outline=LIGHT)
    d.text((14, y + 4), "Requests / hour (k)", font=font(9, bold=True), fill=BLUE)
    d.text((w - 14, y + 4), "Errors (%)", font=font(9, bold=True), fill=RED, anchor="ra")
    for frac in (0, 0.5, 1):
        gy = bottom - frac * (bottom - top)
        d.line([left, gy, right, gy], fill=LIGHT)
        d.text((left - 4, gy), f"{int(80 * frac)}", font=font(8), fill=GREY, anchor="rm")
        d.text((right + 4, gy), f"{int(12 * frac)}", font=font(8), fill=GREY, anchor="lm")
    for hour in (0, 6, 12, 18, 24):
        gx = left + hour / 24 * (right - left)
        d.text((gx, bottom + 3), f"{hour:02d}:00", font=font(8), fill=GREY, anchor="ma")

    def series(values: list[float], top_value: float, colour: tuple[int, int, int]) -> None:
        points = [(left + (i + 0.5) / 24 * (right - left), bottom - v / top_value * (bottom - top))
                  for i, v in enumerate(values)]
        d.line(points, fill=colour, width=2, joint="curve")

    series(REQUESTS_BAD if incident else REQUESTS, 80, BLUE)
    series(ERRORS_BAD if incident else ERRORS_OK, 12, RED)
    if incident:
        gx = left + (14 + 5 / 60) / 24 * (right - left)
        for yy in range(int(top), int(bottom), 6):
            d.line([gx, yy, gx, yy + 3], fill=RED)
    return img


# Weekly sign-ups per month, in thousands: growth with a summer dip.
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SIGNUPS = [12.4, 13.1, 14.8, 16.0, 17.9, 19.2, 18.1, 15.6, 21.3, 24.7, 27.9, 31.2]


def signups_chart() -> Image.Image:
    """A simple bar chart at 'export for print' size: big, with big type so it survives shrinking."""
    w, h = 2400, 1500
    img = Image.new("RGB", (w, h), WHITE)
    d = ImageDraw.Draw(img)
    d.text((120, 70), "Average weekly sign-ups by month, 2026 (thousands)", font=font(72, bold=True), fill=INK)
    top, bottom, left, right = 260, 1290, 230, 2320
    for value in range(0, 36, 10):
        gy = bottom - value / 35 * (bottom - top)
        d.line([left, gy, right, gy], fill=LIGHT, width=4)
        d.text((left - 30, gy), str(value), font=font(56), fill=GREY, anchor="rm")
    slot = (right - left) / len(SIGNUPS)
    for i, (month, value) in enumerate(zip(MONTHS, SIGNUPS)):
        x0 = left + i * slot + slot * 0.15
        x1 = left + (i + 1) * slot - slot * 0.15
        y0 = bottom - value / 35 * (bottom - top)
        colour = AMBER if month == "Aug" else BLUE
        d.rectangle([x0, y0, x1, bottom], fill=colour)
        d.text(((x0 + x1) / 2, y0 - 14), f"{value:.1f}", font=font(48, bold=True), fill=INK, anchor="md")
        d.text(((x0 + x1) / 2, bottom + 30), month, font=font(56), fill=INK, anchor="ma")
    d.line([left, bottom, right, bottom], fill=INK, width=5)
    d.text((right, h - 70), "Aug: checkout outage, 3 days", font=font(48), fill=AMBER, anchor="rm")
    return img


def main() -> None:
    ASSETS.mkdir(parents=True, exist_ok=True)
    outputs = {
        "dashboard.png": dashboard(incident=False),
        "dashboard_after.png": dashboard(incident=True),
        "signups_chart.png": signups_chart(),
    }
    for name, img in outputs.items():
        path = ASSETS / name
        img.save(path, format="PNG", optimize=True)
        print(f"{path.relative_to(ROOT)}: {img.size[0]}x{img.size[1]}, {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
