"""The evaluation report: one Markdown and one standalone HTML page from the same section data.

`render_report(sections)` builds a neutral list of blocks (headings, tables, lists, images) and
renders it twice. Plots are small PNGs drawn with matplotlib (imported lazily, Agg canvas, no
pyplot state) and embedded as base64 data URIs in both outputs; without matplotlib the report
is tables only. Every section is optional; an empty `sections` dict still renders.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Mapping

from .gates import metric_value

STAGES = ("base", "pretrained", "sft", "dpo", "lora_merged")
MISSING = "—"
FIGSIZE = (6, 3)
DPI = 80
REPORT_NAME = "evaluation_report"

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
    ".pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}"
    "img{max-width:100%;display:block;margin:.5em 0 1.5em}"
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _stages(metrics: Mapping[str, Any]) -> list[str]:
    return list(STAGES) + sorted(str(s) for s in metrics if s not in STAGES)


def _gate_dict(result: Any) -> dict[str, Any]:
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return dict(result) if isinstance(result, Mapping) else {"passed": bool(result)}


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, Mapping):
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(data, (list, tuple)):
        shown = ", ".join(_cell(v) for v in data[:10]) + (f", … ({len(data)} total)" if len(data) > 10 else "")
        return [(prefix, shown or MISSING)]
    return [(prefix, data)]


# ---------------------------------------------------------------- plots


def _png_uri(draw) -> str | None:
    """Draw on a fresh small Figure and return it as a PNG data URI (None without matplotlib)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.add_subplot(1, 1, 1)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grouped_bars(ax, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width=width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=6)


def _loss_plot(curves: Mapping[str, Any]):
    def draw(ax):
        for stage, points in curves.items():
            pts = [(float(s), float(v)) for s, v in points if metric_value(v) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=str(stage), linewidth=1)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.legend(fontsize=6)

    return draw


def _metrics_plot(metrics: Mapping[str, Mapping[str, Any]], names: list[str]):
    stages = [s for s in _stages(metrics) if s in metrics]
    series = {s: [metric_value(metrics[s].get(m)) or 0.0 for m in names] for s in stages}
    return lambda ax: _grouped_bars(ax, names, series, "value")


def _funnel_plot(funnel: Mapping[str, Mapping[str, Mapping[str, Any]]]):
    steps = list(dict.fromkeys(step for source in funnel.values() for step in source))
    series = {str(src): [metric_value(funnel[src].get(st, {}).get("out")) or 0.0 for st in steps] for src in funnel}
    return lambda ax: _grouped_bars(ax, [str(s) for s in steps], series, "docs out")


def _cluster_plot(sizes: list[tuple[int, int]]):
    def draw(ax):
        ax.bar([str(s) for s, _ in sizes], [c for _, c in sizes], color="#4c72b0")
        if len(sizes) > 1 and max(c for _, c in sizes) > 50 * max(min(c for _, c in sizes), 1):
            ax.set_yscale("log")
        ax.set_xlabel("cluster size", fontsize=8)
        ax.set_ylabel("clusters", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)

    return draw


# ---------------------------------------------------------------- blocks


def _blocks(sections: Mapping[str, Any], plots: bool) -> list[tuple]:
    blocks: list[tuple] = [("h1", "Evaluation report")]

    def image(title: str, draw) -> None:
        uri = _png_uri(draw) if plots else None
        if uri:
            blocks.append(("img", title, uri))

    metrics = sections.get("metrics") or {}
    blocks.append(("h2", "Eval metrics per stage"))
    names = sorted({str(m) for per_stage in metrics.values() for m in (per_stage or {})})
    if names:
        stages = _stages(metrics)
        rows = [[m] + [_cell((metrics.get(s) or {}).get(m)) for s in stages] for m in names]
        blocks.append(("table", ["metric"] + stages, rows))
        bounded = [m for m in names if all(abs(v) <= 1.0 for v in (
            metric_value((metrics.get(s) or {}).get(m)) for s in metrics) if v is not None)]
        if bounded:
            image("Eval metrics per stage", _metrics_plot({s: v or {} for s, v in metrics.items()}, bounded))
    else:
        blocks.append(("p", "No eval metrics."))

    gates = sections.get("gates") or {}
    blocks.append(("h2", "Promotion gates"))
    if gates:
        rows, details = [], []
        for gate, result in gates.items():
            res = _gate_dict(result)
            rows.append([str(gate), "PASS" if res.get("passed") else "FAIL",
                         str(len(res.get("failures") or [])), ", ".join(res.get("missing") or []) or MISSING])
            details += [f"{gate}: {text}" if not str(text).startswith(f"{gate}:") else str(text)
                        for text in res.get("failures") or []]
        blocks.append(("table", ["gate", "status", "failures", "missing metrics"], rows))
        if details:
            blocks += [("h3", "Gate failures"), ("list", details)]
    else:
        blocks.append(("p", "No gate results."))

    funnel = sections.get("funnel") or {}
    blocks.append(("h2", "Curation funnel"))
    if funnel:
        rows = []
        for source, steps in funnel.items():
            for step, counts in (steps or {}).items():
                n_in, n_out = metric_value(counts.get("in")), metric_value(counts.get("out"))
                kept = f"{100 * n_out / n_in:.1f}%" if n_in and n_out is not None else MISSING
                rows.append([str(source), str(step), _cell(counts.get("in")), _cell(counts.get("out")), kept])
        blocks.append(("table", ["source", "step", "in", "out", "kept"], rows))
        image("Curation funnel", _funnel_plot(funnel))
    else:
        blocks.append(("p", "No curation funnel."))

    clusters = sorted((int(s), int(c)) for s, c in (sections.get("cluster_sizes") or {}).items())
    blocks.append(("h2", "Dedup cluster sizes"))
    if clusters:
        blocks.append(("table", ["cluster size", "clusters"], [[str(s), str(c)] for s, c in clusters]))
        image("Dedup cluster-size histogram", _cluster_plot(clusters))
    else:
        blocks.append(("p", "No dedup clusters."))

    curves = {s: list(p) for s, p in (sections.get("loss_curves") or {}).items() if p}
    blocks.append(("h2", "Loss curves"))
    if curves:
        rows = []
        for stage, points in curves.items():
            losses = [v for v in (metric_value(p[1]) for p in points) if v is not None]
            rows.append([str(stage), str(len(points)), _cell(losses[0] if losses else None),
                         _cell(losses[-1] if losses else None), _cell(min(losses) if losses else None)])
        blocks.append(("table", ["stage", "points", "first", "last", "min"], rows))
        image("Loss curves per stage", _loss_plot(curves))
    else:
        blocks.append(("p", "No loss curves."))

    contamination = sections.get("contamination") or {}
    blocks.append(("h2", "Contamination"))
    if contamination:
        blocks.append(("table", ["key", "value"], [[k, _cell(v)] for k, v in _flatten(contamination)]))
    else:
        blocks.append(("p", "No contamination summary."))
    return blocks


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _to_markdown(blocks: list[tuple]) -> str:
    out: list[str] = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + rest[0] + "\n")
        elif kind == "p":
            out.append(rest[0] + "\n")
        elif kind == "list":
            out.append("\n".join(f"- {_md_escape(item)}" for item in rest[0]) + "\n")
        elif kind == "table":
            headers, rows = rest
            lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "img":
            out.append(f"![{rest[0]}]({rest[1]})\n")
    return "\n".join(out)


def _to_html(blocks: list[tuple]) -> str:
    esc = html.escape
    body: list[str] = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{esc(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{esc(rest[0])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in rest[0]) + "</ul>")
        elif kind == "table":
            headers, rows = rest
            head = "".join(f"<th>{esc(h)}</th>" for h in headers)
            cells = []
            for row in rows:
                tds = "".join(
                    f'<td class="{c.lower()}">{esc(c)}</td>' if c in ("PASS", "FAIL") else f"<td>{esc(c)}</td>"
                    for c in row
                )
                cells.append(f"<tr>{tds}</tr>")
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table>")
        elif kind == "img":
            body.append(f'<img src="{rest[1]}" alt="{esc(rest[0])}">')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Evaluation report</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def render_report(sections: Mapping[str, Any] | None, plots: bool = True) -> tuple[str, str]:
    """(markdown, html) for the evaluation report; `plots=False` (or no matplotlib) gives tables only."""
    blocks = _blocks(sections or {}, plots=plots)
    return _to_markdown(blocks), _to_html(blocks)


def write_report(sections: Mapping[str, Any] | None, out_dir: str | Path, plots: bool = True) -> tuple[Path, Path]:
    """Write `evaluation_report.md` and `evaluation_report.html` into `out_dir`; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown, page = render_report(sections, plots=plots)
    md_path, html_path = out / f"{REPORT_NAME}.md", out / f"{REPORT_NAME}.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path
