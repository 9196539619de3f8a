#!/usr/bin/env python3
"""Screenshot the Dagster UI's global asset graph (Lineage page) into ``docs/asset_graph.png``.

Starts ``dagster dev`` with a throw-away DAGSTER_HOME and artifact root (llm_pipeline_assets/devserver.py), then
drives headless Chromium: first ``--dump-dom`` until every asset node is in the page (the layout is computed
asynchronously), then ``--screenshot``. Every process is started in its own process group and stopped by pid.
At the zoom that fits the whole graph the OSS UI draws compact grey nodes (status colours need Dagster+'s asset
health), so nothing is materialized first.

    .venv/bin/python scripts/screenshot_asset_graph.py [--out docs/asset_graph.png] [--config tiny]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # a plain checkout works without `pip install -e .`

from llm_pipeline_assets.devserver import dagster_dev, server_env, stop_process_group  # noqa: E402
from llm_pipeline_assets.webui_client import graphql  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } groupName } }"
# The UI shows a "Join the Dagster community" dialog on localhost until dismissed; this is its Skip button.
SET_NUX_SEEN_MUTATION = "mutation SetNuxSeen { setNuxSeen }"
NODE_NAME_CLASS = "AssetNode_assetName"  # CSS-module class of an asset node's name (one per rendered node)
# Dagster 1.13's UI draws a node in this colour until its live data has arrived, then grey (OSS has no health colours).
LOADING_STYLE = "--minimal-bg: var(--color-background-light)"


def graph_url(base_url: str, groups: list[str]) -> str:
    """The Lineage page with every group expanded (the UI's ``expanded`` parameter; ids ``global@global:<group>``)."""
    return f"{base_url}/asset-groups?expanded=" + ",".join(f"global@global:{g}" for g in sorted(groups))


def run_chromium(chromium: str, profile: Path, size: str, budget_ms: int, action: list[str], url: str,
                 timeout_s: float = 120.0) -> str:
    """One headless Chromium call in its own process group; return its stdout. Stopped by pid in every case."""
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
           f"--virtual-time-budget={budget_ms}", *action, url]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"chromium did not finish in {timeout_s:.0f}s: {' '.join(cmd)}") from None
    finally:
        stop_process_group(proc, grace_s=5)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return out.decode(errors="replace")


def render(chromium: str, url: str, out: Path, n_nodes: int, size: str, budget_ms: int, work: Path,
           attempts: int = 4) -> int:
    """Find a virtual-time budget after which all ``n_nodes`` asset nodes are drawn with their live data, then
    screenshot with half as much again (the screenshot is a fresh page load); return the budget used."""
    profile = work / "chromium-profile"
    for _ in range(attempts):
        dom = run_chromium(chromium, profile, size, budget_ms, ["--dump-dom"], url)
        rendered, loading = dom.count(NODE_NAME_CLASS), dom.count(LOADING_STYLE)
        if rendered >= n_nodes and loading == 0:
            break
        print(f"after {budget_ms} ms: {rendered}/{n_nodes} asset nodes drawn, {loading} still loading; retrying "
              "with more time", flush=True)
        budget_ms *= 2
    else:
        raise RuntimeError(f"the asset graph did not finish rendering {n_nodes} nodes at {url}")
    budget_ms += budget_ms // 2
    out.parent.mkdir(parents=True, exist_ok=True)
    shot = work / "shot.png"  # written whole, then moved: never a half-written docs/asset_graph.png
    run_chromium(chromium, profile, size, budget_ms, [f"--screenshot={shot}"], url)
    if not shot.exists() or shot.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {url}")
    shot.replace(out)
    return budget_ms


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "asset_graph.png")
    parser.add_argument("--config", help="pipeline preset or YAML (default: LLM_PIPELINE_CONFIG, else tiny)")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--window-size", default="1600,1000")
    parser.add_argument("--budget-ms", type=int, default=15_000,
                        help="first Chromium virtual-time budget (doubled until the graph is drawn)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"{args.chromium} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    # A plain `kill <pid>` still stops dagster dev and Chromium: the finally blocks run on SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="asset-graph-") as tmp:
        work = Path(tmp)
        env = server_env(work / "dagster_home", work / "artifacts", args.config)
        with dagster_dev(env, work / "dagster-dev.log") as dev:
            nodes = graphql(dev.url, ASSET_NODES_QUERY)["assetNodes"]
            graphql(dev.url, SET_NUX_SEEN_MUTATION)
            url = graph_url(dev.url, sorted({n["groupName"] for n in nodes}))
            budget = render(args.chromium, url, args.out, len(nodes), args.window_size, args.budget_ms, work)
    print(f"wrote {args.out} ({len(nodes)} assets, virtual-time budget {budget} ms, "
          f"{time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
