"""Evaluate a saved run on its test set: accuracy, per-class accuracy, confusion matrix.

The run's final weights (``model.safetensors``) are evaluated by the framework the run was
trained in (``config.json``'s ``framework``): the ``torch_ref`` model for torch runs, the jaxcnn
model for JAX runs, both in eval mode on the full test set of the run's data set.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxcnn.data import DataError, load, preprocess
from jaxcnn.runtime import cachedir
from jaxcnn.training import rundir, runlock
from jaxcnn.training.recipes import Recipe
from jaxcnn.training.report import (
    confusion_matrix,
    load_model,
    load_run,
    per_class_accuracy,
    write_report,
)

BATCH_SIZE = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 on success, 2 for a bad run directory (a missing or damaged "
               "file, named in the message), a bad --index or missing data.")
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a run directory written by scripts/train.py (config.json, "
                             "metrics.jsonl, model.safetensors)")
    parser.add_argument("--index", type=int, metavar="N",
                        help="also predict test image N (0-based): print its predicted and "
                             "true class and save RUN_DIR/prediction_N.png")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the data set is (default: the run's own --data-dir, else "
                             "jaxcnn.data's usual search)")
    parser.add_argument("--report", action="store_true",
                        help="regenerate RUN_DIR/report.md and its PNGs from this evaluation")
    return parser


def torch_outputs(arch: str, options: Mapping, state_dict: Mapping,
                  inputs: np.ndarray) -> np.ndarray:
    """Eval-mode outputs of the ``torch_ref`` model on NHWC float32 ``inputs``."""
    import torch

    from torch_ref import create_model

    model = create_model(arch, **options)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()},
                          strict=True)
    model.eval()
    with torch.no_grad():
        return np.concatenate([
            model(torch.from_numpy(np.ascontiguousarray(inputs[i:i + BATCH_SIZE]
                                                        .transpose(0, 3, 1, 2)))).numpy()
            for i in range(0, len(inputs), BATCH_SIZE)])


def jax_outputs(arch: str, options: Mapping, state_dict: Mapping,
                inputs: np.ndarray) -> np.ndarray:
    """Eval-mode outputs of the jaxcnn model on NHWC float32 ``inputs``."""
    import jax
    from flax import nnx

    from jaxcnn import conv

    model = load_model(arch, options, state_dict)
    conv.prepare(model, min(BATCH_SIZE, len(inputs)), inputs.shape[1:], train=False)
    graph, state = nnx.split(model)
    apply = jax.jit(lambda s, x: nnx.merge(graph, s)(x))
    return np.concatenate([np.asarray(apply(state, inputs[i:i + BATCH_SIZE]))
                           for i in range(0, len(inputs), BATCH_SIZE)])


def print_results(labels: np.ndarray, predictions: np.ndarray,
                  class_names: Sequence[str]) -> None:
    """Accuracy, the per-class table and the confusion matrix, as text."""
    n = len(class_names)
    matrix = confusion_matrix(labels, predictions, n)
    accuracy = per_class_accuracy(labels, predictions, n)
    correct, total = int(np.trace(matrix)), len(labels)
    width = max(len(name) for name in class_names)
    print(f"test accuracy: {correct}/{total} = {100 * correct / total:.2f}%\n")
    print(f"{'class':<{width + 4}} {'images':>7} {'correct':>8} {'accuracy':>9}")
    for i, name in enumerate(class_names):
        print(f"{i:>2}  {name:<{width}} {matrix[i].sum():>7} {matrix[i, i]:>8} "
              f"{100 * accuracy[i]:>8.2f}%")
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    print(" " * (width + 4) + "".join(f"{j:>6}" for j in range(n)))
    for i, name in enumerate(class_names):
        print(f"{i:>2}  {name:<{width}}" + "".join(f"{count:>6}" for count in matrix[i]))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cachedir.enable_compilation_cache()
    lock = None
    try:
        config, history, state_dict = load_run(args.run_dir)
        recipe = rundir.read_recipe(args.run_dir, config)
        if args.index is not None or args.report:  # writes into the run: one writer at a time
            lock = runlock.claim_existing(args.run_dir)
    except (rundir.RunFileError, runlock.RunDirectoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        return evaluate_run(parser, args, config, history, state_dict, recipe)
    finally:
        if lock is not None:
            lock.release()


def evaluate_run(parser: argparse.ArgumentParser, args: argparse.Namespace, config: dict,
                 history: list[dict], state_dict: Mapping, recipe: Recipe) -> int:
    """Evaluate the loaded run and print (and with --index/--report, write) the results."""
    framework = config.get("framework", "jax")
    data_dir = args.data_dir or config.get("data", {}).get("data_dir")
    try:
        test = load(recipe.dataset, "test", data_dir=data_dir)
    except DataError as err:
        parser.error(str(err))
    if args.index is not None and not 0 <= args.index < len(test):
        parser.error(f"--index {args.index} is out of range: the {recipe.dataset} test set "
                     f"has {len(test)} images (0 to {len(test) - 1})")

    evaluate = torch_outputs if framework == "torch" else jax_outputs
    try:
        outputs = evaluate(recipe.arch, recipe.model_options, state_dict,
                           preprocess(test.images, recipe.normalization))
    except ImportError as err:
        print(f"error: {args.run_dir} was trained with --framework torch; evaluating it needs "
              f"PyTorch, an optional extra: pip install -e '.[torch]' ({err})", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, KeyError) as err:  # weights that do not fit the model
        error = rundir.RunFileError(args.run_dir / rundir.WEIGHTS,
                                    f"does not hold the weights of the run's {recipe.arch} ({err})")
        print(f"error: {error}", file=sys.stderr)
        return 2
    predictions = outputs.argmax(axis=-1)
    print(f"run {args.run_dir}: {recipe.arch} on {recipe.dataset} ({framework}), "
          f"{len(test)} test images")
    trained_on = config.get("data", {}).get("test_examples")
    if trained_on and trained_on != len(test):
        print(f"(the run itself evaluated a subset: its first {trained_on} test images)")
    print()
    print_results(test.labels, predictions, test.class_names)

    if args.index is not None:
        from jaxcnn.training.plots import plot_prediction

        true_name = test.class_names[test.labels[args.index]]
        predicted_name = test.class_names[predictions[args.index]]
        path = plot_prediction(args.run_dir / f"prediction_{args.index}.png",
                               test.images[args.index], true_name, predicted_name,
                               f"test image #{args.index}")
        print(f"\ntest image #{args.index}: predicted {predicted_name}, true {true_name} "
              f"(picture: {path})")
    if args.report:
        report = write_report(args.run_dir, config=config, history=history,
                              test_images=test.images, test_labels=test.labels, outputs=outputs,
                              class_names=test.class_names, state_dict=state_dict,
                              sample_index=args.index or 0)
        print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
