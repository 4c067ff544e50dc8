"""End to end: the wall time of a recipe's full training, three ways.

* ``scripts/train.py --framework jax`` and ``--framework torch``, run as subprocesses: the real
  code path, with data loading, per-epoch evaluation, checkpoints, weights and the report;
* the notebooks' own pipeline, in this process: torchvision data set and transforms,
  ``DataLoader(batch_size, shuffle=True)``, every epoch followed by a pass over the test set.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jaxcnn.bench.measure import data_dir_for, first_images
from jaxcnn.bench.variants import Case, TorchNotebook, torchvision_root
from jaxcnn.data import load
from jaxcnn.recipes import get_recipe

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


def train_script_seconds(arch: str, framework: str, out: Path, data_dir: str | None,
                         subset: int | None = None) -> float:
    """Wall time of ``scripts/train.py --arch ARCH --framework FRAMEWORK`` (the recipe)."""
    command = [sys.executable, str(TRAIN_SCRIPT), "--arch", arch, "--framework", framework,
               "--out", str(out), "--no-progress"]
    if data_dir:
        command += ["--data-dir", data_dir]
    if subset:
        command += ["--subset", str(subset)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def notebook_seconds(arch: str, data_dir: str | None, root: Path,
                     subset: int | None = None) -> float:
    """Wall time of the recipe trained as its notebook did (load, epochs, test passes)."""
    recipe = get_recipe(arch)
    train, test = (load(recipe.dataset, split, data_dir=data_dir) for split in ("train", "test"))
    if subset:  # as scripts/train.py --subset: N training and N // 6 test images
        train, test = first_images(train, subset), first_images(test, max(1, subset // 6))
    # The notebook pipeline reads torchvision's own copy: no preprocessed splits.
    case = Case(recipe, None, None, train, test, torchvision_root(train, root))
    start = time.perf_counter()
    variant = TorchNotebook()
    variant.setup(case)
    steps = [None] * len(variant.train_loader)
    for _ in range(recipe.epochs):
        variant.train(steps)
        variant.infer()
    return time.perf_counter() - start


def run_e2e(archs: list[str], data_dirs: dict[str, str], subset: int | None = None,
            log: Callable[[str], None] = print) -> list[dict]:
    """Full-recipe wall times per architecture, and jaxcnn's speedup over the others; with
    ``subset``, on the first ``subset`` training images only (smoke runs)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="jaxcnn-e2e-") as tmp:
        for arch in archs:
            recipe = get_recipe(arch)
            folder = data_dir_for(recipe.dataset, data_dirs)
            row = {"arch": arch, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                   "subset": subset}
            for framework in ("jax", "torch"):
                seconds = train_script_seconds(arch, framework, Path(tmp) / f"{arch}-{framework}",
                                               folder, subset)
                row[f"{framework}_s"] = seconds
                log(f"{arch}: scripts/train.py --framework {framework}: {seconds:.1f} s")
            row["notebook_s"] = notebook_seconds(arch, folder, Path(tmp) / "tv", subset)
            log(f"{arch}: notebook pipeline: {row['notebook_s']:.1f} s")
            row["speedup_vs_torch"] = row["torch_s"] / row["jax_s"]
            row["speedup_vs_notebook"] = row["notebook_s"] / row["jax_s"]
            rows.append(row)
    return rows
