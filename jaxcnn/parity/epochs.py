"""Whole epochs side by side: the project's JAX and PyTorch trainers, same weights, same batches.

Both trainers (:class:`jaxcnn.training.trainer.JaxTrainer`, ``torch_ref.train.TorchTrainer``) are
built from the recipe; the PyTorch initial weights are then loaded into the JAX one. Each epoch
visits ``batch_indices(n, batch_size, seed=recipe.seed, epoch=e)`` in both. After every epoch both
are evaluated on the test set and compared: train loss and test accuracy of each, their difference
in percentage points, the share of test images on which the two predict the same class, and the
largest parameter difference (in PyTorch's layout).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.data import batch_indices
from jaxcnn.net.convert import from_torch
from jaxcnn.parity.pair import max_state_diff
from jaxcnn.training.recipes import Recipe
from jaxcnn.training.trainer import JaxTrainer, Split
from torch_ref.train import TorchTrainer


@dataclass
class EpochRecord:
    """The comparison after one epoch."""

    epoch: int
    jax_train_loss: float
    torch_train_loss: float
    jax_test_accuracy: float  # percent
    torch_test_accuracy: float  # percent
    accuracy_diff_pp: float  # jax minus torch, percentage points
    agreement: float  # percent of test images with the same predicted class
    max_param_diff: float
    jax_seconds: float
    torch_seconds: float


@dataclass
class ParityRun:
    """One side-by-side run: its recipe, what it compares, and a record per epoch."""

    label: str
    recipe: dict
    train_examples: int
    test_examples: int
    float64: bool = False
    note: str = ""
    initial_test_accuracy: tuple[float, float] = (0.0, 0.0)  # percent, (jax, torch), untrained
    epochs: list[EpochRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_trainers(recipe: Recipe, train: Split, test: Split, *,
                  float64: bool = False) -> tuple[JaxTrainer, TorchTrainer]:
    """Both trainers of ``recipe``, the JAX one holding the PyTorch one's initial weights."""
    if float64:
        if not jax.config.jax_enable_x64:
            raise RuntimeError("float64 needs jax.config.update('jax_enable_x64', True)")
        train, test = [(x.astype(np.float64), y) for x, y in (train, test)]
    torch_trainer = TorchTrainer(recipe, train, test)
    jax_trainer = JaxTrainer(recipe, train, test)
    if float64:
        torch_trainer.model.double()  # in place: the optimiser keeps its parameters
    model = jax_trainer.engine.to_model(jax_trainer.state, train=True)
    from_torch(model, torch_trainer.model.state_dict())
    if float64:
        params = nnx.state(model, nnx.Param)
        nnx.update(model, jax.tree.map(lambda p: p.astype(jnp.float64), params))
    jax_trainer.state = jax_trainer.engine.create_train_state(model)
    return jax_trainer, torch_trainer


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return 100 * float(np.mean(outputs.argmax(-1) == labels))


def run_parity(recipe: Recipe, train: Split, test: Split, *, epochs: int, label: str = "",
               float64: bool = False, note: str = "", progress: bool = True) -> ParityRun:
    """Train ``recipe`` for ``epochs`` in both frameworks from the PyTorch init; compare each."""
    jax_trainer, torch_trainer = make_trainers(recipe, train, test, float64=float64)
    labels = np.asarray(test[1])
    run = ParityRun(label or recipe.arch, recipe.to_dict(), len(train[1]), len(labels),
                    float64, note, initial_test_accuracy=(
                        _accuracy(jax_trainer.evaluate().outputs, labels),
                        _accuracy(torch_trainer.evaluate().outputs, labels)))
    for epoch in range(epochs):
        batches = batch_indices(len(train[1]), recipe.batch_size, seed=recipe.seed, epoch=epoch)
        start = time.perf_counter()
        jax_metrics = jax_trainer.train_epoch(batches, epoch=epoch, progress=progress)
        jax_out = jax_trainer.evaluate().outputs
        middle = time.perf_counter()
        torch_metrics = torch_trainer.train_epoch(batches, epoch=epoch, progress=progress)
        torch_out = torch_trainer.evaluate().outputs
        end = time.perf_counter()
        jax_acc, torch_acc = _accuracy(jax_out, labels), _accuracy(torch_out, labels)
        run.epochs.append(EpochRecord(
            epoch=epoch + 1, jax_train_loss=jax_metrics.loss, torch_train_loss=torch_metrics.loss,
            jax_test_accuracy=jax_acc, torch_test_accuracy=torch_acc,
            accuracy_diff_pp=jax_acc - torch_acc,
            agreement=100 * float(np.mean(jax_out.argmax(-1) == torch_out.argmax(-1))),
            max_param_diff=max_state_diff(jax_trainer.state_dict(), torch_trainer.state_dict()),
            jax_seconds=middle - start, torch_seconds=end - middle,
        ))
    return run
