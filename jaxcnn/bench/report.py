"""The benchmark's outputs: ``bench.json`` (everything measured) and ``bench.md`` (tables)."""

from __future__ import annotations

import json
from pathlib import Path

# The targets: jaxcnn's training speedup over PyTorch eager at the recipe's batch size
# and at the larger ones, the end-to-end speedup over the notebook pipeline, compile seconds.
TARGET_RECIPE_BATCH = 2.0
TARGET_LARGE_BATCH = 1.0
TARGET_E2E = 5.0
TARGET_COMPILE_S = 5.0
PEER = "torch"  # PyTorch eager, preloaded tensors


def _ips(stats: dict) -> str:
    return f"{stats['median']:,.0f} ({stats['min']:,.0f}–{stats['max']:,.0f})"


def _ratio(result: dict, kind: str) -> str:
    stats = result.get(f"jaxcnn_speedup_{kind}")
    return f"{stats['median']:.2f}×" if stats else "—"


def results_table(report: dict) -> str:
    """One line per architecture, batch size and variant."""
    lines = ["| arch | batch | images | variant | train img/s (min–max) | jaxcnn × | "
             "infer img/s (min–max) | jaxcnn × | compile s | train % peak |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["results"]:
        images = f"{row['train_images']:,}" + ("" if row["whole_epoch"] else " (subset)")
        batch = f"{row['batch_size']}" + (" (recipe)" if row["recipe_batch_size"] else "")
        for result in row["variants"].values():
            head = f"| {row['arch']} | {batch} | {images} | {result['name']} |"
            if result["status"] != "ok":
                lines.append(f"{head} {result['status']} | | | | | |")
                continue
            peak = result.get("train_peak_fraction")
            lines.append(
                f"{head} {_ips(result['train_images_per_s'])} | {_ratio(result, 'train')} | "
                f"{_ips(result['infer_images_per_s'])} | {_ratio(result, 'infer')} | "
                f"{result['compile_s']:.2f} | {'—' if peak is None else f'{100 * peak:.1f}'} |")
    return "\n".join(lines)


def _verdict(value: float | None, target: float, higher: bool = True) -> str:
    if value is None:
        return "—"
    met = value >= target if higher else value < target
    return f"{value:.2f} ({'met' if met else 'missed'})"


def targets_table(report: dict) -> str:
    """jaxcnn's speedups over PyTorch eager and the notebooks, against the issue's targets."""
    base = report["baseline"]
    per_arch: dict[str, dict] = {}
    for row in report["results"]:
        entry = per_arch.setdefault(row["arch"], {"large": [], "compile": []})
        peer = row["variants"].get(PEER, {}).get("jaxcnn_speedup_train")
        speedup = peer["median"] if peer else None
        if row["recipe_batch_size"]:
            entry["recipe"] = speedup
        elif speedup is not None:
            entry["large"].append(speedup)
        own = row["variants"].get(base, {})
        if own.get("status") == "ok":
            entry["compile"].append(own["compile_s"])
    e2e = {row["arch"]: row["speedup_vs_notebook"] for row in report.get("e2e", [])}
    lines = [f"| arch | vs torch eager, recipe batch (≥ {TARGET_RECIPE_BATCH:g}×) | "
             f"vs torch eager, batch 128/512 (≥ {TARGET_LARGE_BATCH:g}×) | "
             f"compile s, max (< {TARGET_COMPILE_S:g}) | "
             f"end to end vs notebook (≥ {TARGET_E2E:g}×) |",
             "| --- | --- | --- | --- | --- |"]
    for arch, entry in per_arch.items():
        large = min(entry["large"]) if entry["large"] else None
        worst_compile = max(entry["compile"]) if entry["compile"] else None
        lines.append(f"| {arch} | {_verdict(entry.get('recipe'), TARGET_RECIPE_BATCH)} | "
                     f"{_verdict(large, TARGET_LARGE_BATCH)} (worst) | "
                     f"{_verdict(worst_compile, TARGET_COMPILE_S, higher=False)} | "
                     f"{_verdict(e2e.get(arch), TARGET_E2E)} |")
    return "\n".join(lines)


def e2e_table(rows: list[dict]) -> str:
    lines = ["| arch | epochs | batch | train.py jax s | train.py torch s | notebook s | "
             "jaxcnn × torch | jaxcnn × notebook |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['arch']}{' (subset)' if r.get('subset') else ''} | {r['epochs']} | "
              f"{r['batch_size']} | {r['jax_s']:.1f} | "
              f"{r['torch_s']:.1f} | {r['notebook_s']:.1f} | {r['speedup_vs_torch']:.2f}× | "
              f"{r['speedup_vs_notebook']:.2f}× |" for r in rows]
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
        f"Device: jax {', '.join(m['jax_devices'])}; torch {m['torch_device']}; "
        f"{m['threads']} cores, torch threads {m['torch_threads']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"Peak: {peak}.",
        f"jaxcnn (the ratios' numerator) is `{report['baseline']}`, the engine `scripts/train.py` "
        f"uses on this backend. Medians over {report['repeats']} interleaved repeats, min–max in "
        "brackets; \"jaxcnn ×\" is jaxcnn's throughput over the variant's, repeat by repeat, "
        "median. \"(subset)\": measured over the first N training images, not a whole epoch. "
        "Training FLOPs per image: forward + weight gradients + input gradients of all layers "
        "but the first.",
        "## Targets", targets_table(report),
        "## Throughput", results_table(report),
    ]
    if report.get("e2e"):
        parts += ["## End to end (full recipes)", e2e_table(report["e2e"])]
    return "\n\n".join(parts) + "\n"


def write_outputs(report: dict, out: Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
