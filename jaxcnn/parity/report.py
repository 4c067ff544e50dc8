"""Write parity runs as JSON, a Markdown table and a plot of both frameworks' accuracy curves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jaxcnn.parity.epochs import ParityRun
from jaxcnn.runtime.figures import pyplot

_COLUMNS = ("run", "epoch", "JAX loss", "torch loss", "JAX acc %", "torch acc %", "Δacc pp",
            "agree %", "max abs Δparam")


def markdown_table(runs: Sequence[ParityRun]) -> str:
    """One row per run and epoch."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for run in runs:
        for r in run.epochs:
            cells = (run.label, r.epoch, f"{r.jax_train_loss:.4f}", f"{r.torch_train_loss:.4f}",
                     f"{r.jax_test_accuracy:.2f}", f"{r.torch_test_accuracy:.2f}",
                     f"{r.accuracy_diff_pp:+.2f}", f"{r.agreement:.2f}", f"{r.max_param_diff:.2e}")
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [f"* {run.label}: {run.note}" for run in runs if run.note]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def plot_accuracy(runs: Sequence[ParityRun], path: Path) -> None:
    """Test accuracy per epoch (0: untrained), JAX solid and PyTorch dashed, on one chart."""
    import matplotlib.ticker

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, run in enumerate(runs):
        epochs = [0] + [r.epoch for r in run.epochs]
        jax_acc, torch_acc = run.initial_test_accuracy
        color = f"C{i % 10}"
        ax.plot(epochs, [jax_acc] + [r.jax_test_accuracy for r in run.epochs], "-o",
                color=color, label=f"{run.label} JAX")
        ax.plot(epochs, [torch_acc] + [r.torch_test_accuracy for r in run.epochs], "--x",
                color=color, label=f"{run.label} PyTorch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy, JAX (solid) vs PyTorch (dashed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(runs: Sequence[ParityRun], out: Path) -> dict[str, Path]:
    """Write ``parity.json``, ``parity.md`` and ``parity.png`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "parity.json", "markdown": out / "parity.md",
             "plot": out / "parity.png"}
    paths["json"].write_text(json.dumps([run.to_dict() for run in runs], indent=2) + "\n")
    paths["markdown"].write_text(markdown_table(runs))
    plot_accuracy(runs, paths["plot"])
    return paths
