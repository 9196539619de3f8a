"""Promotion gates: thresholds over flat metric dicts that decide whether a checkpoint moves on.

A gate is a list of `Threshold`s. `evaluate_gate` checks a metric dict against them; a metric
that is absent, None or NaN FAILS the gate (the predecessor silently skipped missing metrics,
which let checkpoints with a broken evaluation through). Thresholds per model preset live in
`gate_presets.yaml` next to this module; `merge_overrides` applies run-config overrides.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any, Mapping

import yaml

PRESETS_PATH = Path(__file__).with_name("gate_presets.yaml")

OPS = (">=", "<=")

GATE_NAMES = ("pretrain_to_sft", "sft_to_dpo", "dpo_to_production", "lora_promotion")

# Which gate guards the promotion of each checkpoint asset.
gate_for_asset: dict[str, str] = {
    "pretrained_checkpoint": "pretrain_to_sft",
    "sft_checkpoint": "sft_to_dpo",
    "dpo_checkpoint": "dpo_to_production",
    "lora_adapter": "lora_promotion",
}


class GateConfigError(ValueError):
    """A preset file or an override is malformed; the message names the gate and metric."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str  # ">=" or "<="
    value: float

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise GateConfigError(f"threshold {self.metric!r}: unknown op {self.op!r} (expected one of {OPS})")

    def passes(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value

    def describe(self) -> str:
        return f"{self.metric} {self.op} {_fmt(self.value)}"


@dataclass
class GateResult:
    gate: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    checked: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def metric_value(value: Any) -> float | None:
    """The metric as a float, or None when it is missing (None, NaN, or not a number at all)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def evaluate_gate(gate: str, metrics: Mapping[str, float | None], thresholds: list[Threshold]) -> GateResult:
    """Check `metrics` against every threshold; missing metrics fail the gate with a message naming them."""
    failures: list[str] = []
    missing: list[str] = []
    checked: dict[str, float | None] = {}
    for threshold in thresholds:
        raw = metrics.get(threshold.metric) if metrics is not None else None
        value = metric_value(raw)
        checked[threshold.metric] = value
        if value is None:
            missing.append(threshold.metric)
            shown = "absent" if metrics is None or threshold.metric not in metrics else _fmt(raw)
            failures.append(
                f"{gate}: metric {threshold.metric!r} is missing (value: {shown}); "
                f"required {threshold.describe()}"
            )
        elif not math.isfinite(value):  # a diverged model's infinite perplexity, or an inf rate from a bad division
            failures.append(f"{gate}: metric {threshold.metric!r} = {_fmt(value)} is not finite; "
                            f"required {threshold.describe()}")
        elif not threshold.passes(value):
            failures.append(
                f"{gate}: metric {threshold.metric!r} = {_fmt(value)} fails threshold {threshold.describe()}"
            )
    return GateResult(gate=gate, passed=not failures, failures=failures, missing=missing, checked=checked)


def _parse_spec(gate: str, metric: str, spec: Any) -> Threshold:
    where = f"gate {gate!r}, metric {metric!r}"
    if not isinstance(spec, Mapping):
        raise GateConfigError(f"{where}: expected a mapping with 'op' and 'value', got {spec!r}")
    unknown = set(spec) - {"op", "value"}
    if unknown:
        raise GateConfigError(f"{where}: unknown keys {sorted(unknown)} (expected 'op' and 'value')")
    op = spec.get("op")
    if op not in OPS:
        raise GateConfigError(f"{where}: unknown op {op!r} (expected one of {OPS})")
    value = spec.get("value")
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise GateConfigError(f"{where}: value must be a number, got {value!r}")
    return Threshold(metric=str(metric), op=op, value=float(value))


def _parse_gates(gates: Any, origin: str) -> dict[str, list[Threshold]]:
    if not isinstance(gates, Mapping):
        raise GateConfigError(f"{origin}: expected a mapping of gate -> metric -> {{op, value}}, got {gates!r}")
    parsed: dict[str, list[Threshold]] = {}
    for gate, specs in gates.items():
        if not isinstance(specs, Mapping):
            raise GateConfigError(f"{origin}: gate {gate!r}: expected a mapping of metric -> {{op, value}}")
        parsed[str(gate)] = [_parse_spec(str(gate), str(metric), spec) for metric, spec in specs.items()]
    return parsed


def _read_presets(path: str | Path | None = None) -> dict[str, Any]:
    source = Path(path) if path is not None else PRESETS_PATH
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    presets = data.get("presets") if isinstance(data, Mapping) else None
    if not isinstance(presets, Mapping):
        raise GateConfigError(f"{source}: expected a top-level 'presets' mapping")
    return {str(name): gates for name, gates in presets.items()}


def available_presets(path: str | Path | None = None) -> list[str]:
    return sorted(_read_presets(path))


def load_gates(preset: str, path: str | Path | None = None) -> dict[str, list[Threshold]]:
    """The thresholds of every gate for a model preset (`tiny`, `124m`, `1b`, `7b`)."""
    presets = _read_presets(path)
    if preset not in presets:
        raise KeyError(f"unknown gate preset {preset!r}; known: {sorted(presets)}")
    gates = _parse_gates(presets[preset], origin=f"preset {preset!r}")
    absent = [name for name in GATE_NAMES if name not in gates]
    if absent:
        raise GateConfigError(f"preset {preset!r} lacks gates {absent}")
    return gates


#: metrics each gate's evaluation produces beyond the suite's (``evaluation.suite.METRIC_KEYS``)
DERIVED_METRICS = {"dpo_to_production": ("reward_accuracy",),
                   "lora_promotion": ("general_score", "general_score_base", "general_delta")}


def gate_metrics(gate: str) -> tuple[str, ...]:
    """The metrics a threshold of ``gate`` can test: a threshold on any other would fail every evaluation."""
    from llm_pipeline_assets.evaluation.suite import METRIC_KEYS

    return tuple(METRIC_KEYS) + DERIVED_METRICS.get(gate, ())


def check_gate_settings(preset: str | None, overrides: Mapping[str, Any] | None,
                        path: str | Path | None = None) -> None:
    """Raise ``GateConfigError`` (message starting with the config key) for an unknown preset, an override of an
    unknown gate, a metric the gate's evaluation does not produce (a threshold no evaluation meets: the gate would
    fail after hours of training), or a malformed threshold."""
    import difflib

    if preset is not None and preset not in available_presets(path):
        raise GateConfigError(f"eval.gates_preset: unknown gate preset {preset!r}; known: {available_presets(path)}")
    for gate, specs in (overrides or {}).items():
        where = f"eval.gate_overrides.{gate}"
        if gate not in GATE_NAMES:
            near = difflib.get_close_matches(str(gate), GATE_NAMES, n=1)
            raise GateConfigError(f"{where}: unknown gate (known: {list(GATE_NAMES)})"
                                  + (f"; did you mean {near[0]!r}?" if near else ""))
        known = gate_metrics(gate)
        for metric in specs if isinstance(specs, Mapping) else ():
            if metric in known:
                continue
            # a typo, or a metric the evaluation does not produce: either fails the gate for certain, after training
            near = difflib.get_close_matches(str(metric), known, n=1)
            raise GateConfigError(f"{where}.{metric}: not a metric this gate's evaluation produces"
                                  + (f"; did you mean {near[0]!r}?" if near else "") + f" (known: {list(known)})")
        try:
            _parse_gates({gate: specs}, origin=where)
        except GateConfigError as exc:
            raise GateConfigError(f"{where}: {exc}") from None


def merge_overrides(
    gates: Mapping[str, list[Threshold]], overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None
) -> dict[str, list[Threshold]]:
    """A copy of `gates` with `overrides` applied: {gate: {metric: {op, value}}}.

    An override replaces the threshold on the same metric (keeping its position) or adds one;
    a gate not in `gates` is added. Bad input raises `GateConfigError` naming the gate/metric.
    """
    merged = {gate: list(thresholds) for gate, thresholds in gates.items()}
    if not overrides:
        return merged
    for gate, thresholds in _parse_gates(copy.deepcopy(dict(overrides)), origin="gate overrides").items():
        current = merged.setdefault(gate, [])
        for threshold in thresholds:
            index = next((i for i, t in enumerate(current) if t.metric == threshold.metric), None)
            if index is None:
                current.append(threshold)
            else:
                current[index] = threshold
    return merged


def evaluate_gates(
    metrics: Mapping[str, float | None], gates: Mapping[str, list[Threshold]]
) -> dict[str, GateResult]:
    """Evaluate every gate against one metric dict."""
    return {gate: evaluate_gate(gate, metrics, thresholds) for gate, thresholds in gates.items()}


def thresholds_table_markdown(thresholds: list[Threshold], metrics: Mapping[str, Any] | None = None) -> str:
    """A Markdown table of thresholds; with `metrics`, also each value and whether it passes."""
    if metrics is None:
        lines = ["| metric | op | threshold |", "|---|---|---|"]
        lines += [f"| {t.metric} | {t.op} | {_fmt(t.value)} |" for t in thresholds]
        return "\n".join(lines) + "\n"
    lines = ["| metric | op | threshold | value | status |", "|---|---|---|---|---|"]
    for t in thresholds:
        value = metric_value(metrics.get(t.metric))
        if value is None:
            shown, status = "—", "MISSING"
        else:
            shown, status = _fmt(value), ("pass" if t.passes(value) else "FAIL")
        lines.append(f"| {t.metric} | {t.op} | {_fmt(t.value)} | {shown} | {status} |")
    return "\n".join(lines) + "\n"
