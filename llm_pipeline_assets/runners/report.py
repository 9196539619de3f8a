"""Human-readable training metadata: loss curves as a Markdown image (PNG, base64) for the Dagster UI."""

from __future__ import annotations

import base64
import io
from typing import Sequence


def loss_curve_png(history: Sequence[dict], title: str) -> bytes | None:
    """PNG of loss per step (one line per sequence length if present); None without matplotlib or data."""
    if not history:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    groups: dict = {}
    for h in history:
        groups.setdefault(h.get("seq_len"), []).append((h["step"], h["loss"]))
    for seq_len, points in groups.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, label=f"seq {seq_len}" if seq_len else "train")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def loss_curve_markdown(history: Sequence[dict], title: str) -> str:
    png = loss_curve_png(history, title)
    history = list(history)
    shown = history[:: max(1, len(history) // 10)]
    if history and shown[-1] is not history[-1]:
        shown.append(history[-1])  # the final loss is the one a reader looks for
    rows = "\n".join(f"| {h['step']} | {h['loss']:.4f} |" for h in shown)
    table = f"| step | loss |\n|---:|---:|\n{rows}" if history else "(no loss history)"
    if png is None:
        return table
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})\n\n{table}"
