"""Which convolution plan a model runs: chosen by measurement on the backend in use.

* ``$JAXCNN_CONV`` or :func:`set_override` (``--conv`` in the scripts) names a plan of
  :data:`jaxcnn.conv.plans.PLANS`, or ``auto`` (the default).
* ``auto`` on a GPU or TPU: XLA's convolution (cuDNN and its peers are right there).
* ``auto`` on a CPU with several processes (:mod:`jaxcnn.runtime.distributed`): process 0 chooses as
  below and every other process runs its choice.
* ``auto`` on a CPU: :func:`prepare` takes the choice from the JSON cache on disk
  (:func:`cache_path`), else from the table shipped with jaxcnn for this kind of machine
  (:mod:`jaxcnn.conv.table`), else times each of :data:`CPU_CANDIDATES` on the model's own
  forward and backward pass at the batch size it will run (the whole model, not one layer: XLA
  fuses across layers) and keeps the fastest, in memory and in the cache, so later processes on
  the same machine skip the timing. A batch size that was not prepared takes the choice of the
  nearest prepared one, else the cached or tabled one, else :data:`CPU_FALLBACK`.

:func:`choices` lists what was chosen and why, for the run's ``config.json``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.conv import table
from jaxcnn.conv.plans import PLANS, REFERENCE, Plan, scoped, to_layout, using
from jaxcnn.runtime import cachedir
from jaxcnn.runtime.cachedir import cache_root

ENV_VAR = "JAXCNN_CONV"
CACHE_ENV_VAR = cachedir.ENV_VAR
AUTO = "auto"
CPU_CANDIDATES: tuple[str, ...] = ("xla", "xla-chwn", "gemm")
CPU_FALLBACK = "gemm"

_override: str | None = None
_chosen: dict[tuple[str, int], dict] = {}
_forced: contextvars.ContextVar[Plan | None] = contextvars.ContextVar("jaxcnn_forced_plan",
                                                                     default=None)


def check_name(name: str, source: str = ENV_VAR) -> str:
    """``name`` if it is ``auto`` or a plan's name, else a ``ValueError`` naming ``source``."""
    if name != AUTO and name not in PLANS:
        raise ValueError(f"{source}={name!r}: choose one of {AUTO}, {', '.join(PLANS)}")
    return name


def set_override(name: str | None) -> None:
    """Run every model with plan ``name`` (``auto`` or None: choose by measurement)."""
    global _override
    _override = None if name in (None, AUTO) else check_name(name, "--conv")


def requested() -> str:
    """The plan asked for: :func:`set_override`'s, else ``$JAXCNN_CONV``'s, else ``auto``."""
    if _override is not None:
        return _override
    return check_name(os.environ.get(ENV_VAR) or AUTO)


def model_key(model: nnx.Module) -> str:
    """What the choice depends on in a model: its class and its convolution and pooling shapes."""
    convs = [tuple(layer.kernel.shape) for _, layer in nnx.iter_graph(model)
             if isinstance(layer, nnx.Conv)]
    pool = getattr(getattr(model, "pool", None), "kind", "none")
    flat = getattr(model, "flat_shape", None)
    return f"{type(model).__name__} convs={convs} pool={pool} flat={flat}"


def forcing(plan: Plan) -> contextlib.AbstractContextManager[Plan]:
    """Trace models with ``plan`` inside the block, whatever was chosen (for timing and tests)."""
    return scoped(_forced, plan)


def plan_for(model: nnx.Module, batch: int) -> Plan:
    """The plan ``model`` runs at batch size ``batch`` (see the module docstring)."""
    forced = _forced.get()
    if forced is not None:
        return forced
    name = requested()
    if name != AUTO:
        return PLANS[name]
    if jax.default_backend() != "cpu":
        return REFERENCE
    key = model_key(model)
    sizes = [size for (k, size) in _chosen if k == key]
    if sizes:
        nearest = min(sizes, key=lambda size: (abs(size - batch), size))
        return PLANS[_chosen[(key, nearest)]["plan"]]
    known = _read_cache().get(_cache_key(key, batch)) or _from_table(key, batch, True, quiet=True)
    return PLANS[known["plan"]] if known and known.get("plan") in PLANS else PLANS[CPU_FALLBACK]


def planned(call: Callable) -> Callable:
    """Wrap a model's ``__call__(self, x)`` (``x`` NHWC) so that it runs under the plan chosen
    for this model and batch size: the input enters the plan's layout and the plan is active for
    the layers until the call returns."""

    @functools.wraps(call)
    def wrapper(self, x: jax.Array) -> jax.Array:
        plan = plan_for(self, x.shape[0])
        with using(plan):
            return call(self, to_layout(x, plan.layout))

    return wrapper


def prepare(model: nnx.Module, batch: int, image_shape: tuple[int, ...], *,
            train: bool = True) -> dict:
    """Choose ``model``'s plan at batch size ``batch`` now (timing it on CPU if the choice is
    neither overridden, known in this process, cached nor in the shipped table); return the
    choice's record."""
    key = model_key(model)
    name = requested()
    if name != AUTO:
        record = {"plan": name, "source": f"override ({ENV_VAR} or --conv)"}
    elif jax.default_backend() != "cpu":
        record = {"plan": REFERENCE.name, "source": f"{jax.default_backend()} default"}
    elif (key, batch) in _chosen:
        return _chosen[(key, batch)]
    elif jax.process_index() > 0:  # several processes: all run process 0's choice
        record = {"plan": _plan_of_process_zero(None), "source": "process 0's choice"}
    else:
        cache = _read_cache()
        record = cache.get(_cache_key(key, batch))
        if record is not None and record.get("plan") in PLANS:
            record = {**record, "source": f"cache {cache_path()}"}
        elif (shipped := _from_table(key, batch, train)) is not None:
            record = shipped
        else:
            start = time.perf_counter()
            seconds = time_plans(model, batch, image_shape, CPU_CANDIDATES, train=train)
            record = {"plan": min(seconds, key=seconds.get), "source": "measured",
                      "seconds_per_call": seconds, "train": train,
                      "timing_s": time.perf_counter() - start}
            _write_cache(_cache_key(key, batch), record)
        _plan_of_process_zero(record["plan"])
    record = {"model": key, "batch": batch, **record}
    _chosen[(key, batch)] = record
    return record


def _from_table(key: str, batch: int, train: bool, *, quiet: bool = False) -> dict | None:
    """The shipped table's choice (:mod:`jaxcnn.conv.table`) as a choice record, or None when
    the table is off, damaged (reported unless ``quiet``) or does not know this case."""
    path = table.table_path()
    if path is None:
        return None
    try:
        found = table.lookup(table.read(path), key, batch, train)
    except table.TableError as error:
        if not quiet:
            warnings.warn(f"ignoring the convolution plan table {error}; timing the plans "
                          f"instead (set {table.ENV_VAR}=off to silence this)", stacklevel=3)
        return None
    if found is None or found.get("plan") not in PLANS:
        return None
    source = f"table {path}"
    if found["table_batch"] != batch:
        source += f", measured at batch {found['table_batch']}"
    return {"plan": found["plan"], "source": source, "table_batch": found["table_batch"],
            "seconds_per_call": found.get("seconds_per_call")}


def _plan_of_process_zero(plan: str | None) -> str:
    """Process 0's ``plan``, sent to every process: processes that ran different plans would run
    different programs, and their collectives would wait for each other forever. Every process
    prepares the same models and batch sizes in the same order, so each call meets its peers'."""
    if jax.process_count() == 1:
        return plan
    from jax.experimental import multihost_utils

    names = list(PLANS)
    index = multihost_utils.broadcast_one_to_all(np.int32(names.index(plan) if plan else 0))
    return names[int(index)]


def choices() -> list[dict]:
    """Every choice made in this process (for a run's ``config.json``)."""
    return list(_chosen.values())


def describe(record: dict) -> str:
    """One line: the plan chosen for a batch size, and why."""
    line = f"batch {record['batch']}: {record['plan']} ({record['source']}"
    seconds = record.get("seconds_per_call")
    if seconds:
        line += "; " + ", ".join(f"{name} {1e3 * s:.2f} ms" for name, s in seconds.items())
    return line + ")"


def time_plans(model: nnx.Module, batch: int, image_shape: tuple[int, ...],
               names: tuple[str, ...], *, train: bool = True,
               seconds: float = 0.15) -> dict[str, float]:
    """Seconds per call of ``model``'s forward (and, if ``train``, backward) pass under each plan
    in ``names`` on random inputs: the best of several rounds, the plans interleaved (a plan
    1.5× slower than the fastest at its first timed call keeps that figure)."""
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, *image_shape), np.float32))
    labels = jnp.asarray(rng.integers(0, 2, batch))

    def loss(model: nnx.Module, x: jax.Array) -> jax.Array:
        out = model(x)
        return jnp.mean(jax.nn.logsumexp(out, -1) - jnp.take_along_axis(out, labels[:, None], 1))

    def work(plan: Plan) -> Callable:
        # A new function per plan: JAX caches traces per function, and the plan is read at trace.
        def call(params, rest, x):  # x an argument: a constant input could be folded away
            with forcing(plan):
                model = nnx.merge(graph, params, rest)
                return nnx.grad(loss)(model, x) if train else loss(model, x)

        return call

    calls = {name: jax.jit(work(PLANS[name])).lower(params, rest, x).compile() for name in names}
    best = {}
    for name, call in calls.items():  # one warm call and one timed call each
        jax.block_until_ready(call(params, rest, x))
        start = time.perf_counter()
        jax.block_until_ready(call(params, rest, x))
        best[name] = time.perf_counter() - start
    # Plans 1.5x slower than the fastest at the first look are not timed further.
    contenders = [name for name in names if best[name] <= 1.5 * min(best.values())]
    for _ in range(3 if len(contenders) > 1 else 0):
        for name in contenders:
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < seconds / 3 or n < 2:
                jax.block_until_ready(calls[name](params, rest, x))
                n += 1
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best


# -- the cache on disk ---------------------------------------------------------------------------
def cache_path() -> Path:
    """The cache file: ``conv-plans.json`` in :func:`jaxcnn.runtime.cachedir.cache_root`."""
    return cache_root() / "conv-plans.json"


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return cpu


@functools.cache
def _machine() -> str:
    device = jax.devices()[0]
    return (f"{device.platform}:{device.device_kind}|{cpu_name()}|{os.cpu_count()} cpus"
            f"|jax {jax.__version__}")


def _cache_key(model: str, batch: int) -> str:
    return f"{_machine()}|{model}|batch {batch}"


def _read_cache() -> dict:
    path = cache_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        warnings.warn(f"ignoring the convolution plan cache {path}: {error}; it will be "
                      "rewritten (delete it to silence this)", stacklevel=3)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, record: dict) -> None:
    path = cache_path()
    data = {**_read_cache(), key: record}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         suffix=".tmp") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(handle.name, path)
    except OSError as error:
        warnings.warn(f"could not write the convolution plan cache {path}: {error}",
                      stacklevel=3)
