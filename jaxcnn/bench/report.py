"""The benchmark's outputs: ``bench.json`` (everything measured) and ``bench.md`` (tables)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

# Issue #12's targets, training throughput over PyTorch eager's (each framework alone):
# at the recipe's batch size >= 1x for every architecture and >= 1.5x for three of them (the goal
# beyond: 2x for every one); >= 1x at batch 128 and 512 and for inference at batch 1000;
# start-up (plan timing and compilation) under 5 s; scripts/train.py faster than with torch.
TARGET_RECIPE_BATCH = {"lenet": 1.5, "classic": 1.5, "lenet3x3": 1.5}
TARGET_RECIPE_DEFAULT = 1.0
GOAL_RECIPE_BATCH = 2.0
TARGET_LARGE_BATCH = 1.0
TARGET_INFER = 1.0
TARGET_E2E = 1.0
TARGET_STARTUP_S = 5.0
PEER = "torch"  # PyTorch eager, preloaded tensors


def _stat(stats: dict | None, fmt: str = ",.0f") -> str:
    if not stats:
        return "—"
    return f"{stats['median']:{fmt}} ({stats['min']:{fmt}}–{stats['max']:{fmt}})"


def _ratio(result: dict, kind: str) -> str:
    stats = result.get(f"jaxcnn_speedup_{kind}")
    if not stats:
        return "—"
    if stats["paired_min"] is None:
        return f"{stats['ratio']:.2f}×"
    return f"{stats['ratio']:.2f}× ({stats['paired_min']:.2f}–{stats['paired_max']:.2f})"


def _plans(result: dict) -> str:
    plans = result.get("plans")
    if not plans:
        return ""
    return " / ".join(",".join(plans.get(kind, ["?"])) for kind in ("train", "infer"))


def results_table(report: dict) -> str:
    """One line per architecture, batch size and variant."""
    lines = ["| arch | batch | images | variant | plan (train / infer) | train img/s (min–max) "
             "| jaxcnn × (range) | infer img/s, eval, batch 1000 (min–max) | jaxcnn × (range) | "
             "start-up s (min–max) | plan timing s | train % peak | load before (min–max) |",
             "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for row in report["results"]:
        images = f"{row['train_images']:,}" + ("" if row["whole_epoch"] else " (subset)")
        batch = f"{row['batch_size']}" + (" (recipe)" if row["recipe_batch_size"] else "")
        for result in row["variants"].values():
            head = f"| {row['arch']} | {batch} | {images} | {result['name']} |"
            if result["status"] != "ok":
                lines.append(f"{head} | {result['status']} | | | | | | | |")
                continue
            peak = result.get("train_peak_fraction")
            timing = result.get("plan_timing_s")
            timing = "" if timing is None else f"{timing['median']:.2f}"
            lines.append(
                f"{head} {_plans(result)} | {_stat(result['train_images_per_s'])} | "
                f"{_ratio(result, 'train')} | {_stat(result['infer_images_per_s'])} | "
                f"{_ratio(result, 'infer')} | {_stat(result['startup_s'], '.2f')} | "
                f"{timing} | "
                f"{'—' if peak is None else f'{100 * peak:.1f}'} | "
                f"{_stat(result['load_before'], '.2f')} |")
    return "\n".join(lines)


def _verdict(value: float | None, target: float, higher: bool = True) -> str:
    if value is None:
        return "—"
    met = value >= target if higher else value < target
    return f"{value:.2f} ({'met' if met else 'missed'})"


def _per_arch(report: dict) -> dict[str, dict]:
    """Per architecture: the training speedups over torch eager (recipe batch, larger ones),
    the pooled inference throughputs of jaxcnn and torch, jaxcnn's start-up per batch size."""
    base = report["baseline"]
    per_arch: dict[str, dict] = {}
    for row in report["results"]:
        entry = per_arch.setdefault(row["arch"], {"large": [], "startup": [], "timing": [],
                                                  "infer": ([], [])})
        peer = row["variants"].get(PEER, {})
        own = row["variants"].get(base, {})
        speedup = peer.get("jaxcnn_speedup_train")
        if row["recipe_batch_size"]:
            entry["recipe"] = speedup["ratio"] if speedup else None
        elif speedup:
            entry["large"].append((row["batch_size"], speedup["ratio"]))
        if own.get("status") == "ok":
            entry["startup"].append(own["startup_s"]["median"])
            if "plan_timing_s" in own:
                entry["timing"].append(own["plan_timing_s"]["median"])
            if peer.get("status") == "ok":
                entry["infer"][0].extend(own["infer_images_per_s"]["values"])
                entry["infer"][1].extend(peer["infer_images_per_s"]["values"])
    return per_arch


def targets_table(report: dict) -> str:
    """jaxcnn against PyTorch eager and its start-up, against issue #12's targets."""
    e2e = {row["arch"]: row["speedup_vs_torch"] for row in report.get("e2e", [])}
    lines = [f"| arch | train, recipe batch (≥ 1.5× lenet/classic/lenet3x3, ≥ "
             f"{TARGET_RECIPE_DEFAULT:g}× others; goal {GOAL_RECIPE_BATCH:g}×) | "
             f"train, batch 128 / 512 (≥ {TARGET_LARGE_BATCH:g}×) | inference, batch 1000 "
             f"(≥ {TARGET_INFER:g}×) | start-up + compile s, worst batch (< "
             f"{TARGET_STARTUP_S:g}) | scripts/train.py jax vs torch, whole command (≥ "
             f"{TARGET_E2E:g}×) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for arch, entry in _per_arch(report).items():
        target = TARGET_RECIPE_BATCH.get(arch, TARGET_RECIPE_DEFAULT)
        recipe = entry.get("recipe")
        recipe_cell = _verdict(recipe, target)
        if recipe is not None:
            recipe_cell += f", goal {'met' if recipe >= GOAL_RECIPE_BATCH else 'not met'}"
        large = "—"
        if entry["large"]:
            worst = min(r for _, r in entry["large"])
            large = (" / ".join(f"{r:.2f} ({b})" for b, r in entry["large"])
                     + f": {'met' if worst >= TARGET_LARGE_BATCH else 'missed'}")
        own, peer = entry["infer"]
        infer = (statistics.median(own) / statistics.median(peer)) if own and peer else None
        startup = "—"
        if entry["startup"]:
            startup = _verdict(max(entry["startup"]), TARGET_STARTUP_S, higher=False)
            if entry["timing"] and max(entry["timing"]) > 0:
                startup += f", of which plan timing ≤ {max(entry['timing']):.2f}"
        lines.append(f"| {arch} | {recipe_cell} | {large} | {_verdict(infer, TARGET_INFER)} | "
                     f"{startup} | {_verdict(e2e.get(arch), TARGET_E2E)} |")
    return "\n".join(lines)


def e2e_table(rows: list[dict]) -> str:
    lines = ["| arch | epochs | batch | train.py jax s | train.py torch s | notebook s | "
             "jaxcnn × torch | jaxcnn × notebook | load before (jax / torch / notebook) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        loads = " / ".join(f"{p['load_before'][0]:.2f}" for p in r.get("processes", {}).values())
        lines.append(f"| {r['arch']}{' (subset)' if r.get('subset') else ''} | {r['epochs']} | "
                     f"{r['batch_size']} | {r['jax_s']:.1f} | {r['torch_s']:.1f} | "
                     f"{r['notebook_s']:.1f} | {r['speedup_vs_torch']:.2f}× | "
                     f"{r['speedup_vs_notebook']:.2f}× | {loads} |")
    return "\n".join(lines)


def processes_table(records: list[dict]) -> str:
    """Every benchmark process: what it ran, the load around it, how long, how it ended."""
    lines = ["| # | repeat | variant | cells | load before | load after | wall s | of which "
             "interpreter + imports s | exit | command |",
             "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in records:
        outside = f"{r['outside_s']:.1f}" if "outside_s" in r else "—"
        lines.append(f"| {r['index'] + 1} | {r['repeat'] + 1} | {r['variant']} | "
                     f"{' '.join(r['cells'])} | {r['load_before'][0]:.2f} | "
                     f"{r['load_after'][0]:.2f} | {r['wall_s']:.1f} | {outside} | "
                     f"{r['returncode']} | `{r['command']}` |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The whole report as Markdown."""
    m = report["machine"]
    peak = (f"{m['peak_flops'] / 1e9:.1f} GFLOP/s float32 peak: {m['peak_derivation']}; "
            f"an XLA 1024² matmul reached {m['measured_matmul_flops'] / 1e9:.1f} GFLOP/s"
            if m.get("peak_flops") else m["peak_derivation"])
    parts = [
        "# jaxcnn benchmark",
        f"Command: `{report.get('command', '')}`",
        f"Device: jax {', '.join(m['jax_devices'])}; torch {m.get('torch_device') or '—'}; "
        f"{m['threads']} cores, torch threads {m.get('torch_threads') or '—'}; load average at "
        f"start {', '.join(f'{x:.2f}' for x in m['load_average'])}; allocator: jax processes "
        f"{m.get('jax_allocator') or '—'}, torch processes {m.get('torch_allocator') or '—'}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"Peak: {peak}.",
        f"How it was measured: {report['method']} jaxcnn (the ratios' numerator) is "
        f"`{report['baseline']}`, the engine `scripts/train.py` runs by default (convolution "
        "plan `auto`, its choice per batch size in the \"plan\" column). \"(subset)\": measured "
        "over the first N training images, not a whole epoch. Start-up: set-up (model, data "
        "on the device, the plan timing) plus the compilation of training and inference "
        "(the warm-up passes' time beyond the measured passes'); without the plan timing it is "
        "what a run with a cached plan pays. Training FLOPs per image: forward + weight "
        "gradients + input gradients of all layers but the first.",
        "## Targets", targets_table(report),
        "## Throughput", results_table(report),
    ]
    if report.get("e2e"):
        parts += ["## End to end (full recipes)", e2e_table(report["e2e"])]
    parts += ["## Processes", processes_table(report["processes"])]
    return "\n\n".join(parts) + "\n"


def write_outputs(report: dict, out: Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
