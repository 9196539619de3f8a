"""Turn library stats into metadata a person can read in the Dagster UI (tables, Markdown, counts)."""

from __future__ import annotations

from typing import Mapping

import dagster as dg


def count_table(counts: Mapping[str, int], key: str = "reason", value: str = "count") -> dg.MetadataValue:
    records = [dg.TableRecord({key: str(k), value: int(v)}) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    schema = dg.TableSchema(columns=[dg.TableColumn(key, "string"), dg.TableColumn(value, "int")])
    return dg.MetadataValue.table(records=records, schema=schema)


def funnel_table(funnel: Mapping[str, Mapping[str, int]]) -> dg.MetadataValue:
    records = [
        dg.TableRecord({"step": step, "docs_in": c["in"], "docs_out": c["out"], "removed": c["in"] - c["out"]})
        for step, c in funnel.items()
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn("step", "string"), dg.TableColumn("docs_in", "int"),
                                     dg.TableColumn("docs_out", "int"), dg.TableColumn("removed", "int")])
    return dg.MetadataValue.table(records=records, schema=schema)


def funnel_markdown(funnel: Mapping[str, Mapping[str, int]]) -> str:
    lines = ["| step | in | out | removed | kept % |", "|---|---:|---:|---:|---:|"]
    for step, c in funnel.items():
        pct = 100.0 * c["out"] / c["in"] if c["in"] else 100.0
        lines.append(f"| {step} | {c['in']} | {c['out']} | {c['in'] - c['out']} | {pct:.1f} |")
    return "\n".join(lines)


def preview_table(rows: list[dict]) -> dg.MetadataValue:
    records = [dg.TableRecord({"id": r["id"], "text": r["text"]}) for r in rows]
    schema = dg.TableSchema(columns=[dg.TableColumn("id", "string"), dg.TableColumn("text", "string")])
    return dg.MetadataValue.table(records=records, schema=schema)


def histogram_markdown(hist: Mapping[int, int], label: str = "cluster size") -> str:
    lines = [f"| {label} | clusters |", "|---:|---:|"]
    lines += [f"| {size} | {n} |" for size, n in sorted(hist.items())]
    return "\n".join(lines)
