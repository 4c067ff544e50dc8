"""End to end: the wall time of a recipe's full training, three ways, each its own process.

* ``scripts/train.py --framework jax`` (the default convolution plan, ``auto``, with an empty
  plan cache: a first run on the machine) and ``--framework torch``: the real code path, with
  data loading, per-epoch evaluation, checkpoints, weights and the report;
* the notebooks' own pipeline (``python -m jaxcnn.bench.worker --variant torch-notebook
  --e2e``): torchvision data set and transforms, ``DataLoader(batch_size, shuffle=True)``, every
  epoch followed by a pass over the test set.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jaxcnn.bench import processes
from jaxcnn.bench.cases import data_dir_args
from jaxcnn.bench.variants import Case, TorchNotebook, torchvision_root
from jaxcnn.conv.choice import CACHE_ENV_VAR
from jaxcnn.conv.choice import ENV_VAR as CONV_ENV_VAR
from jaxcnn.data import Dataset, data_dir_for
from jaxcnn.data import subset as take_subset
from jaxcnn.training.recipes import get_recipe

TRAIN_SCRIPT = processes.REPO_ROOT / "scripts" / "train.py"


class ProcessFailed(RuntimeError):
    """A benchmark process exited with an error; the message holds its command and stderr."""


def notebook_seconds(arch: str, splits: tuple[Dataset, Dataset], root: Path,
                     subset: int | None = None) -> float:
    """Wall time of the recipe trained as its notebook did (epochs, test passes), from the
    loaded ``splits``; with ``subset``, as ``scripts/train.py --subset``: N training and
    N // 6 test images."""
    recipe = get_recipe(arch)
    train, test = take_subset(*splits, subset)
    # The notebook pipeline reads torchvision's own copy of the files; the preprocessed splits
    # are not used. Its test passes run at the recipe's batch size, as the loop did.
    case = Case(recipe, None, None, train, test, torchvision_root(splits[0], root),
                recipe.batch_size)
    start = time.perf_counter()
    variant = TorchNotebook()
    variant.setup(case)
    steps = [None] * len(variant.train_loader)
    for _ in range(recipe.epochs):
        variant.train(steps)
        variant.infer()
    return time.perf_counter() - start


def _checked(record: dict) -> dict:
    if record["returncode"]:
        raise ProcessFailed(f"{record['command']} exited with {record['returncode']}:\n"
                            f"{record.get('error', '')}")
    return record


def run_e2e(archs: list[str], data_dirs: dict[str, str], subset: int | None = None,
            log: Callable[[str], None] = print) -> list[dict]:
    """Full-recipe wall times per architecture (one process each, one at a time, the load
    recorded), and jaxcnn's speedup over the others; with ``subset``, on the first ``subset``
    training images only (smoke runs)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="jaxcnn-e2e-") as tmp:
        for arch in archs:
            recipe = get_recipe(arch)
            folder = data_dir_for(recipe.dataset, data_dirs)
            row = {"arch": arch, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                   "subset": subset, "processes": {}}
            for framework in ("jax", "torch"):
                command = [sys.executable, str(TRAIN_SCRIPT), "--arch", arch,
                           "--framework", framework, "--out", f"{tmp}/{arch}-{framework}",
                           "--no-progress"]
                command += ["--data-dir", folder] if folder else []
                command += ["--subset", str(subset)] if subset else []
                env = ({CACHE_ENV_VAR: f"{tmp}/plans-{arch}"} if framework == "jax"
                       else processes.TORCH_ENV)
                record = _checked(processes.run(command, env, drop=(CONV_ENV_VAR,)))
                row["processes"][framework] = record
                row[f"{framework}_s"] = record["wall_s"]
                log(f"{arch}: scripts/train.py --framework {framework}: {record['wall_s']:.1f} s")
            out = Path(tmp) / f"{arch}-notebook.json"
            args = ["--variant", "torch-notebook", "--e2e", "--cell",
                    f"{arch}:{recipe.batch_size}", *data_dir_args(data_dirs), "--out", str(out)]
            args += ["--train-images", str(subset)] if subset else []
            record = _checked(processes.run(processes.worker_command(args), processes.TORCH_ENV))
            row["processes"]["notebook"] = record
            row["notebook_s"] = json.loads(out.read_text())["cells"][0]["seconds"]
            log(f"{arch}: notebook pipeline: {row['notebook_s']:.1f} s")
            row["speedup_vs_torch"] = row["torch_s"] / row["jax_s"]
            row["speedup_vs_notebook"] = row["notebook_s"] / row["jax_s"]
            rows.append(row)
    return rows
