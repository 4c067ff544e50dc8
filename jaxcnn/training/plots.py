"""The notebooks' pictures, one function each: numpy arrays in, a PNG file out.

Figures are drawn with matplotlib's Agg backend (no display needed) and closed once saved.
Images are uint8 NHWC (or HWC) as :mod:`jaxcnn.data` gives them; one-channel images are drawn
dark on light, as notebook 003 draws its digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from jaxcnn.runtime.figures import pyplot

plt = pyplot()


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _show_image(ax, image: np.ndarray) -> None:
    """Draw one HWC image (grey or RGB) without axes."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=255)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(count: int, columns: int, width: float = 1.4,
          height: float = 1.6) -> tuple[Figure, np.ndarray]:
    """A figure with ``count`` axes in rows of ``columns`` (each cell ``width`` × ``height``
    inches, titles included); the unused axes are hidden."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.4),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    return fig, axes.ravel()


def plot_curves(path: Path, epochs: Sequence[int], train_loss: Sequence[float],
                test_loss: Sequence[float], train_accuracy: Sequence[float],
                test_accuracy: Sequence[float], title: str = "") -> Path:
    """Loss and accuracy (fractions, drawn as %) per epoch, train and test, in two panels."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, train, test, name in ((loss_ax, train_loss, test_loss, "loss"),
                                  (acc_ax, 100 * np.asarray(train_accuracy),
                                   100 * np.asarray(test_accuracy), "accuracy (%)")):
        ax.plot(epochs, train, "o-", label="training")
        ax.plot(epochs, test, "s-", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(f"{name.split()[0].capitalize()} at the end of each epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(path: Path, matrix: np.ndarray, class_names: Sequence[str]) -> Path:
    """Counts with true classes as rows and predicted classes as columns, each cell annotated."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.65 * n, 0.6 + 0.6 * n))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                color="white" if count > threshold else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (test set)")
    return _save(fig, path)


def plot_per_class_accuracy(path: Path, accuracy: np.ndarray,
                            class_names: Sequence[str]) -> Path:
    """Bar chart of each class's accuracy (fractions, drawn as %; NaN for an absent class)."""
    percent = 100 * np.nan_to_num(np.asarray(accuracy, dtype=float))
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(class_names), 4))
    bars = ax.bar(range(len(class_names)), percent, color="tab:blue")
    ax.bar_label(bars, labels=[f"{p:.1f}" for p in percent], fontsize=8)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_ylim(0, 110)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Per-class accuracy (test set)")
    return _save(fig, path)


def plot_misclassified(path: Path, images: np.ndarray, indices: Sequence[int],
                       labels: Sequence[int], predictions: Sequence[int],
                       class_names: Sequence[str], columns: int = 6) -> Path:
    """A grid of the images at ``indices``, each titled with its index, true and predicted class."""
    fig, axes = _grid(len(indices), columns, width=1.6, height=2.1)
    for ax, index in zip(axes, indices, strict=False):
        _show_image(ax, images[index])
        ax.set_title(f"#{index}\ntrue {class_names[labels[index]]}\n"
                     f"pred {class_names[predictions[index]]}", fontsize=7)
    fig.suptitle("Misclassified test images")
    return _save(fig, path)


def plot_filters(path: Path, weight: np.ndarray, columns: int = 8) -> Path:
    """Every filter of a conv weight (O, I, kH, kW), one small image each (notebook 004).

    One- and three-channel filters are drawn as they are (three as RGB, each filter scaled to
    [0, 1]); other filters as their mean over the input channels.
    """
    fig, axes = _grid(weight.shape[0], columns)
    for number, (ax, kernel) in enumerate(zip(axes, weight, strict=False)):
        if kernel.shape[0] == 3:
            low, high = kernel.min(), kernel.max()
            ax.imshow(((kernel - low) / max(high - low, 1e-12)).transpose(1, 2, 0))
        else:
            ax.imshow(kernel.mean(axis=0), cmap="viridis")
        ax.set_title(f"filter {number}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"First conv layer: {weight.shape[0]} filters of "
                 f"{weight.shape[1]}×{weight.shape[2]}×{weight.shape[3]}")
    return _save(fig, path)


def plot_feature_maps(path: Path, image: np.ndarray, maps: np.ndarray, title: str = "",
                      columns: int = 8) -> Path:
    """The input image (HWC uint8) then each of its first-conv feature maps (C, H, W)."""
    fig, axes = _grid(len(maps) + 1, columns)
    _show_image(axes[0], image)
    axes[0].set_title("input", fontsize=7)
    for number, (ax, feature) in enumerate(zip(axes[1:], maps, strict=False)):
        ax.imshow(feature, cmap="viridis")
        ax.set_title(f"map {number}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or "First conv layer's feature maps")
    return _save(fig, path)


def plot_prediction(path: Path, image: np.ndarray, true_name: str, predicted_name: str,
                    title: str = "") -> Path:
    """One image (HWC uint8) with its true and predicted class (notebook 003's last cell)."""
    fig, ax = plt.subplots(figsize=(3, 3.4))
    _show_image(ax, image)
    verdict = "correct" if true_name == predicted_name else "wrong"
    ax.set_title(f"{title}\ntrue: {true_name}\npredicted: {predicted_name} ({verdict})".strip(),
                 fontsize=9)
    return _save(fig, path)
