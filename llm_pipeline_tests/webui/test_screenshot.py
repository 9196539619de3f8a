"""scripts/screenshot_asset_graph.py end to end (dagster dev + headless Chromium), and the README's copy of it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "screenshot_asset_graph.py"
CHROMIUM = Path("/usr/bin/chromium")
DOC_IMAGE = REPO / "docs" / "asset_graph.png"


def assert_real_graph_image(path: Path, size: tuple[int, int] = (1600, 1000)) -> None:
    """A screenshot of a drawn page: the window's size, many colours, a white page not dimmed by a dialog, and
    anti-aliased drawing (node names, edges) in the graph pane rather than an empty canvas or a spinner."""
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        rgb = image.convert("RGB")
        colors = rgb.getcolors(maxcolors=size[0] * size[1])
        assert len(colors) > 50, f"only {len(colors)} colours"
        top_count, top_color = max(colors)
        assert top_count < 0.9 * size[0] * size[1] and min(top_color) > 230, (top_count, top_color)
        pane = rgb.crop((size[0] * 35 // 100, size[1] // 10, size[0] * 95 // 100, size[1]))  # no sidebars, no zoom bar
        pane_colors = pane.getcolors(maxcolors=size[0] * size[1])
        assert len(pane_colors) > 200, f"graph pane nearly empty ({len(pane_colors)} colours)"


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")
def test_screenshot_script_draws_the_whole_asset_graph(tmp_path):
    out = tmp_path / "graph.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--config", "tiny"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # The script only writes after the DOM held every asset node with its live data.
    match = re.search(r"wrote .*graph\.png \((\d+) assets", proc.stdout)
    assert match and int(match.group(1)) >= 15, proc.stdout
    assert_real_graph_image(out)


def test_missing_chromium_is_reported_before_starting_anything(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.png"),
                           "--chromium", str(tmp_path / "no-such-browser")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no-such-browser not found" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_readme_shows_the_committed_screenshot():
    assert "docs/asset_graph.png" in (REPO / "README.md").read_text(encoding="utf-8")
    assert_real_graph_image(DOC_IMAGE)
