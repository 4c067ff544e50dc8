"""The prepared GPU check's command line (``scripts/device_check.py``): runs the sections of
:mod:`jaxcnn.devcheck` within a time budget, writing the report after every section."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from jaxcnn.devcheck import NEEDS_S, SECTIONS
from jaxcnn.devcheck.runner import Budget
from jaxcnn.runtime import gpu_memory


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="device_check.py",
        description="Run the prepared checks on the accelerator and write report.json and "
                    "report.md into --out, after every section (a run cut short keeps what "
                    "it measured).")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report")
    parser.add_argument("--data-dir", help="folder holding mnist/ and fashion_mnist/ (IDX .gz); "
                                           "default: searched as the README says")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="time budget in seconds: sections that would not fit are skipped "
                             "(default 420)")
    parser.add_argument("--dry-run", action="store_true",
                        help="the same sections on the CPU at tiny sizes (tests, CI)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections (default all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    budget = Budget(args.budget_s)  # counts the imports and the devices' start too
    memory_setting = gpu_memory.share_with_torch()  # before JAX starts its backend
    if args.dry_run:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        print(f"error: --data-dir {args.data_dir}: no such folder", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} exists and is not a folder", file=sys.stderr)
        return 2

    import jax

    from jaxcnn import conv
    from jaxcnn.devcheck import sections
    from jaxcnn.devcheck.render import render
    from jaxcnn.devcheck.runner import Runner

    if args.dry_run and conv.requested() == conv.AUTO:
        conv.set_override("xla")  # no plan timing in a dry run
    import torch

    torch_device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"
    meta = {"command": shlex.join(sys.argv), "mode": "dry-run" if args.dry_run else "device",
            "budget_s": args.budget_s, "backend": jax.default_backend(),
            "sections_requested": args.sections}
    runner = Runner(args.out, budget, meta, render)
    if not args.dry_run and jax.default_backend() == "cpu":
        runner.log("WARNING: JAX runs on the CPU (no GPU backend); the figures are not GPU ones")
    ctx = sections.Context(args.data_dir, sections.DRY_SIZES if args.dry_run
                           else sections.GPU_SIZES, torch_device, budget.left, runner.log)
    calls = {"environment": lambda: sections.environment(ctx, memory_setting),
             "parity": lambda: sections.parity(ctx),
             "gradient_diagnosis": lambda: sections.gradient_diagnosis(ctx),
             "recipe": lambda: sections.recipe_run(ctx),
             "throughput": lambda: sections.throughput(ctx),
             "steps_per_call": lambda: sections.steps_per_call(ctx),
             "multiseed": lambda: sections.multiseed(ctx),
             "memory": lambda: sections.memory(ctx)}
    for name in SECTIONS:
        if name in args.sections:
            runner.run(name, 0 if args.dry_run else NEEDS_S[name], calls[name])
    failed = [n for n, e in runner.report["sections"].items() if e["status"] == "error"]
    runner.log(f"done: {args.out / 'report.json'}, {args.out / 'report.md'}"
               + (f"; sections with errors: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
