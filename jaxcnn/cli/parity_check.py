"""Check a Flax NNX port against its PyTorch original, layer by layer (the parity kit's CLI).

    python -m jaxcnn.cli.parity_check MODULE:TORCH_FACTORY MODULE:FLAX_FACTORY \
        --input-shape 8,3,32,32

Each factory is called without arguments and returns the model. The PyTorch model's weights
are moved into the port, both run on a batch (standard normal, ``--seed``; or ``--input``, a
``.npy`` file in PyTorch's layout), and every paired layer's output is compared; ``--loss``
adds the gradients, ``--steps`` optimizer steps side by side. Prints a Markdown report; exit
status 0 when everything is within tolerance, 1 when not, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

OPTIMIZERS = ("sgd", "adam")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("torch_factory", help="module:callable returning the torch.nn.Module")
    parser.add_argument("flax_factory", help="module:callable returning the nnx.Module")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-shape", help="batch shape in PyTorch's layout, e.g. 8,3,32,32")
    source.add_argument("--input", type=Path, help=".npy batch in PyTorch's layout")
    parser.add_argument("--seed", type=int, default=0, help="random batch and labels (default 0)")
    parser.add_argument("--loss", choices=("ce", "nll", "mse"), help="also compare gradients")
    parser.add_argument("--classes", type=int, default=10, help="label range for ce/nll")
    parser.add_argument("--steps", type=int, default=0, help="optimizer steps side by side")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "float64", "bfloat16", "float16", "tf32"))
    parser.add_argument("--flatten", choices=("hwc", "chw"), default="hwc",
                        help="order in which the port flattens feature maps (default hwc)")
    parser.add_argument("--name-map", action="append", default=[], metavar="TORCH=NNX",
                        help="pair a PyTorch prefix with an NNX path (repeatable)")
    return parser.parse_args(argv)


class UsageError(Exception):
    """A bad argument, reported with exit status 2."""


def load_factory(spec: str):
    """The callable named by ``module:attr.attr``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"{spec!r}: expected module:factory")
    try:
        target = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"{spec!r}: cannot load it ({err})") from err
    return target


def make_batch(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(args.seed)
    if args.input is not None:
        if not args.input.is_file():
            raise UsageError(f"--input {args.input}: no such file")
        x = np.load(args.input).astype(np.float32)
    else:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError as err:
            raise UsageError(f"--input-shape {args.input_shape!r}: expected integers like "
                             "8,3,32,32") from err
        x = rng.standard_normal(shape).astype(np.float32)
    y = None
    if args.loss in ("ce", "nll"):
        y = rng.integers(0, args.classes, len(x))
    return x, y


def name_map(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in pairs:
        torch_name, sep, flax_name = item.partition("=")
        if not sep:
            raise UsageError(f"--name-map {item!r}: expected TORCH=NNX")
        out[torch_name] = flax_name
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        make_torch, make_flax = load_factory(args.torch_factory), load_factory(args.flax_factory)
        x, y = make_batch(args)
        names = name_map(args.name_map)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.precision == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    from jaxcnn.parity import kit

    torch_model, flax_model = make_torch(), make_flax()
    if args.loss == "mse":  # regress on zeros of the output's shape
        import torch

        with torch.no_grad():
            y = np.zeros(tuple(torch_model(torch.from_numpy(x)).shape), np.float32)
    report = kit.compare_ports(torch_model, flax_model, x, y=y, loss=args.loss,
                               name_map=names or None, flatten=args.flatten,
                               precision=args.precision)
    print(report.table())
    ok = report.ok
    if args.steps:
        if args.loss is None:
            print("error: --steps needs --loss", file=sys.stderr)
            return 2
        ok = _steps(args, make_torch, make_flax, x, y, names) and ok
    return 0 if ok else 1


def _steps(args, make_torch, make_flax, x, y, names) -> bool:
    import optax
    import torch

    from jaxcnn.parity import kit

    torch_opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[args.optimizer]
    optax_tx = {"sgd": optax.sgd, "adam": optax.adam}[args.optimizer](args.lr)
    rows = kit.compare_steps(make_torch(), make_flax(), [(x, y)] * args.steps, loss=args.loss,
                             torch_optimizer=lambda p: torch_opt(p, lr=args.lr),
                             optax_tx=optax_tx, name_map=names or None, flatten=args.flatten,
                             float64=args.precision == "float64")
    print(f"\n{args.steps} {args.optimizer} steps (lr {args.lr}) on the batch, max parameter "
          "difference:\n\n| step | max abs Δ | max rel Δ | tolerance | |\n|---|--:|--:|--:|---|")
    for r in rows:
        print(f"| {r.name} | {r.max_abs:.2e} | {r.max_rel:.2e} | {r.tolerance:.1e} "
              f"| {'ok' if r.ok else '**DIFFERS**'} |")
    return all(r.ok for r in rows)


if __name__ == "__main__":
    sys.exit(main())
