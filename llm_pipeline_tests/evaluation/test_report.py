"""The evaluation report: Markdown + standalone HTML, embedded plots, graceful degradation."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest

from llm_pipeline_assets.evaluation.gates import evaluate_gate, load_gates
from llm_pipeline_assets.evaluation.report import MISSING, STAGES, render_report, write_report

PNG_URI = "data:image/png;base64,"


def full_sections():
    gates = load_gates("tiny")
    sft_metrics = {"perplexity": 120.0, "function_call_valid_json": 0.8, "repetition_rate": 0.1,
                   "safety_refusal_rate": 0.9, "mc_accuracy": 0.35}
    return {
        "metrics": {
            "base": {"perplexity": 4096.0, "mc_accuracy": 0.25},
            "pretrained": {"perplexity": 150.0, "mc_accuracy": 0.3},
            "sft": sft_metrics,
            "dpo": {"reward_accuracy": 0.7, "safety_refusal_rate": float("nan")},
            "lora_merged": {"function_call_valid_json": 0.9, "general_delta": -0.02},
        },
        "gates": {
            "sft_to_dpo": evaluate_gate("sft_to_dpo", sft_metrics, gates["sft_to_dpo"]),
            "dpo_to_production": evaluate_gate(
                "dpo_to_production", {"reward_accuracy": 0.7, "safety_refusal_rate": None},
                gates["dpo_to_production"]).to_dict(),
        },
        "funnel": {
            "web": {"language": {"in": 1000, "out": 800}, "quality": {"in": 800, "out": 500}},
            "news": {"language": {"in": 400, "out": 390}, "quality": {"in": 390, "out": 300}},
        },
        "cluster_sizes": {1: 5000, 2: 300, 3: 40, 8: 2},
        "loss_curves": {
            "pretrained": [(step, 8.0 - step * 0.01) for step in range(0, 500, 5)],
            "sft": [(step, 3.0 - step * 0.005) for step in range(100)],
        },
        "contamination": {"gsm8k": {"overlap_docs": 3, "overlap_rate": 0.001}, "checked_benchmarks": ["gsm8k", "arc"]},
    }


class _Checker(HTMLParser):
    """Tracks open/close tags to check the page is balanced."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def check_html(page):
    assert page.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []
    return checker.tags


def metric_table(markdown):
    lines = markdown.split("## Eval metrics per stage", 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[0], {row[0]: row[1:] for row in rows[2:]}


def test_metrics_table_has_every_stage_and_metric():
    sections = full_sections()
    markdown, _ = render_report(sections)
    header, rows = metric_table(markdown)
    assert header == ["metric", *STAGES]
    expected = {m for per_stage in sections["metrics"].values() for m in per_stage}
    assert set(rows) == expected
    assert rows["perplexity"] == ["4096", "150", "120", MISSING, MISSING]
    assert rows["safety_refusal_rate"][STAGES.index("dpo")] == MISSING  # NaN shown as missing
    assert rows["general_delta"][STAGES.index("lora_merged")] == "-0.02"


def test_all_stage_columns_present_even_when_stages_absent():
    markdown, _ = render_report({"metrics": {"sft": {"acc": 0.5}, "extra_stage": {"acc": 0.1}}})
    header, rows = metric_table(markdown)
    assert header == ["metric", *STAGES, "extra_stage"]
    assert rows["acc"].count(MISSING) == len(STAGES) - 1


def test_gate_results_and_failures_listed():
    markdown, page = render_report(full_sections())
    assert "| sft_to_dpo | PASS |" in markdown
    assert "| dpo_to_production | FAIL |" in markdown
    assert "safety_refusal_rate" in markdown.split("## Promotion gates", 1)[1].split("## Curation", 1)[0]
    assert "### Gate failures" in markdown
    assert "metric 'safety_refusal_rate' is missing" in markdown
    assert "dpo_to_production: dpo_to_production:" not in markdown
    assert 'class="fail"' in page and 'class="pass"' in page


def test_funnel_clusters_loss_and_contamination_tables():
    markdown, _ = render_report(full_sections())
    assert "| web | language | 1000 | 800 | 80.0% |" in markdown
    assert "| news | quality | 390 | 300 | 76.9% |" in markdown
    assert "| 1 | 5000 |" in markdown and "| 8 | 2 |" in markdown
    assert "| pretrained | 100 | 8 |" in markdown
    assert "| gsm8k.overlap_docs | 3 |" in markdown
    assert "| checked_benchmarks | gsm8k, arc |" in markdown


def test_images_embedded_in_markdown_and_html():
    pytest.importorskip("matplotlib")
    markdown, page = render_report(full_sections())
    assert markdown.count(f"]({PNG_URI}") == 4  # metrics, funnel, clusters, loss curves
    assert "![Loss curves per stage](data:image/png;base64," in markdown
    assert page.count(f'<img src="{PNG_URI}') == 4
    assert 'src="http' not in page and "<link" not in page and "<script" not in page


def test_html_is_standalone_and_well_formed():
    _, page = render_report(full_sections())
    tags = check_html(page)
    assert "table" in tags and "img" in tags and "style" in tags
    assert page.rstrip().endswith("</html>")


def test_markdown_size_is_bounded():
    sections = full_sections()
    sections["loss_curves"]["dpo"] = [(step, 1.0 + 1.0 / (step + 1)) for step in range(5000)]
    markdown, page = render_report(sections)
    assert len(markdown.encode()) < 400_000
    assert len(page.encode()) < 400_000


def test_empty_sections_render():
    for sections in ({}, None, {"metrics": {}, "gates": {}, "funnel": {}, "cluster_sizes": {},
                                "loss_curves": {}, "contamination": {}}):
        markdown, page = render_report(sections)
        assert markdown.startswith("# Evaluation report")
        assert "No eval metrics." in markdown and "No gate results." in markdown
        assert PNG_URI not in markdown
        check_html(page)


def test_without_matplotlib_tables_only(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    markdown, page = render_report(full_sections())
    assert PNG_URI not in markdown and "<img" not in page
    assert "| web | language | 1000 | 800 | 80.0% |" in markdown
    check_html(page)


def test_plots_can_be_disabled():
    markdown, page = render_report(full_sections(), plots=False)
    assert PNG_URI not in markdown and "<img" not in page


def test_cells_are_escaped():
    markdown, page = render_report({"contamination": {"note": "a|b <script>"}})
    assert "a\\|b" in markdown
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_write_report(tmp_path):
    md_path, html_path = write_report(full_sections(), tmp_path / "out")
    assert md_path.name == "evaluation_report.md" and html_path.name == "evaluation_report.html"
    markdown, page = render_report(full_sections())
    assert md_path.read_text(encoding="utf-8").startswith("# Evaluation report")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    def strip(text):
        return re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", text)

    assert strip(md_path.read_text(encoding="utf-8")) == strip(markdown)
    assert strip(html_path.read_text(encoding="utf-8")) == strip(page)


def test_the_loss_table_in_the_ui_ends_with_the_final_step():
    """The materialization's loss table samples every len/10-th step; with 60 steps it stopped at step 55."""
    from llm_pipeline_assets.runners.report import loss_curve_markdown

    history = [{"step": s, "loss": 10.0 / s} for s in range(1, 61)]
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \|$", loss_curve_markdown(history, "pretraining loss"), re.M)
    assert rows[0] == ("1", "10.0000") and rows[-1] == ("60", f"{10 / 60:.4f}")
    assert [int(r[0]) for r in rows] == sorted({int(r[0]) for r in rows})  # no step twice
    assert loss_curve_markdown([], "x") == "(no loss history)"
