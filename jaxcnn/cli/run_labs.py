"""Execute the lab notebooks top to bottom and save them in place with their outputs.

    python scripts/run_labs.py                          # all of notebooks/, full run, saved
    python scripts/run_labs.py notebooks/002_classic.ipynb
    python scripts/run_labs.py --quick                  # JAXCNN_LAB_QUICK=1, nothing saved

Each notebook runs in a fresh Python kernel (nbclient) started from the repository root, so
``./data`` is found as by the scripts. A full run saves the notebook, outputs included, in place;
``--quick`` (a small subset, one epoch: what CI runs) saves nothing unless ``--out DIR`` is given.
A cell that raises stops that notebook with the cell's error, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
QUICK_VAR = "JAXCNN_LAB_QUICK"


def execute(path: Path, *, quick: bool, timeout: int | None = None) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path``; return it with its outputs (not saved)."""
    notebook = nbformat.read(path, as_version=4)
    os.environ[QUICK_VAR] = "1" if quick else "0"  # the kernel inherits this environment
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            record_timing=False, resources={"metadata": {"path": str(REPO_ROOT)}})
    client.execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    parser.add_argument("--quick", action="store_true",
                        help=f"set {QUICK_VAR}=1 (small subset, one epoch) and save nothing")
    parser.add_argument("--out", type=Path,
                        help="save the executed notebooks in this folder instead")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds allowed per cell (default: no limit)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            parser.error(f"{path}: no such notebook")  # exits with status 2
    failed = 0
    for path in paths:
        start = time.perf_counter()
        try:
            notebook = execute(path, quick=args.quick, timeout=args.timeout)
        except CellExecutionError as err:
            failed += 1
            print(f"FAILED {path} after {time.perf_counter() - start:.0f} s:\n{err}",
                  file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        target = args.out / path.name if args.out else None if args.quick else path
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, target)
        print(f"ok {path.name}: {seconds:.0f} s" + (f", saved to {target}" if target else ""),
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
