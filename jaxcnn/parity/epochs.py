"""Whole epochs side by side: the same initial weights and batch order in JAX and PyTorch.

After every epoch, both models are evaluated on the test set and compared: train loss and test
accuracy of each, their difference in percentage points, the share of test images on which the
two predict the same class, and the largest parameter difference (in PyTorch's layout).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
import torch
from tqdm.auto import tqdm

from jaxcnn.data import batch_indices
from jaxcnn.engine import Engine
from jaxcnn.losses import get_loss
from jaxcnn.optim import make_optimizer
from jaxcnn.parity.pair import make_pair, max_param_diff
from jaxcnn.parity.torch_side import (
    to_labels,
    to_nchw,
    torch_dtype,
    torch_loss,
    torch_optimizer,
    torch_predict,
    torch_step,
)
from jaxcnn.recipes import Recipe

Split = tuple[np.ndarray, np.ndarray]  # preprocessed NHWC images, int labels


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
    epochs: list[EpochRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class _TorchSide:
    """The PyTorch model, its optimiser and the data as tensors."""

    def __init__(self, model, recipe: Recipe, train: Split, test: Split, float64: bool):
        self.model = model
        self.optimizer = torch_optimizer(recipe.optimizer, model.parameters(), recipe.lr,
                                         recipe.momentum)
        self.loss_fn = torch_loss(recipe.loss)
        dtype = torch_dtype(float64)
        self.train_x, self.train_y = to_nchw(train[0], dtype), to_labels(train[1])
        self.test_x = to_nchw(test[0], dtype)

    def epoch(self, batches: list[np.ndarray], desc: str, progress: bool) -> float:
        total, count = 0.0, 0
        for idx in tqdm(batches, desc=desc, unit="step", disable=not progress, leave=False):
            index = torch.from_numpy(idx)
            loss = torch_step(self.model, self.optimizer, self.loss_fn, self.train_x[index],
                              self.train_y[index])
            total += loss * len(idx)
            count += len(idx)
        return total / count


def run_parity(recipe: Recipe, train: Split, test: Split, *, epochs: int, label: str = "",
               float64: bool = False, note: str = "", progress: bool = True) -> ParityRun:
    """Train ``recipe`` for ``epochs`` in both frameworks from the PyTorch init; compare each."""
    pair = make_pair(recipe.arch, seed=recipe.seed, options=recipe.model_options, float64=float64)
    dtype = np.float64 if float64 else np.float32
    engine = Engine(pair.jax_model, make_optimizer(recipe.optimizer, recipe.lr, recipe.momentum),
                    get_loss(recipe.loss))
    state = engine.create_train_state(pair.jax_model)
    train_x, train_y = jnp.asarray(train[0].astype(dtype)), jnp.asarray(train[1])
    test_x, test_y = jnp.asarray(test[0].astype(dtype)), jnp.asarray(test[1])
    torch_side = _TorchSide(pair.torch_model, recipe, train, test, float64)
    run = ParityRun(label or recipe.arch, recipe.to_dict(), len(train[1]), len(test[1]),
                    float64, note)
    for epoch in range(epochs):
        batches = batch_indices(len(train[1]), recipe.batch_size, seed=recipe.seed, epoch=epoch)
        start = time.perf_counter()
        state, metrics = engine.train_epoch(state, train_x, train_y, batches, epoch=epoch,
                                            progress=progress)
        jax_out = engine.evaluate(state, test_x, test_y)["outputs"]
        middle = time.perf_counter()
        torch_loss_value = torch_side.epoch(batches, f"torch epoch {epoch}", progress)
        torch_out = torch_predict(torch_side.model, torch_side.test_x)
        end = time.perf_counter()
        jax_pred, torch_pred = jax_out.argmax(-1), torch_out.argmax(-1)
        jax_acc = 100 * float(np.mean(jax_pred == test[1]))
        torch_acc = 100 * float(np.mean(torch_pred == test[1]))
        run.epochs.append(EpochRecord(
            epoch=epoch + 1, jax_train_loss=metrics.loss, torch_train_loss=torch_loss_value,
            jax_test_accuracy=jax_acc, torch_test_accuracy=torch_acc,
            accuracy_diff_pp=jax_acc - torch_acc,
            agreement=100 * float(np.mean(jax_pred == torch_pred)),
            max_param_diff=max_param_diff(engine.to_model(state), torch_side.model),
            jax_seconds=middle - start, torch_seconds=end - middle,
        ))
    return run
