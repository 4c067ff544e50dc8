"""``report.md`` of a device check, from the report's JSON data."""

from __future__ import annotations

import json


def _fmt(value) -> str:
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _parity(result: dict) -> list[str]:
    lines = ["| arch | images (grad) | highest fwd | highest grad abs | highest grad rel "
             "| tf32 fwd | tf32 grad abs | tf32 grad rel | jax tf32−f32 fwd "
             "| torch tf32−f32 fwd |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for arch, row in result["architectures"].items():
        if not isinstance(row, dict):
            lines.append(f"| {arch} | {row} |")
            continue
        h, t = row["highest"], row["tf32"]
        lines.append(
            f"| {arch} | {row['images']} ({row['grad_images']}) | {_fmt(h['forward_max_abs'])} "
            f"| {_fmt(h['grad_max_abs'])} | {_fmt(h['grad_max_rel'])} "
            f"| {_fmt(t['forward_max_abs'])} | {_fmt(t['grad_max_abs'])} "
            f"| {_fmt(t['grad_max_rel'])} | {_fmt(row['jax_tf32_vs_highest_forward'])} "
            f"| {_fmt(row['torch_tf32_vs_highest_forward'])} |")
    return lines


def _throughput(result: dict) -> list[str]:
    lines = ["| arch@batch | jax train img/s | torch train img/s | jax/torch | jax infer img/s "
             "| torch infer img/s | jax/torch |", "|---|--:|--:|--:|--:|--:|--:|"]
    for key, row in result["rows"].items():
        if not isinstance(row, dict):
            lines.append(f"| {key} | {row} |")
            continue
        cells = []
        for part in ("train", "infer"):
            for framework in ("jax", "torch"):
                v = row.get(framework)
                cells.append(_fmt(v[f"{part}_images_per_s"]) if isinstance(v, dict) else str(v))
            cells.append(_fmt(row.get(f"jax_over_torch_{part}", "—")))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def _steps(result: dict) -> list[str]:
    lines = []
    for arch, row in result["rows"].items():
        cells = ", ".join(f"{k}: {_fmt(v['steps_per_s'])} steps/s, inference "
                          f"{_fmt(v['infer_images_per_s'])} img/s" if isinstance(v, dict)
                          else f"{k}: {v}" for k, v in row["by_length"].items())
        lines.append(f"- {arch} (batch {row['batch_size']}, {row['steps']} steps): {cells}")
    return lines


def _seeds(result: dict) -> list[str]:
    lines = [f"- {result['vmap']['seeds']} seeds of {result['vmap']['arch']}, "
             f"{result['vmap']['steps']} steps each; one after the other: "
             f"{_fmt(result['sequential_s'])} s"]
    for mapping in ("vmap", "map", "unroll"):
        row = result.get(mapping)
        lines.append(f"- {mapping}: " + (f"{_fmt(row[f'{mapping}_s'])} s, speed-up "
                                         f"{_fmt(row[f'{mapping}_speedup'])}x"
                                         if isinstance(row, dict) else str(row)))
    return lines


def render(report: dict) -> str:
    """The report as Markdown: one part per section, its tables, and errors in full."""
    meta = report["meta"]
    lines = ["# Device check", "", f"- command: `{meta.get('command')}`",
             f"- mode: {meta.get('mode')}; budget {meta.get('budget_s')} s; elapsed "
             f"{_fmt(meta.get('elapsed_s', 0.0))} s", ""]
    tables = {"parity": _parity, "throughput": _throughput, "steps_per_call": _steps,
              "multiseed": _seeds}
    for name, entry in report["sections"].items():
        lines += [f"## {name}", "", f"status: {entry['status']}"
                  + (f" ({_fmt(entry['seconds'])} s)" if "seconds" in entry else ""), ""]
        if entry.get("detail"):
            lines += [entry["detail"], ""]
        if entry.get("error"):
            lines += ["```", entry.get("traceback", entry["error"]).rstrip(), "```", ""]
        result = entry.get("result")
        if result is None:
            continue
        if name in tables:
            try:
                lines += tables[name](result) + [""]
            except (KeyError, TypeError) as error:
                lines += [f"(table not drawn: {error!r})", ""]
        lines += ["<details><summary>data</summary>", "", "```json",
                  json.dumps(result, indent=1), "```", "</details>", ""]
    return "\n".join(lines) + "\n"
