"""The PyTorch training engine: the same recipe semantics as :mod:`jaxcnn.training.engine`, in
torch.

Data is preloaded as tensors (``jaxcnn.data.preprocess``'d, NCHW contiguous); a batch is read by
index. ``torch.manual_seed(recipe.seed)`` seeds both the initial weights
(:func:`torch_ref.create_model`) and the global RNG that dropout draws from. Losses and
optimisers are the calls :mod:`jaxcnn.training.losses` and :mod:`jaxcnn.training.optim` mirror.
Metrics match the JAX engine: train loss is the mean per-example loss over the epoch and train
accuracy is counted from the train-mode outputs of each step; test metrics are in eval mode.

Checkpoints go through :mod:`jaxcnn.training.checkpoints` (orbax) like JAX runs, so a run directory
has one format whatever the framework: the model's ``state_dict``, the optimiser's per-parameter
state and the global torch RNG state are converted to numpy arrays (all plain tensors, so the
conversion is lossless); the optimiser's hyper-parameters come back from the recipe.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from jaxcnn.training.protocol import (
    EVAL_BATCH,
    EpochMetrics,
    Evaluation,
    NestedArrays,
    Split,
    TrainingDiverged,
    mark_first_step,
)
from jaxcnn.training.recipes import Recipe
from torch_ref.registry import create_model


def _log_nll(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(torch.log(output.clamp_min(torch.finfo(output.dtype).tiny)), labels)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "nll": F.nll_loss,
    "cross_entropy": F.cross_entropy,
    "log_nll": _log_nll,
}


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    """``torch.optim.SGD(lr, momentum)`` or ``torch.optim.Adam(lr)``, as the recipe names."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; choose sgd or adam")


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


class TorchTrainer:
    """A recipe trained in PyTorch on preloaded tensors, with the JAX trainer's interface.

    ``device`` holds the model and the data (default the CPU; ``"cuda"`` for a GPU, where dropout
    draws from the CUDA generator, which :meth:`checkpoint_state` does not save)."""

    framework = "torch"

    def __init__(self, recipe: Recipe, train: Split, test: Split, *,
                 device: str | torch.device = "cpu"):
        torch.manual_seed(recipe.seed)
        self.device = torch.device(device)
        self.model = create_model(recipe.arch, seed=recipe.seed,
                                  **recipe.model_options).to(self.device)
        self.optimizer = make_optimizer(recipe, self.model.parameters())
        self.loss_fn = LOSSES[recipe.loss]
        self.train_x, self.train_y = (_nchw(train[0]).to(self.device),
                                      torch.from_numpy(np.array(train[1])).to(self.device))
        self.test_x, self.test_y = (_nchw(test[0]).to(self.device),
                                    torch.from_numpy(np.array(test[1])).to(self.device))
        self._step = 0

    @property
    def global_step(self) -> int:
        return self._step

    def train_epoch(self, batches: list[np.ndarray], *, epoch: int,
                    progress: bool) -> EpochMetrics:
        """One pass over ``batches``; raises :class:`TrainingDiverged` on a non-finite loss."""
        self.model.train()
        loss_sum, correct, count = 0.0, 0, 0
        for idx in tqdm(batches, desc=f"epoch {epoch}", unit="step", disable=not progress,
                        leave=False):
            index = torch.from_numpy(idx).to(self.device)
            images, labels = self.train_x[index], self.train_y[index]
            self.optimizer.zero_grad(set_to_none=True)
            mark_first_step()  # the first step's dispatch (start-up ends here)
            output = self.model(images)
            loss = self.loss_fn(output, labels)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became NaN or infinite at epoch {epoch}, global step "
                    f"{self._step}; lower the learning rate (--lr) or check the data")
            loss.backward()
            self.optimizer.step()
            self._step += 1
            loss_sum += loss.item() * len(idx)
            correct += int((output.argmax(1) == labels).sum())
            count += len(idx)
        return EpochMetrics(loss_sum / count, correct / count, count)

    @torch.no_grad()
    def evaluate(self, batch_size: int = EVAL_BATCH) -> Evaluation:
        self.model.eval()
        outputs = torch.cat([self.model(self.test_x[i:i + batch_size])
                             for i in range(0, len(self.test_x), batch_size)])
        accuracy = (outputs.argmax(1) == self.test_y).double().mean()
        return Evaluation(float(self.loss_fn(outputs, self.test_y)), float(accuracy),
                          outputs.cpu().numpy())

    def checkpoint_state(self) -> NestedArrays:
        """Model ``state_dict``, optimiser per-parameter state, torch RNG state, step."""
        optimizer_state = {
            str(index): {name: _numpy(value) for name, value in slots.items()
                         if value is not None}
            for index, slots in self.optimizer.state_dict()["state"].items()
        }
        return {"model": self.state_dict(), "optimizer": optimizer_state,
                "torch_rng": torch.get_rng_state().numpy(),
                "global_step": np.asarray(self._step, np.int64)}

    def load_checkpoint_state(self, state: NestedArrays) -> None:
        """Restore what :meth:`checkpoint_state` exported, exactly."""
        self.model.load_state_dict({k: torch.from_numpy(np.array(v))
                                    for k, v in state["model"].items()}, strict=True)
        saved = self.optimizer.state_dict()
        saved["state"] = {int(index): {name: torch.from_numpy(np.array(value))
                                       for name, value in slots.items()}
                          for index, slots in state.get("optimizer", {}).items()}
        self.optimizer.load_state_dict(saved)
        torch.set_rng_state(torch.from_numpy(np.array(state["torch_rng"], np.uint8)))
        self._step = int(state["global_step"])

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: _numpy(value) for name, value in self.model.state_dict().items()}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.array(tensor.detach().cpu().numpy(), order="C")
