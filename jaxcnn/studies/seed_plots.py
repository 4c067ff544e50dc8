"""The seed study's plots: one PNG per variant, every seed's curves with the notebook's figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxcnn.runtime.figures import pyplot
from jaxcnn.studies import notebook_figures as notebooks
from jaxcnn.studies.seed_analysis import CURVES, NAMES, ORDER, is_full_recipe, metric_curve


# -- plots ---------------------------------------------------------------------------------------
def plot_name(variant: str) -> str:
    return f"seeds-{variant.replace('+', '-')}.png"


def plot_variant(variant: str, frameworks: dict[str, list[dict]], path: Path) -> Path:
    """Per-seed curves (thin) and medians (thick) of test accuracy, test loss and train
    accuracy by framework, with the notebook's printed figures (black), and the final test
    accuracies seed by seed."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()

    colors = {"torch": "tab:orange", "jax": "tab:blue"}
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    titles = {"test_accuracy": "test accuracy %", "test_loss": "test loss",
              "train_accuracy": "train accuracy % (train mode)"}
    epochs = len(next(iter(frameworks.values()))[0]["epochs"])
    for ax, metric in zip(axes[:3], CURVES, strict=True):
        scale = 1 if metric == "test_loss" else 100
        for framework in (f for f in ORDER if f in frameworks):
            curve = scale * metric_curve(frameworks[framework], metric)
            x = np.arange(1, epochs + 1)
            ax.plot(x, curve.T, color=colors[framework], alpha=0.3, lw=0.8, marker=".", ms=3)
            ax.plot(x, np.median(curve, axis=0), color=colors[framework], lw=2.4, marker="o",
                    ms=4, label=f"{NAMES[framework]} ({len(curve)} seeds; median thick)")
        _overlay(ax, [f for f in notebooks.figures_for(variant, metric) if f.epoch <= epochs],
                 scale)
        ax.set_title(titles[metric])
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, epochs + 0.5)
        if epochs <= 12:
            ax.set_xticks(range(1, epochs + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, _ = axes[0].get_legend_handles_labels()
    axes[0].legend(handles=handles, fontsize=8)
    ax = axes[3]
    for i, framework in enumerate(f for f in ORDER if f in frameworks):
        final = 100 * metric_curve(frameworks[framework], "test_accuracy")[:, -1]
        jitter = np.linspace(-0.18, 0.18, len(final)) if len(final) > 1 else np.zeros(1)
        ax.scatter(i + jitter, np.sort(final), s=16, color=colors[framework], alpha=0.8)
        ax.hlines(np.median(final), i - 0.3, i + 0.3, color=colors[framework], lw=2)
    head = notebooks.headline(variant)
    if head and head.epoch == epochs:
        ax.axhspan(100 * head.low, 100 * head.high, color="black", alpha=0.15, lw=0)
        ax.axhline(100 * head.value, color="black", ls="--", lw=1,
                   label=f"notebook {head.notebook}: {head.printed}")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(frameworks)), [NAMES[f] for f in ORDER if f in frameworks])
    ax.set_xlim(-0.6, len(frameworks) - 0.4)
    ax.set_title(f"final test accuracy % (epoch {epochs})")
    ax.grid(axis="y", alpha=0.3)
    first = next(iter(frameworks.values()))[0]
    short = ("" if is_full_recipe(variant, first["settings"]) else
             f" (shortened: {epochs} epoch(s) on {first['train_examples']:,} training images)")
    fig.suptitle(f"{variant}: per-seed training curves, notebook figures in black{short}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _overlay(ax, figures: list[notebooks.NotebookFigure], scale: float) -> None:
    """The notebook's figures as black points, with the interval of values that print alike."""
    if not figures:
        return
    x = [f.epoch for f in figures]
    y = [scale * f.value for f in figures]
    err = [[scale * (f.value - f.low) for f in figures], [scale * (f.high - f.value)
                                                          for f in figures]]
    handle = ax.errorbar(x, y, yerr=err, fmt="o", color="black", ms=4, capsize=3, zorder=5,
                         label=f"notebook {figures[0].notebook}")
    ax.legend(handles=[handle], fontsize=8)


# -- writing -------------------------------------------------------------------------------------
