"""Train every notebook recipe in both frameworks and compare with the notebooks' accuracies.

    python scripts/fidelity.py --out results/fidelity
    python scripts/fidelity.py --arch lenet --arch classic --framework jax --out results/fid

Each run is ``scripts/train.py`` in a subprocess (its run directory is kept under ``--out``);
the wall time is the subprocess's, data loading and compilation included. Writes
``fidelity.json`` and ``fidelity.md`` (merged with earlier rows already there, so runs can be
done one at a time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.training import rundir
from jaxcnn.training.recipes import get_recipe

TRAIN = [sys.executable, "-m", "jaxcnn.cli.train"]  # what scripts/train.py runs

# What each notebook printed for its recipe (test accuracy as a fraction), and when.
NOTEBOOK = {
    ("padded", "max"): (0.875, "000, 3 epochs"),
    ("padded", "avg"): (0.894, "000, 3 epochs"),
    ("dropout", "max"): (0.98, "001: 92.0% after 1 epoch, error < 2% after 25"),
    ("classic", "max"): (0.98, "002, 5 epochs"),
    ("lenet3x3", "max"): (0.9848, "003, 5 epochs"),
    ("lenet", "max"): (0.6784, "004, 10 epochs"),
}


def run_one(arch: str, pool: str, framework: str, out: Path, extra: list[str]) -> dict:
    """Train one recipe through scripts/train.py; its final metrics and wall time."""
    run_dir = out / f"{arch}-{pool}-{framework}"
    command = [*TRAIN, "--arch", arch, "--pool", pool,
               "--framework", framework, "--out", str(run_dir), "--no-progress", *extra]
    if (run_dir / rundir.CONFIG).exists():
        raise SystemExit(f"error: {run_dir} already holds a run; remove it or choose another "
                         "--out")
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    rows = rundir.read_metrics(run_dir)
    last = rows[-1]
    return {"arch": arch, "pool": pool, "framework": framework, "epochs": last["epoch"],
            "test_accuracy": last["test_accuracy"], "train_loss": last["train_loss"],
            "wall_seconds": wall, "train_seconds": sum(r["seconds"] for r in rows),
            "command": " ".join(command[1:]), "run_dir": str(run_dir)}


def markdown(results: list[dict]) -> str:
    """One row per (arch, pool): notebook, torch and jax accuracy and wall time."""
    lines = ["| arch | pool | epochs | notebook | torch acc | jax acc | torch wall | jax wall |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    keys = sorted({(r["arch"], r["pool"]) for r in results},
                  key=lambda k: (ARCHITECTURES.index(k[0]), k[1] != "max", k[1]))
    for arch, pool in keys:
        by = {r["framework"]: r for r in results if (r["arch"], r["pool"]) == (arch, pool)}
        note = NOTEBOOK.get((arch, pool))
        cells = [arch, pool, str(next(iter(by.values()))["epochs"]),
                 f"{note[0]:.2%} ({note[1]})" if note else "-"]
        cells += [f"{by[f]['test_accuracy']:.2%}" if f in by else "-" for f in ("torch", "jax")]
        cells += [f"{by[f]['wall_seconds'] / 60:.1f} min" if f in by else "-"
                  for f in ("torch", "jax")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES,
                        help="architecture (repeatable; default: all, padded with max and avg)")
    parser.add_argument("--pool", action="append", choices=("max", "avg"),
                        help="pooling (repeatable; default: max, and avg too for padded)")
    parser.add_argument("--framework", action="append", choices=("torch", "jax"),
                        help="framework (repeatable; default: both)")
    parser.add_argument("--out", type=Path, default=Path("results/fidelity"),
                        help="folder for the run directories, fidelity.json and fidelity.md")
    parser.add_argument("--data-dir", help="passed to scripts/train.py")
    args = parser.parse_args(argv)
    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "fidelity.json"
    for arch in args.arch or ARCHITECTURES:
        get_recipe(arch)
        for pool in args.pool or (("max", "avg") if arch == "padded" else ("max",)):
            for framework in args.framework or ("torch", "jax"):
                row = run_one(arch, pool, framework, args.out, extra)
                # Re-read: another fidelity.py may have added rows in the meantime.
                results = json.loads(table.read_text()) if table.exists() else []
                results = [r for r in results
                           if (r["arch"], r["pool"], r["framework"]) != (arch, pool, framework)]
                results.append(row)
                table.write_text(json.dumps(results, indent=2) + "\n")
                (args.out / "fidelity.md").write_text(markdown(results))
                print(f"{arch} {pool} {framework}: {row['test_accuracy']:.2%} in "
                      f"{row['wall_seconds']:.0f} s", flush=True)
    print((args.out / "fidelity.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
