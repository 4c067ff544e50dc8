"""A finished run's report: test-set statistics, the notebooks' pictures and ``report.md``.

Everything here is framework-agnostic: a run is its config, its metrics rows, its weights in
PyTorch's names and layouts (``model.safetensors``) and its eval-mode test outputs. The run's
recipe is read from ``config["recipe"]`` (as ``scripts/train.py`` writes it) or, failing that,
from the config's top level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.data import preprocess
from jaxcnn.net.convert import from_torch
from jaxcnn.net.registry import create_model
from jaxcnn.training import plots, rundir

REPORT = "report.md"
PICTURES = {
    "curves": "curves.png",
    "confusion": "confusion_matrix.png",
    "per_class": "per_class_accuracy.png",
    "misses": "misclassified.png",
    "filters": "conv1_filters.png",
    "maps": "conv1_feature_maps.png",
}
MAX_MISSES_SHOWN = 36
MAX_MISSES_LISTED = 20


def recipe_of(config: Mapping) -> dict:
    """The recipe fields of a run config (``config["recipe"]`` or the config itself)."""
    return dict(config.get("recipe", config))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class.

    Note that notebook 003 prints sklearn's ``confusion_matrix(predicted, y_test)``, its
    transpose.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    for name, values in (("label", labels), ("prediction", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"a {name} is outside 0..{num_classes - 1}")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray,
                       num_classes: int) -> np.ndarray:
    """Fraction of each true class predicted correctly (NaN for a class with no example)."""
    matrix = confusion_matrix(labels, predictions, num_classes)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def load_model(arch: str, model_options: Mapping, state_dict: Mapping):
    """The jaxcnn model of ``arch`` holding ``state_dict``'s weights, in eval mode."""
    model = create_model(arch, **model_options)
    from_torch(model, state_dict)
    model.eval()
    return model


def first_conv_weight(arch: str, model_options: Mapping, state_dict: Mapping) -> np.ndarray:
    """The first conv layer's weight in PyTorch's layout (O, I, kH, kW)."""
    names = nnx.eval_shape(lambda: create_model(arch, **model_options)).torch_names
    return np.asarray(state_dict[names["conv1"] + ".weight"])


def first_conv_maps(arch: str, model_options: Mapping, state_dict: Mapping,
                    image: np.ndarray) -> np.ndarray:
    """The first conv layer's output (bias included, no activation) for one preprocessed
    float32 image (H, W, C), as (C_out, H', W')."""
    model = load_model(arch, model_options, state_dict)
    maps = model.conv1(jnp.asarray(image, jnp.float32)[None])
    return np.asarray(maps[0]).transpose(2, 0, 1)


def load_run(run_dir: Path) -> tuple[dict, list[dict], dict[str, np.ndarray]]:
    """``(config, history, state_dict)`` of a run directory.

    Raises :class:`jaxcnn.training.rundir.RunFileError` naming a missing file (the run may be
    incomplete or still running) or a damaged one, with what to do.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise rundir.RunFileError(run_dir, "is not a directory (no run there)", "")
    for name in (rundir.CONFIG, rundir.METRICS):
        if not (run_dir / name).is_file():
            raise rundir.RunFileError(run_dir / name, "is missing: the run may be incomplete or "
                                      "still running", "")
    return rundir.read_config(run_dir), rundir.read_metrics(run_dir), rundir.read_weights(run_dir)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def _percent(fraction: float) -> str:
    return "n/a" if np.isnan(fraction) else f"{100 * fraction:.2f}%"


def _recipe_section(recipe: Mapping) -> list[str]:
    keys = ("dataset", "normalization", "loss", "optimizer", "lr", "momentum", "batch_size",
            "epochs", "seed", "model_options")
    return ["## Recipe", "", *_table(("field", "value"),
                                     [(k, f"`{recipe[k]}`") for k in keys if k in recipe]), ""]


def _history_section(history: Sequence[Mapping]) -> list[str]:
    rows = [(row["epoch"], f"{row['train_loss']:.4f}", _percent(row["train_accuracy"]),
             f"{row['test_loss']:.4f}", _percent(row["test_accuracy"]),
             f"{row.get('seconds', float('nan')):.1f}",
             f"{row.get('images_per_second', float('nan')):.0f}") for row in history]
    header = ("epoch", "train loss", "train accuracy", "test loss", "test accuracy", "seconds",
              "images/s")
    lines = ["## Training", ""]
    if not rows:
        return [*lines, "No epoch was recorded.", ""]
    return [*lines, *_table(header, rows), "", f"![Loss and accuracy]({PICTURES['curves']})", ""]


def _results_section(matrix: np.ndarray, accuracy: np.ndarray,
                     class_names: Sequence[str]) -> list[str]:
    correct, total = int(np.trace(matrix)), int(matrix.sum())
    per_class = [(name, int(matrix[i].sum()), int(matrix[i, i]), _percent(accuracy[i]))
                 for i, name in enumerate(class_names)]
    confusion = [(f"**{class_names[i]}**", *row) for i, row in enumerate(matrix.tolist())]
    return ["## Test set", "",
            f"**Final test accuracy: {correct}/{total} = {100 * correct / max(total, 1):.2f}%** "
            "(eval mode, from the model's outputs on the test set)", "",
            "### Per-class accuracy", "", *_table(("class", "images", "correct", "accuracy"),
                                                   per_class),
            "", f"![Per-class accuracy]({PICTURES['per_class']})", "",
            "### Confusion matrix", "", "Rows: true class; columns: predicted class.", "",
            *_table(("true \\ predicted", *class_names), confusion), "",
            f"![Confusion matrix]({PICTURES['confusion']})", ""]


def _misses_section(misses: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                    class_names: Sequence[str]) -> list[str]:
    count = f"{len(misses)} of {len(labels)} test images are misclassified"
    if not len(misses):
        return ["## Misclassified test images", "", count + ".", ""]
    rows = [(int(i), class_names[labels[i]], class_names[predictions[i]])
            for i in misses[:MAX_MISSES_LISTED]]
    return ["## Misclassified test images", "", f"{count}; the first {len(rows)}:", "",
            *_table(("index", "true", "predicted"), rows), "",
            f"![Misclassified test images]({PICTURES['misses']})", ""]


def _conv_section(weight: np.ndarray, sample_index: int, label: str) -> list[str]:
    return ["## Model inspection: the first conv layer", "",
            f"{weight.shape[0]} filters of {weight.shape[1]}×{weight.shape[2]}×{weight.shape[3]}:",
            "", f"![First conv filters]({PICTURES['filters']})", "",
            f"Its feature maps (bias included, before the activation) for test image "
            f"#{sample_index} ({label}):", "",
            f"![First conv feature maps]({PICTURES['maps']})", ""]


def write_report(run_dir: Path, *, config: dict, history: list[dict], test_images: np.ndarray,
                 test_labels: np.ndarray, outputs: np.ndarray, class_names: Sequence[str],
                 state_dict: Mapping[str, np.ndarray], sample_index: int = 0) -> Path:
    """Write the run's PNGs and ``report.md`` into ``run_dir``; return the report's path.

    ``test_images``: uint8 NHWC; ``outputs``: (N, num_classes) eval-mode model outputs;
    ``state_dict``: final weights in PyTorch's names and layouts; ``sample_index``: the test
    image whose first-conv feature maps are drawn.
    """
    run_dir = Path(run_dir)
    recipe = recipe_of(config)
    labels = np.asarray(test_labels)
    predictions = np.asarray(outputs).argmax(axis=-1)
    matrix = confusion_matrix(labels, predictions, len(class_names))
    accuracy = per_class_accuracy(labels, predictions, len(class_names))
    misses = np.flatnonzero(predictions != labels)
    weight = first_conv_weight(recipe["arch"], recipe.get("model_options", {}), state_dict)
    image = preprocess(test_images[sample_index:sample_index + 1], recipe["normalization"])[0]
    maps = first_conv_maps(recipe["arch"], recipe.get("model_options", {}), state_dict, image)
    sample_label = class_names[labels[sample_index]]

    if history:
        plots.plot_curves(run_dir / PICTURES["curves"], *(
            [row[key] for row in history] for key in
            ("epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy")))
    plots.plot_confusion_matrix(run_dir / PICTURES["confusion"], matrix, class_names)
    plots.plot_per_class_accuracy(run_dir / PICTURES["per_class"], accuracy, class_names)
    if len(misses):
        plots.plot_misclassified(run_dir / PICTURES["misses"], test_images,
                                 misses[:MAX_MISSES_SHOWN], labels, predictions, class_names)
    plots.plot_filters(run_dir / PICTURES["filters"], weight)
    plots.plot_feature_maps(run_dir / PICTURES["maps"], test_images[sample_index], maps,
                            f"First conv feature maps of test image #{sample_index} "
                            f"({sample_label})")

    framework = config.get("framework", "unknown framework")
    lines = [f"# {recipe['arch']} on {recipe['dataset']} ({framework})", ""]
    if recipe.get("notes"):
        lines += [f"> **Note:** {recipe['notes']}", ""]
    lines += _recipe_section(recipe) + _history_section(history)
    lines += _results_section(matrix, accuracy, class_names)
    lines += _misses_section(misses, labels, predictions, class_names)
    lines += _conv_section(weight, sample_index, sample_label)
    path = run_dir / REPORT
    path.write_text("\n".join(lines))
    return path
