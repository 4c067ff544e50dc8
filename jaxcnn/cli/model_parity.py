"""Print how closely each jaxcnn model matches its PyTorch original, as a Markdown table.

Per architecture and option variant (:mod:`jaxcnn.parity.variants`): parameter counts in both
frameworks; the largest eval-mode output difference on real MNIST and Fashion-MNIST test images
(the 3-channel 32×32 lenet gets images built from Fashion-MNIST), with PyTorch's init weights and
with Flax's; and the largest difference of the notebook loss's gradients (eval mode, PyTorch's
init), absolute and relative (per tensor max |g_jax - g_torch| / max |g_torch|, then the largest
over tensors). Gradient batches leave out samples with a pre-activation within 1e-6 of a ReLU
kink or a max-pool window whose two largest inputs are within 1e-6 (measured in float64, where
only structural ties are exact), where the two frameworks may legitimately take different sides.

Usage: python scripts/model_parity.py [--images N] [--out FILE.json] [--data-dir NAME=DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from jaxcnn.cli.args import named_data_dirs
from jaxcnn.data import load, to_tensor
from jaxcnn.parity.gradients import (
    away_from_kinks,
    jax_forward,
    jax_grads,
    torch_forward,
    torch_grads,
)
from jaxcnn.parity.variants import (
    DATASETS,
    LOSSES,
    VARIANTS,
    inputs_for,
    make_pair,
    param_count_jax,
    param_count_torch,
)
from jaxcnn.runtime import gpu_memory, precision

_DATA_DIRS: dict[str, str] = {}  # --data-dir


@functools.cache
def _test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images of ``name`` as float32 NHWC in [0, 1], and int64 labels."""
    data = load(name, "test", data_dir=_DATA_DIRS.get(name))
    return to_tensor(data.images), np.asarray(data.labels, dtype=np.int64)


GRAD_BATCHES = (("mnist", 0, 256), ("fashion_mnist", 0, 256), ("mnist", 256, 256))


def _datasets(options: dict) -> tuple[str, ...]:
    return ("fashion_mnist",) if options.get("in_channels") == 3 else DATASETS


def forward_diff(arch: str, options: dict, init: str, images: int) -> float:
    """Largest |output difference| over ``images`` test images of each data set, eval mode."""
    flax_model, torch_model = make_pair(arch, options, init=init)
    worst = 0.0
    for name in _datasets(options):
        x, _ = inputs_for(options, name, 0, images, test_set=_test_set)
        diff = np.abs(np.asarray(jax_forward(flax_model, x)) - torch_forward(torch_model, x))
        worst = max(worst, float(diff.max()))
    return worst


def grad_diff(arch: str, options: dict) -> tuple[float, float, int]:
    """(max abs, max relative) gradient difference, and the number of samples compared."""
    flax_model, torch_model = make_pair(arch, options, init="torch")
    rgb = options.get("in_channels") == 3
    worst_abs = worst_rel = 0.0
    samples = 0
    for name, start, size in GRAD_BATCHES:
        name = "fashion_mnist" if rgb else name
        x, y = inputs_for(options, name, start, size, test_set=_test_set)
        keep = away_from_kinks(torch_model, x)
        _, jax_g = jax_grads(flax_model, x[keep], y[keep], LOSSES[arch])
        _, torch_g = torch_grads(torch_model, x[keep], y[keep], LOSSES[arch])
        samples += int(keep.sum())
        for key, expected in torch_g.items():
            gap = float(np.abs(jax_g[key] - expected).max())
            worst_abs = max(worst_abs, gap)
            worst_rel = max(worst_rel, gap / max(float(np.abs(expected).max()), 1e-30))
    return worst_abs, worst_rel, samples


def measure(images: int) -> list[dict]:
    """One row of figures per variant."""
    rows = []
    for variant, (arch, options) in VARIANTS.items():
        flax_model, torch_model = make_pair(arch, options, init="torch")
        grad_abs, grad_rel, samples = grad_diff(arch, options)
        rows.append({
            "variant": variant, "arch": arch, "options": options, "loss": LOSSES[arch],
            "params_torch": param_count_torch(torch_model),
            "params_jax": param_count_jax(flax_model),
            "images": images * len(_datasets(options)),
            "forward_max_abs_torch_init": forward_diff(arch, options, "torch", images),
            "forward_max_abs_jax_init": forward_diff(arch, options, "jax", images),
            "grad_samples": samples, "grad_max_abs": grad_abs, "grad_max_rel": grad_rel,
        })
        print(f"measured {variant}", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| variant | loss | params (torch) | params (jax) | images | fwd max abs (torch init) "
        "| fwd max abs (jax init) | grad samples | grad max abs | grad max rel |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['loss']} | {r['params_torch']:,} | {r['params_jax']:,} "
            f"| {r['images']:,} | {r['forward_max_abs_torch_init']:.2e} "
            f"| {r['forward_max_abs_jax_init']:.2e} | {r['grad_samples']} "
            f"| {r['grad_max_abs']:.2e} | {r['grad_max_rel']:.2e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every variant, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.rsplit("\n\nUsage", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024,
                        help="test images per data set for the forward comparison (default 1024)")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--data-dir", action="append", default=[], metavar="NAME=DIR",
                        help="where data set NAME is (repeatable; default: searched)")
    args = parser.parse_args(argv)
    _DATA_DIRS.update(named_data_dirs(parser, args.data_dir, DATASETS))
    gpu_memory.share_with_torch()
    with precision.parity():  # true float32 in both frameworks, on a GPU too
        rows = measure(args.images)
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
