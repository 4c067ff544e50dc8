"""The measurements of ``scripts/device_check.py``, one function per report section.

Each takes a :class:`Context` and returns a JSON-able dict. Timings exclude warm-up (the first
pass, which compiles) and wait for the device: ``jax.block_until_ready`` (or a host read of the
results) and ``torch.cuda.synchronize``. Sizes come from :class:`Sizes`: the real ones on a GPU,
tiny ones for ``--dry-run`` on a CPU.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn import conv
from jaxcnn.data import batch_indices, preprocess
from jaxcnn.net.convert import to_torch
from jaxcnn.net.options import ARCHITECTURES
from jaxcnn.net.registry import create_model
from jaxcnn.runtime import allocator, gpu_memory, precision
from jaxcnn.training.engine import Engine
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import get_recipe
from jaxcnn.training.run import load_data, make_trainer, package_versions, run_training
from jaxcnn.training.trainer import EVAL_BATCH

PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin",
            "jax-cuda12-pjrt", "flax", "optax", "orbax-checkpoint", "numpy", "torch",
            "torchvision", "safetensors", "scipy", "matplotlib", "tqdm", "pytest")


@dataclasses.dataclass(frozen=True)
class Sizes:
    parity_images: int  # test images per architecture in the parity subset
    recipe_subset: int | None  # training images of the recipe run (None: all)
    recipe_epochs: int | None  # None: the recipe's
    train_images: int  # training images per throughput measurement
    big_batch: int
    chunk_steps: int  # steps per steps-per-call measurement (a multiple of every length)
    steps_per_call: tuple[int, ...]
    seeds: int
    seed_steps: int
    test_images: int | None  # test images for inference throughput (None: all)
    diagnosis_images: int  # MNIST test images of the gradient diagnosis
    parity_archs: tuple[str, ...] = ARCHITECTURES
    throughput_archs: tuple[str, ...] = ARCHITECTURES
    steps_archs: tuple[str, ...] = ("padded", "lenet")


GPU_SIZES = Sizes(parity_images=256, recipe_subset=None, recipe_epochs=None, train_images=20_000,
                  big_batch=512, chunk_steps=512, steps_per_call=(1, 8, 32, 128), seeds=8,
                  seed_steps=256, test_images=None, diagnosis_images=256,
                  throughput_archs=("lenet", "padded", "dropout", "classic", "lenet3x3"))
# The dry run covers every code path once, at sizes a loaded CPU runs in well under a minute.
DRY_SIZES = Sizes(parity_images=24, recipe_subset=120, recipe_epochs=1, train_images=128,
                  big_batch=64, chunk_steps=8, steps_per_call=(1, 8), seeds=2, seed_steps=4,
                  test_images=100, diagnosis_images=16, parity_archs=("padded", "dropout"),
                  throughput_archs=("lenet",), steps_archs=("lenet",))


@dataclasses.dataclass
class Context:
    data_dir: str | None
    sizes: Sizes
    torch_device: str
    left: Callable[[], float]  # seconds of budget left
    log: Callable[[str], None]

    def data_dirs(self) -> dict[str, str]:
        return {} if self.data_dir is None else {"mnist": self.data_dir,
                                                 "fashion_mnist": self.data_dir}


def _sync_torch(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# -- environment ---------------------------------------------------------------------------------
def environment(ctx: Context, memory_setting: str) -> dict:
    """Devices, versions, and the settings that bear on the figures."""
    import os

    import torch

    info = {
        "jax_backend": jax.default_backend(),
        "jax_devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
        "versions": package_versions(PACKAGES),
        "python": platform.python_version(),
        "torch_cuda_available": torch.cuda.is_available(),
        "torch_device": ctx.torch_device,
        "gpu_memory": memory_setting,
        "precision_env": os.environ.get(precision.ENV_VAR),
        "conv_plan_requested": conv.requested(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "nvidia_tf32_override": os.environ.get("NVIDIA_TF32_OVERRIDE"),
        "precision_default": precision.describe(precision.DEFAULT),
        "allocator": allocator.state,
    }
    if torch.cuda.is_available():
        info.update(torch_device_name=torch.cuda.get_device_name(0),
                    torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    torch_memory_total_gib=torch.cuda.get_device_properties(0).total_memory
                    / 2**30)
    try:
        stats = jax.devices()[0].memory_stats() or {}
        info["jax_memory_stats_gib"] = {k: v / 2**30 for k, v in stats.items()
                                        if k in ("bytes_in_use", "bytes_limit",
                                                 "peak_bytes_in_use", "bytes_reserved")}
    except Exception as error:  # noqa: BLE001 - a CPU device has no statistics
        info["jax_memory_stats_gib"] = f"unavailable: {error}"
    return info


# -- parity --------------------------------------------------------------------------------------
def _jax_sides(model: nnx.Module, loss_name: str):
    """Jitted eval-mode forward and parameter gradients of the mean loss."""
    model.eval()
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    loss_fn = get_loss(loss_name)

    def forward(params, rest, x):
        return nnx.merge(graph, params, rest)(x)

    def grads(params, rest, x, y):
        return jax.grad(lambda p: loss_fn(forward(p, rest, x), y).mean())(params)

    def to_named(g) -> dict[str, np.ndarray]:
        state = to_torch(nnx.merge(graph, g, rest))
        return {k: v for k, v in state.items() if k.endswith((".weight", ".bias"))}

    return params, rest, jax.jit(forward), jax.jit(grads), to_named


def _torch_sides(model, loss_name: str, device: str):
    import torch

    from torch_ref.train import LOSSES

    model = model.to(device).eval()

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(_nchw(x, device)).cpu().numpy()

    def grads(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        model.zero_grad()
        LOSSES[loss_name](model(_nchw(x, device)),
                          torch.from_numpy(np.array(y, np.int64)).to(device)).backward()
        return {name: p.grad.cpu().numpy().copy() for name, p in model.named_parameters()}

    return forward, grads


def _nchw(x: np.ndarray, device: str):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)


def _grad_gaps(ours: dict, theirs: dict) -> tuple[float, float]:
    """(max abs, max per-tensor relative) difference of two named gradient sets."""
    worst_abs = worst_rel = 0.0
    for name, expected in theirs.items():
        gap = float(np.abs(ours[name] - expected).max())
        worst_abs = max(worst_abs, gap)
        worst_rel = max(worst_rel, gap / max(float(np.abs(expected).max()), 1e-30))
    return worst_abs, worst_rel


def parity(ctx: Context) -> dict:
    """Every architecture in both frameworks from identical weights (PyTorch's init, dropout
    off, eval mode) on real test images: forward and gradient differences under the
    ``highest`` policy and under ``tf32``, and how far each framework's TF32 outputs are from
    its own float32 ones. Gradients compare only images away from ReLU kinks and max-pool
    near-ties (:func:`jaxcnn.parity.kit.kink_mask`, in float64 on the CPU)."""
    from jaxcnn.parity.kit import kink_mask

    screening = "jaxcnn.parity.kit.kink_mask"

    from jaxcnn.parity.pair import load_inputs, make_pair
    from jaxcnn.parity.steps import no_dropout_options

    rows = {}
    for arch in ctx.sizes.parity_archs:
        if ctx.left() < 20:
            rows[arch] = "skipped: budget"
            continue
        recipe = get_recipe(arch)
        x, y = load_inputs(recipe.dataset, "test", recipe.normalization,
                           data_dirs=ctx.data_dirs(), subset=ctx.sizes.parity_images)
        pair = make_pair(arch, seed=0, options=no_dropout_options(arch))
        keep = kink_mask(pair.torch_model, x.transpose(0, 3, 1, 2))
        params, rest, jax_fwd, jax_grads, to_named = _jax_sides(pair.jax_model, recipe.loss)
        torch_fwd, torch_grads = _torch_sides(pair.torch_model, recipe.loss, ctx.torch_device)
        row: dict = {"loss": recipe.loss, "images": len(x), "grad_images": int(keep.sum())}
        outputs = {}
        for name in ("highest", "tf32"):
            with precision.policy(name) as setting:
                ours = np.asarray(jax_fwd(params, rest, jnp.asarray(x)))
                theirs = torch_fwd(x)
                g_ours = to_named(jax_grads(params, rest, jnp.asarray(x[keep]),
                                            jnp.asarray(y[keep])))
                g_theirs = torch_grads(x[keep], y[keep])
            outputs[name] = (ours, theirs)
            grad_abs, grad_rel = _grad_gaps(g_ours, g_theirs)
            row[name] = {"forward_max_abs": float(np.abs(ours - theirs).max()),
                         "grad_max_abs": grad_abs, "grad_max_rel": grad_rel,
                         "setting": setting}
        row["jax_tf32_vs_highest_forward"] = float(
            np.abs(outputs["tf32"][0] - outputs["highest"][0]).max())
        row["torch_tf32_vs_highest_forward"] = float(
            np.abs(outputs["tf32"][1] - outputs["highest"][1]).max())
        rows[arch] = row
        ctx.log(f"parity {arch}: highest fwd {row['highest']['forward_max_abs']:.2e} grad "
                f"{row['highest']['grad_max_abs']:.2e}; tf32 fwd "
                f"{row['tf32']['forward_max_abs']:.2e} grad {row['tf32']['grad_max_abs']:.2e}")
    return {"weights": "PyTorch init, converted", "torch_device": ctx.torch_device,
            "kink_screening": screening,
            "after": precision.describe(precision.DEFAULT), "architectures": rows}


def gradient_diagnosis(ctx: Context) -> dict:
    """Which framework's float32 gradients depart from float64, layer by layer, for the
    variants that failed the GPU parity tests (:mod:`jaxcnn.devcheck.diagnosis`); on a GPU also
    in a child process with XLA's autotuning off (cuDNN's heuristic algorithm choice)."""
    from jaxcnn.devcheck import diagnosis

    result = {"default": diagnosis.gradient_diagnosis(ctx.data_dirs(),
                                                      ctx.sizes.diagnosis_images)}
    if jax.default_backend() == "gpu" and ctx.left() > 90:
        result["xla_autotune_off"] = diagnosis.in_child(
            ctx.data_dirs(), ctx.sizes.diagnosis_images, "--xla_gpu_autotune_level=0",
            timeout=min(300.0, ctx.left() - 30))
    for name, run in result.items():
        outside = {case: row.get("elements_outside_tolerance")
                   for case, row in run.get("cases", {}).items()}
        ctx.log(f"gradient diagnosis ({name}): elements outside tolerance {outside}")
    return result


# -- the lenet recipe ----------------------------------------------------------------------------
def recipe_run(ctx: Context, arch: str = "lenet") -> dict:
    """``arch``'s whole recipe through ``scripts/train.py``'s trainer and epoch loop (JAX), under
    the training default precision policy; the run directory is a temporary one."""
    recipe = get_recipe(arch)
    if ctx.sizes.recipe_epochs:
        recipe = recipe.replace(epochs=ctx.sizes.recipe_epochs)
    train, test = load_data(recipe, data_dir=ctx.data_dir, subset=ctx.sizes.recipe_subset)
    setting = precision.apply(precision.DEFAULT)
    start = time.perf_counter()
    trainer = make_trainer("jax", recipe, train, test)
    setup = time.perf_counter() - start
    config = {"recipe": recipe.to_dict(), "framework": "jax", "precision": setting}
    with tempfile.TemporaryDirectory(prefix="device-check-run-") as run_dir:
        history = run_training(trainer, recipe, Path(run_dir), train_size=len(train), test=test,
                               config=config, progress=False, log=ctx.log)
    wall = time.perf_counter() - start
    return {"arch": arch, "dataset": recipe.dataset, "epochs": recipe.epochs,
            "batch_size": recipe.batch_size, "train_examples": len(train),
            "test_examples": len(test), "precision": setting,
            "steps_per_call": trainer.engine.steps_per_call,
            "conv_plans": conv.choices(), "setup_s": setup, "wall_s": wall,
            "epoch_seconds": [row["seconds"] for row in history],
            "test_accuracy": [row["test_accuracy"] for row in history],
            "final_test_accuracy": history[-1]["test_accuracy"],
            "train_loss": [row["train_loss"] for row in history]}


# -- throughput ----------------------------------------------------------------------------------
def _first(dataset, n: int | None):
    """The first ``n`` examples of a data set (all of them when ``n`` is None)."""
    return dataclasses.replace(dataset, images=dataset.images[:n], labels=dataset.labels[:n])


def _time(fn: Callable[[], object], sync: Callable[[object], None]) -> float:
    start = time.perf_counter()
    sync(fn())
    return time.perf_counter() - start


def _jax_throughput(recipe, train, test) -> dict:
    trainer = make_trainer("jax", recipe, train, test)
    batches = batch_indices(len(train), recipe.batch_size, seed=recipe.seed, epoch=0)

    def epoch():
        trainer.train_epoch(batches, epoch=1, progress=False)
        return trainer.state

    warm = _time(epoch, jax.block_until_ready)
    seconds = _time(epoch, jax.block_until_ready)
    infer_warm = _time(trainer.evaluate, lambda _: None)  # evaluate returns host arrays
    infer = _time(trainer.evaluate, lambda _: None)
    return {"train_images_per_s": len(train) / seconds, "first_pass_s": warm,
            "train_s": seconds, "infer_images_per_s": len(test) / infer,
            "infer_first_pass_s": infer_warm, "steps_per_call": trainer.engine.steps_per_call}


def _torch_throughput(recipe, train, test, device: str) -> dict:
    from torch_ref.train import TorchTrainer

    trainer = TorchTrainer(recipe, train, test, device=device)
    batches = batch_indices(len(train[0]), recipe.batch_size, seed=recipe.seed, epoch=0)
    sync = lambda _: _sync_torch(device)  # noqa: E731
    warm = _time(lambda: trainer.train_epoch(batches[:20], epoch=0, progress=False), sync)
    seconds = _time(lambda: trainer.train_epoch(batches, epoch=1, progress=False), sync)
    _time(trainer.evaluate, sync)
    infer = _time(trainer.evaluate, sync)
    return {"train_images_per_s": len(train[0]) / seconds, "warm_20_steps_s": warm,
            "train_s": seconds, "infer_images_per_s": len(test[0]) / infer}


def throughput(ctx: Context) -> dict:
    """Training (one epoch over ``train_images`` images) and inference (the test set, batch
    1000) throughput of the JAX engine and of ``torch_ref``'s own eager training loop, per
    architecture at its recipe batch size and at ``big_batch``, under the default policy."""
    setting = precision.apply(precision.DEFAULT)
    rows = {}
    for arch in ctx.sizes.throughput_archs:
        recipe = get_recipe(arch)
        train, test = load_data(recipe, data_dir=ctx.data_dir)
        train, test = _first(train, ctx.sizes.train_images), _first(test, ctx.sizes.test_images)
        splits = [(preprocess(ds.images, recipe.normalization), ds.labels)
                  for ds in (train, test)]
        for batch in dict.fromkeys((recipe.batch_size, ctx.sizes.big_batch)):
            key = f"{arch}@{batch}"
            if ctx.left() < 25:
                rows[key] = "skipped: budget"
                continue
            r = recipe.replace(batch_size=batch)
            row = {}
            for framework in ("jax", "torch"):
                try:
                    row[framework] = (_jax_throughput(r, train, test) if framework == "jax"
                                      else _torch_throughput(r, *splits, ctx.torch_device))
                except Exception as error:  # noqa: BLE001 - record, go on with the others
                    row[framework] = f"error: {type(error).__name__}: {error}"
            if all(isinstance(row.get(f), dict) for f in ("jax", "torch")):
                row["jax_over_torch_train"] = (row["jax"]["train_images_per_s"]
                                               / row["torch"]["train_images_per_s"])
                row["jax_over_torch_infer"] = (row["jax"]["infer_images_per_s"]
                                               / row["torch"]["infer_images_per_s"])
            rows[key] = row
            ctx.log(f"throughput {key}: " + "; ".join(
                f"{f} train {v['train_images_per_s']:.0f} img/s infer "
                f"{v['infer_images_per_s']:.0f} img/s" if isinstance(v, dict) else f"{f} {v}"
                for f, v in row.items() if f in ("jax", "torch")))
    arch = ctx.sizes.throughput_archs[0]
    key = f"{arch}@{ctx.sizes.big_batch} highest"
    if ctx.left() < 25:
        rows[key] = "skipped: budget"
    else:  # what true float32 costs: the same cell with both frameworks under ``highest``
        recipe = get_recipe(arch).replace(batch_size=ctx.sizes.big_batch)
        train, test = load_data(recipe, data_dir=ctx.data_dir)
        train, test = _first(train, ctx.sizes.train_images), _first(test, ctx.sizes.test_images)
        splits = [(preprocess(ds.images, recipe.normalization), ds.labels)
                  for ds in (train, test)]
        with precision.parity():
            rows[key] = {"jax": _jax_throughput(recipe, train, test),
                         "torch": _torch_throughput(recipe, *splits, ctx.torch_device)}
        rows[key]["jax_over_torch_train"] = (rows[key]["jax"]["train_images_per_s"]
                                             / rows[key]["torch"]["train_images_per_s"])
        rows[key]["jax_over_torch_infer"] = (rows[key]["jax"]["infer_images_per_s"]
                                             / rows[key]["torch"]["infer_images_per_s"])
    return {"precision": setting, "train_images": ctx.sizes.train_images,
            "torch_device": ctx.torch_device, "rows": rows}


# -- steps per dispatch --------------------------------------------------------------------------
def _two_passes(engine: Engine, state, images, labels, batches) -> tuple[float, float, object]:
    """Seconds of a first pass over ``batches`` (compiling) and of a second one; the state."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        state, _ = engine.train_epoch(state, images, labels, batches, epoch=1, progress=False)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    return times[0], times[1], state


def steps_per_call(ctx: Context) -> dict:
    """Training throughput of the engine at each scan length (steps per dispatch), on
    ``chunk_steps`` full batches of each architecture's recipe batch size, and its inference
    throughput on the test set (batch 1000), which runs as many batches per dispatch."""
    setting = precision.apply(precision.DEFAULT)
    rows = {}
    for arch in ctx.sizes.steps_archs:
        recipe = get_recipe(arch)
        n = ctx.sizes.chunk_steps * recipe.batch_size
        train, _ = load_data(recipe, data_dir=ctx.data_dir, subset=n)
        test = _first(load_data(recipe, data_dir=ctx.data_dir)[1], ctx.sizes.test_images)
        test_images = jnp.asarray(preprocess(test.images, recipe.normalization))
        images = jnp.asarray(preprocess(train.images, recipe.normalization))
        labels = jnp.asarray(train.labels)
        batches = batch_indices(len(train), recipe.batch_size, seed=0, epoch=0)
        tx = make_optimizer(recipe)
        loss = get_loss(recipe.loss)
        row = {}
        for k in ctx.sizes.steps_per_call:
            if ctx.left() < 15:
                row[str(k)] = "skipped: budget"
                continue
            model = create_model(arch, seed=0, **recipe.model_options)
            engine = Engine(model, tx, loss, steps_per_call=k)
            first, seconds, state = _two_passes(engine, engine.create_train_state(model),
                                                images, labels, batches)
            eval_batch = min(EVAL_BATCH, len(test) // 4 or 1)  # several batches, even dry
            engine.predict(state, test_images, eval_batch)  # compiles
            infer = _time(lambda: engine.predict(state, test_images, eval_batch),  # noqa: B023
                          lambda _: None)
            row[str(k)] = {"images_per_s": len(train) / seconds,
                           "steps_per_s": len(batches) / seconds, "first_pass_s": first,
                           "infer_images_per_s": len(test) / infer,
                           "eval_batch": eval_batch}
        rows[arch] = {"batch_size": recipe.batch_size, "steps": len(batches), "by_length": row}
        ctx.log(f"steps per call {arch}: " + ", ".join(
            f"{k}: {v['steps_per_s']:.0f} steps/s" if isinstance(v, dict) else f"{k}: {v}"
            for k, v in row.items()))
    return {"precision": setting, "default_steps_per_call": Engine(
        create_model("lenet", seed=0), make_optimizer(get_recipe("lenet")), get_loss("nll")
    ).steps_per_call, "rows": rows}


# -- several seeds ---------------------------------------------------------------------------------
def multiseed(ctx: Context, arch: str = "lenet") -> dict:
    """``seeds`` models stacked in one program (vmap first; the other mappings while the
    budget lasts) against the same models trained one after the other."""
    from jaxcnn.bench.stacked import benchmark
    from jaxcnn.studies.multiseed import MAPPINGS

    setting = precision.apply(precision.DEFAULT)
    results: dict = {"precision": setting}
    for mapping in MAPPINGS:
        if mapping != "vmap" and ctx.left() < 60:
            results[mapping] = "skipped: budget"
            continue
        row = benchmark(arch, ctx.sizes.seeds, ctx.sizes.seed_steps, data_dirs=ctx.data_dirs(),
                        mappings=(mapping,), sequential=mapping == "vmap")
        if "sequential_s" in results:
            row[f"{mapping}_speedup"] = results["sequential_s"] / row[f"{mapping}_s"]
        results.setdefault("sequential_s", row.get("sequential_s"))
        results[mapping] = row
        ctx.log(f"multiseed {arch} {mapping}: {row[f'{mapping}_s']:.2f} s, speed-up "
                f"{row[f'{mapping}_speedup']:.2f}x over {ctx.sizes.seeds} runs one by one")
    return results


def memory(ctx: Context) -> dict:
    """Where the GPU memory went: JAX's statistics and PyTorch's peak, after the sections."""
    out: dict = {"setting": gpu_memory.ENV_VAR + "=" + str(__import__("os").environ.get(
        gpu_memory.ENV_VAR))}
    try:
        stats = jax.devices()[0].memory_stats() or {}
        out["jax_gib"] = {k: v / 2**30 for k, v in stats.items()
                          if k in ("bytes_in_use", "bytes_limit", "peak_bytes_in_use")}
    except Exception as error:  # noqa: BLE001
        out["jax_gib"] = f"unavailable: {error}"
    import torch

    if torch.cuda.is_available():
        out["torch_max_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["torch_max_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return out
