"""The jit-compiled training engine: create the state, train steps and epochs, evaluate.

Design, for speed on small CNNs:

* The model is split once into a static graph and a pytree state (parameters, batch statistics,
  dropout RNG counters); steps are plain ``jax.jit`` functions of that state, with the state and
  the running metrics donated so XLA updates them in place.
* The whole (preprocessed) data set lives on the device. Each epoch uploads one int32 index
  matrix; a step reads its batch by index inside the compiled program, so no batch crosses from
  the host and nothing is read back per step. Metrics accumulate on the device.
* Two shapes are compiled at most (full batches and the last partial batch, which is kept as
  PyTorch's ``DataLoader`` keeps it), both in the first epoch; later epochs reuse them.
* ``steps_per_call`` > 1 runs that many steps per dispatch with ``jax.lax.scan``. On XLA:CPU a
  Python loop of single steps measured faster, so the default is 1 there and 32 elsewhere.
* A non-finite loss is recorded on the device with its global step; ``train_epoch`` checks the
  flag every ``check_every`` steps and raises :class:`TrainingDiverged` naming epoch and step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm


class TrainState(NamedTuple):
    """Everything that changes during training, as one pytree."""

    params: nnx.State
    rest: nnx.State  # batch statistics and RNG stream counters
    opt_state: optax.OptState
    step: jax.Array  # global step count


class EpochMetrics(NamedTuple):
    loss: float  # mean per-example training loss
    accuracy: float  # fraction of training examples classified correctly (in train mode)
    examples: int


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def _zero_metrics() -> dict[str, jax.Array]:
    return {"loss_sum": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.int32),
            "count": jnp.zeros((), jnp.int32), "bad_step": jnp.full((), -1, jnp.int32)}


class Engine:
    """Compiled train and eval steps for one model, optimiser and loss."""

    def __init__(self, model: nnx.Module, tx: optax.GradientTransformation,
                 loss_fn: Callable[[jax.Array, jax.Array], jax.Array], *,
                 steps_per_call: int | None = None):
        model.train()
        self.train_graph = nnx.graphdef(model)
        model.eval()
        self.eval_graph = nnx.graphdef(model)
        model.train()
        self.tx = tx
        self.loss_fn = loss_fn
        if steps_per_call is None:
            steps_per_call = 1 if jax.default_backend() == "cpu" else 32
        self.steps_per_call = steps_per_call
        self._train_call = jax.jit(self._train_chunk, donate_argnums=(0, 1),
                                   static_argnames=("length",))
        self._eval_call = jax.jit(self._eval_batch)

    # -- state ---------------------------------------------------------------------------------
    def create_train_state(self, model: nnx.Module) -> TrainState:
        """The optimiser-initialised state of ``model`` (whose graph must match the engine's)."""
        _, params, rest = nnx.split(model, nnx.Param, ...)
        return TrainState(params, rest, self.tx.init(params), jnp.zeros((), jnp.int32))

    def to_model(self, state: TrainState, *, train: bool = False) -> nnx.Module:
        """A model holding ``state``'s weights (eval mode unless ``train``)."""
        graph = self.train_graph if train else self.eval_graph
        return nnx.merge(graph, state.params, state.rest)

    # -- one step ------------------------------------------------------------------------------
    def train_step(self, state: TrainState, images: jax.Array, labels: jax.Array,
                   metrics: dict[str, jax.Array]) -> tuple[TrainState, dict[str, jax.Array]]:
        """One optimiser step on a batch; pure, to be called inside ``jit``."""

        model = nnx.merge(self.train_graph, state.params, state.rest)

        def loss_of(model):
            output = model(images)
            return self.loss_fn(output, labels).mean(), output

        # nnx.value_and_grad differentiates the Params and carries the model's other state
        # (batch statistics, dropout RNG counters) out of the trace.
        (loss, output), grads = nnx.value_and_grad(loss_of, has_aux=True)(model)
        _, _, rest = nnx.split(model, nnx.Param, ...)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        n = labels.shape[0]
        bad = (metrics["bad_step"] < 0) & ~jnp.isfinite(loss)
        metrics = {
            "loss_sum": metrics["loss_sum"] + loss * n,
            "correct": metrics["correct"] + jnp.sum(jnp.argmax(output, -1) == labels),
            "count": metrics["count"] + n,
            "bad_step": jnp.where(bad, state.step, metrics["bad_step"]),
        }
        return TrainState(params, rest, opt_state, state.step + 1), metrics

    def _train_chunk(self, state, metrics, images, labels, batches, start, *, length):
        """``length`` steps on rows ``start ...`` of the (num_batches, batch) index matrix."""
        if length == 1:
            idx = batches[start]
            return self.train_step(state, images[idx], labels[idx], metrics)

        def body(carry, idx):
            return self.train_step(carry[0], images[idx], labels[idx], carry[1]), None

        rows = jax.lax.dynamic_slice_in_dim(batches, start, length)
        (state, metrics), _ = jax.lax.scan(body, (state, metrics), rows)
        return state, metrics

    # -- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, state: TrainState, images: jax.Array, labels: jax.Array,
                    batches: Sequence[np.ndarray], *, epoch: int, check_every: int = 200,
                    progress: bool = True) -> tuple[TrainState, EpochMetrics]:
        """Train over ``batches`` (index arrays into the device-resident ``images``/``labels``)."""
        full = [b for b in batches if len(b) == len(batches[0])]
        tail = [b for b in batches if len(b) != len(batches[0])]
        plan = _plan(len(full), self.steps_per_call)
        full_dev = jnp.asarray(np.stack(full).astype(np.int32))
        metrics = _zero_metrics()
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}", unit="step", disable=not progress,
                   leave=False)
        done = 0
        for start, length in plan:
            state, metrics = self._train_call(state, metrics, images, labels, full_dev, start,
                                              length=length)
            bar.update(length)
            done += length
            if done // check_every != (done - length) // check_every:
                _raise_if_diverged(metrics, epoch)
        if tail:
            tail_dev = jnp.asarray(np.stack(tail).astype(np.int32))
            state, metrics = self._train_call(state, metrics, images, labels, tail_dev, 0,
                                              length=1)
            bar.update(1)
        bar.close()
        _raise_if_diverged(metrics, epoch)
        count = int(metrics["count"])
        return state, EpochMetrics(float(metrics["loss_sum"]) / count,
                                   int(metrics["correct"]) / count, count)

    # -- evaluation ----------------------------------------------------------------------------
    def _eval_batch(self, params, rest, images):
        return nnx.merge(self.eval_graph, params, rest)(images)

    def predict(self, state: TrainState, images: jax.Array, batch_size: int = 1000) -> np.ndarray:
        """Model outputs in eval mode (deterministic), as a host array (N, num_classes)."""
        outs = [self._eval_call(state.params, state.rest, images[i:i + batch_size])
                for i in range(0, images.shape[0], batch_size)]
        return np.asarray(jnp.concatenate(outs))

    def evaluate(self, state: TrainState, images: jax.Array, labels: jax.Array,
                 batch_size: int = 1000) -> dict[str, float | np.ndarray]:
        """Mean loss, accuracy and the outputs on a labelled set, in eval mode."""
        outputs = self.predict(state, images, batch_size)
        host_labels = np.asarray(labels)
        losses = np.asarray(self.loss_fn(jnp.asarray(outputs), jnp.asarray(host_labels)))
        return {"loss": float(losses.mean()),
                "accuracy": float(np.mean(outputs.argmax(-1) == host_labels)),
                "outputs": outputs}


def _plan(num_steps: int, steps_per_call: int) -> list[tuple[int, int]]:
    """Split ``num_steps`` into (start, length) chunks of at most two distinct lengths."""
    k = max(1, min(steps_per_call, num_steps))
    plan = [(s, k) for s in range(0, num_steps - num_steps % k, k)]
    if num_steps % k:
        plan.append((num_steps - num_steps % k, num_steps % k))
    return plan


def _raise_if_diverged(metrics: dict[str, jax.Array], epoch: int) -> None:
    bad = int(metrics["bad_step"])
    if bad >= 0:
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at epoch {epoch}, global step {bad}; "
            "lower the learning rate (--lr) or check the data. The last good checkpoint is kept."
        )


@functools.cache
def backend_summary() -> str:
    """A one-line description of the JAX devices in use."""
    devices = jax.devices()
    return f"{jax.default_backend()} ({len(devices)} x {devices[0].device_kind})"
