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
  Evaluation follows it: without a mesh, up to ``steps_per_call`` full evaluation batches run
  in one dispatch (``jax.lax.map``), the last partial batch on its own.
* A non-finite loss is recorded on the device with its global step; ``train_epoch`` checks the
  flag every ``check_every`` steps and raises :class:`TrainingDiverged` naming epoch and step.
* With a ``mesh`` (:func:`make_mesh`) the same steps train data-parallel: the state and the data
  set are replicated on every device, each step's batch indices are split over the mesh's
  ``"data"`` axis, and XLA all-reduces the gradients. A last partial batch that the devices do
  not divide runs replicated (every device computes the whole batch), so the weights are those
  of one device, to float rounding.
* With a mesh, the host waits for the results every :data:`MAX_IN_FLIGHT` calls (training steps
  and evaluation batches alike): unbounded asynchronous dispatch deadlocks XLA:CPU's
  multi-device execution. Its PjRt client dispatches and runs each device's share of a program
  on a pool of max(cores, devices) threads and lets dispatch run 32 programs ahead per device;
  a dispatch that finds that limit reached blocks its pool thread until the device's earlier
  programs finish. With as many threads as devices, the blocked dispatches and the programs
  waiting in the gradient all-reduce for another device's share take every thread, and that
  share never runs ("Expected 2 threads to join the rendezvous, but only 1 of them arrived").
  The wait costs one dispatch bubble every few steps.
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
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from jaxcnn import conv
from jaxcnn.training.protocol import EpochMetrics, TrainingDiverged, mark_first_step

DATA_AXIS = "data"
# Calls dispatched ahead of the results with several devices: well below XLA:CPU's 32 in-flight
# programs per device (see the module docstring).
MAX_IN_FLIGHT = 8


class TrainState(NamedTuple):
    """Everything that changes during training, as one pytree."""

    params: nnx.State
    rest: nnx.State  # batch statistics and RNG stream counters
    opt_state: optax.OptState
    step: jax.Array  # global step count


def _zero_metrics(shape: tuple[int, ...] = ()) -> dict[str, jax.Array]:
    return {"loss_sum": jnp.zeros(shape, jnp.float32), "correct": jnp.zeros(shape, jnp.int32),
            "count": jnp.zeros(shape, jnp.int32), "bad_step": jnp.full(shape, -1, jnp.int32)}


def make_mesh(devices: int) -> Mesh:
    """A one-axis (``"data"``) mesh over the first ``devices`` JAX devices (of all processes)."""
    available = jax.device_count()
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"--devices must be a positive integer, got {devices!r}")
    if devices > available:
        raise ValueError(
            f"--devices {devices}: only {available} {jax.default_backend()} device(s) visible; "
            "on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before starting")
    return Mesh(np.asarray(jax.devices()[:devices]), (DATA_AXIS,))


def batch_divides(batch_size: int, devices: int) -> bool:
    """Whether data-parallel training over ``devices`` devices can split the batch evenly."""
    return batch_size % devices == 0


def check_batch_size(batch_size: int, mesh: Mesh | None) -> None:
    """``ValueError`` naming --batch-size and --devices unless the devices divide the batch."""
    devices = 1 if mesh is None else mesh.size
    if not batch_divides(batch_size, devices):
        raise ValueError(f"--batch-size {batch_size} is not divisible by --devices {devices}; "
                         "data-parallel training splits each batch evenly over the devices")


class Engine:
    """Compiled train and eval steps for one model, optimiser and loss."""

    examples_axis = 0  # the axis of :meth:`predict`'s outputs that runs over the examples

    def __init__(self, model: nnx.Module, tx: optax.GradientTransformation,
                 loss_fn: Callable[[jax.Array, jax.Array], jax.Array], *,
                 steps_per_call: int | None = None, mesh: Mesh | None = None):
        model.train()
        self.train_graph, self._template = nnx.split(model)
        model.eval()
        self.eval_graph = nnx.graphdef(model)
        model.train()
        self.tx = tx
        self.loss_fn = loss_fn
        if steps_per_call is None:
            steps_per_call = 1 if jax.default_backend() == "cpu" else 32
        self.steps_per_call = steps_per_call
        self.mesh = mesh
        self._train_call = jax.jit(self._train_chunk, donate_argnums=(0, 1),
                                   static_argnames=("length", "shard"))
        self._eval_call = jax.jit(self._eval_batch)
        self._eval_chunk_call = jax.jit(self._eval_chunk, static_argnames=("length", "batch"))

    # -- placement -----------------------------------------------------------------------------
    def put(self, value, *, shard_last: bool = False):
        """``value`` (an array or a pytree) on the engine's devices: replicated, or with its last
        axis split over the mesh when ``shard_last``; unchanged placement without a mesh."""
        if self.mesh is None:
            return jax.device_put(value)  # jnp.asarray would compile a copy per array shape

        def place(leaf):
            spec = P(*[None] * (np.ndim(leaf) - 1), DATA_AXIS) if shard_last else P()
            sharding = NamedSharding(self.mesh, spec)
            if isinstance(leaf, np.ndarray):  # multi-host safe: each process gives its shards
                return jax.make_array_from_callback(leaf.shape, sharding, lambda i: leaf[i])
            return jax.device_put(leaf, sharding)

        return jax.tree.map(place, value)

    # -- state ---------------------------------------------------------------------------------
    def create_train_state(self, model: nnx.Module) -> TrainState:
        """The optimiser-initialised state of ``model`` (whose graph must match the engine's)."""
        _, params, rest = nnx.split(model, nnx.Param, ...)
        return self.put(TrainState(params, rest, self.tx.init(params), jnp.zeros((), jnp.int32)))

    def to_model(self, state: TrainState, *, train: bool = False) -> nnx.Module:
        """A model holding ``state``'s weights (eval mode unless ``train``)."""
        graph = self.train_graph if train else self.eval_graph
        return nnx.merge(graph, state.params, state.rest)

    def prepare(self, batch: int, image_shape: tuple[int, ...], *, train: bool) -> dict:
        """Have the convolution plan for ``batch`` chosen (:func:`jaxcnn.conv.prepare`) before a
        step of that shape is traced; returns the choice."""
        graph = self.train_graph if train else self.eval_graph
        return conv.prepare(nnx.merge(graph, self._template), batch, tuple(image_shape),
                            train=train)

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

    def _gather(self, images, labels, idx, shard):
        """The batch ``idx`` of the data set; split over the mesh's devices when ``shard``."""
        x, y = images[idx], labels[idx]
        if shard:
            x = jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, P(DATA_AXIS)))
            y = jax.lax.with_sharding_constraint(y, NamedSharding(self.mesh, P(DATA_AXIS)))
        return x, y

    def _batch_step(self, state, metrics, images, labels, idx, shard):
        """One step on the batch ``idx`` (one row of the index matrix)."""
        return self.train_step(state, *self._gather(images, labels, idx, shard), metrics)

    def _train_chunk(self, state, metrics, images, labels, batches, start, *, length, shard):
        """``length`` steps on rows ``start ...`` of the (num_batches, batch) index matrix."""
        if length == 1:
            return self._batch_step(state, metrics, images, labels, batches[start], shard)

        def body(carry, idx):
            return self._batch_step(*carry, images, labels, idx, shard), None

        rows = jax.lax.dynamic_slice_in_dim(batches, start, length)
        (state, metrics), _ = jax.lax.scan(body, (state, metrics), rows)
        return state, metrics

    # -- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, state: TrainState, images: jax.Array, labels: jax.Array,
                    batches: Sequence[np.ndarray], *, epoch: int, check_every: int = 200,
                    progress: bool = True) -> tuple[TrainState, EpochMetrics]:
        """Train over ``batches`` (index arrays into the device-resident ``images``/``labels``)."""
        size = batches[0].shape[-1]
        full = [b for b in batches if b.shape[-1] == size]
        tail = [b for b in batches if b.shape[-1] != size]
        plan = _plan(len(full), self.steps_per_call)
        devices = 1 if self.mesh is None else self.mesh.size
        check_batch_size(size, self.mesh)
        self.prepare(size, images.shape[1:], train=True)
        full_dev = self.put(np.stack(full).astype(np.int32), shard_last=True)
        metrics = self.put(_zero_metrics(batches[0].shape[:-1]))
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}", unit="step", disable=not progress,
                   leave=False)
        done = 0
        for calls, (start, length) in enumerate(plan, 1):
            state, metrics = self._train_call(state, metrics, images, labels, full_dev, start,
                                              length=length, shard=devices > 1)
            mark_first_step()  # compiled and dispatched (start-up ends here)
            self._pace(metrics, calls)
            bar.update(length)
            done += length
            if done // check_every != (done - length) // check_every:
                _raise_if_diverged(metrics, epoch)
        if tail:
            shard = devices > 1 and tail[0].shape[-1] % devices == 0
            tail_dev = self.put(np.stack(tail).astype(np.int32), shard_last=shard)
            state, metrics = self._train_call(state, metrics, images, labels, tail_dev, 0,
                                              length=1, shard=shard)
            bar.update(1)
        bar.close()
        _raise_if_diverged(metrics, epoch)
        return state, self._summarize(metrics)

    def _pace(self, value, calls: int) -> None:
        """With a mesh, wait for ``value`` every :data:`MAX_IN_FLIGHT` calls (module docstring)."""
        if self.mesh is not None and calls % MAX_IN_FLIGHT == 0:
            jax.block_until_ready(value)

    def _summarize(self, metrics: dict[str, jax.Array]) -> EpochMetrics:
        count = int(metrics["count"])
        return EpochMetrics(float(metrics["loss_sum"]) / count, int(metrics["correct"]) / count,
                            count)

    # -- evaluation ----------------------------------------------------------------------------
    def _eval_batch(self, params, rest, images):
        return nnx.merge(self.eval_graph, params, rest)(images)

    def _eval_chunk(self, params, rest, images, start, *, length, batch):
        """The outputs of ``length`` batches of ``batch`` images from batch ``start`` on, in one
        program, with the batches concatenated along :attr:`examples_axis`."""
        rows = jax.lax.dynamic_slice_in_dim(images, start * batch, length * batch)
        rows = rows.reshape(length, batch, *images.shape[1:])
        out = jax.lax.map(lambda x: self._eval_batch(params, rest, x), rows)
        out = jnp.moveaxis(out, 0, self.examples_axis)  # (..., length, batch, ...)
        axis = self.examples_axis
        return out.reshape(*out.shape[:axis], length * batch, *out.shape[axis + 2:])

    def _eval_batches(self, state: TrainState, images: jax.Array,
                      batch_size: int) -> list[jax.Array]:
        """The eval-mode outputs of the batches of ``images`` in order, as device arrays: up to
        ``steps_per_call`` full batches per dispatch (one each with a mesh)."""
        outs = []
        full = images.shape[0] // batch_size
        per_call = 1 if self.mesh is not None else max(1, self.steps_per_call)
        done = 0
        if per_call > 1 and full > 1:
            for start, length in _plan(full, per_call):
                outs.append(self._eval_chunk_call(state.params, state.rest, images, start,
                                                  length=length, batch=batch_size))
            done = full * batch_size
        for i in range(done, images.shape[0], batch_size):
            outs.append(self._eval_call(state.params, state.rest, images[i:i + batch_size]))
            self._pace(outs[-1], len(outs))
        return outs

    def predict(self, state: TrainState, images: jax.Array, batch_size: int = 1000) -> np.ndarray:
        """Model outputs in eval mode (deterministic), as a host array (N, num_classes)."""
        self.prepare(min(batch_size, images.shape[0]), images.shape[1:], train=False)
        return np.asarray(jnp.concatenate(self._eval_batches(state, images, batch_size),
                                          axis=self.examples_axis))

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
    bad = int(np.max(np.asarray(metrics["bad_step"])))  # one per model when models are stacked
    if bad >= 0:
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at epoch {epoch}, global step {bad}; "
            "lower the learning rate (--lr) or check the data"
        )


@functools.cache
def backend_summary() -> str:
    """A one-line description of the JAX devices in use."""
    devices = jax.devices()
    return f"{jax.default_backend()} ({len(devices)} x {devices[0].device_kind})"
