"""Where a training step's time goes: every conv / linear layer timed alone, per framework.

For each layer of a model, at a batch size, on random inputs of the shape the layer sees in
training: the **forward** pass, the **input gradient** (not timed for the first layer: training
never computes it, its input is the data), the **weight gradient** (kernel and bias) and all of
them as one program (**fused**: what the layer costs a step, give or take fusion with its
neighbours).

* JAX, through the convolution plan ``scripts/train.py`` would use at that batch size
  (:func:`jaxcnn.conv.prepare`: the plan cache, or timing as train.py does; :func:`run_layers`
  gives the process an empty cache and plan ``auto``, as a first train.py run) and in that
  plan's layout: the forward is ``jit(vjp(layer))``, returning the output and the residuals
  the backward pass reads (so nothing of the forward can be dropped); the gradients are jitted
  calls of the pullback it returned, one output each.
* PyTorch: the module's forward with autograd recording (as in training), then
  ``torch.autograd.grad`` of its output towards the input or towards weight and bias
  (``retain_graph``: the same forward serves every timed backward).

Each framework runs in its own process (``python -m jaxcnn.bench.layers --framework F --cell
ARCH:BATCH --out FILE``); :func:`run_layers` starts them one after the other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxcnn.bench import processes
from jaxcnn.bench.train_runs import DROPPED_ENV
from jaxcnn.conv.choice import CACHE_ENV_VAR
from jaxcnn.data import SPECS
from jaxcnn.training.recipes import get_recipe

FRAMEWORKS = ("jax", "torch")
OPS = ("forward", "input_grad", "weight_grad", "fused")


def time_ms(fn: Callable[[], object], *, rounds: int = 5, min_seconds: float = 0.05) -> float:
    """Milliseconds per call of ``fn`` (which waits for its result): after one warm-up call,
    the median over ``rounds`` rounds of the mean of as many calls as fill ``min_seconds``."""
    fn()
    means = []
    for _ in range(rounds):
        start, calls = time.perf_counter(), 0
        while calls == 0 or time.perf_counter() - start < min_seconds:
            fn()
            calls += 1
        means.append((time.perf_counter() - start) / calls)
    return 1e3 * statistics.median(means)


def image_shape(arch: str) -> tuple[int, int, int]:
    """(H, W, C) of the recipe's data set."""
    return tuple(SPECS[get_recipe(arch).dataset].image_shape)


def jax_cell(arch: str, batch: int, timer: Callable = time_ms) -> dict:
    """Every conv / linear layer of ``arch`` at ``batch``, in JAX (module docstring)."""
    import jax
    from flax import nnx

    from jaxcnn import conv
    from jaxcnn.bench.flops import call_flops, layer_calls
    from jaxcnn.conv import plans
    from jaxcnn.net.registry import create_model

    recipe = get_recipe(arch)
    model = create_model(arch, seed=recipe.seed, **recipe.model_options)
    choice = conv.prepare(model, batch, image_shape(arch), train=True)
    rng = np.random.default_rng(0)
    layers = []
    for index, call in enumerate(layer_calls(model, image_shape(arch), batch)):
        plan = conv.PLANS[call["plan"]]
        graph, params = nnx.split(call["layer"])

        def apply(params, x, graph=graph, plan=plan):
            with plans.using(plan):
                return nnx.merge(graph, params)(x)

        x = jax.numpy.asarray(rng.standard_normal(call["input"], np.float32))
        g = jax.numpy.asarray(rng.standard_normal(call["output"], np.float32))
        times = _jax_times(apply, params, x, g, first=index == 0, timer=timer)
        layers.append(_layer(call["name"], call["kind"], call["input"], call["output"],
                             call_flops(call), times, plan=plan.name,
                             torch_name=model.torch_names.get(call["name"])))
    return {"arch": arch, "batch_size": batch, "plan": choice["plan"],
            "plan_source": choice["source"], "layers": layers}


def _jax_times(apply: Callable, params, x, g, *, first: bool, timer: Callable) -> dict:
    """Forward, input gradient (None if ``first``), weight gradient and fused times of
    ``apply(params, x)`` with output cotangent ``g`` (module docstring)."""
    import jax

    forward = jax.jit(lambda p, x: jax.vjp(apply, p, x))
    d_input = jax.jit(lambda pullback, g: pullback(g)[1])
    d_weight = jax.jit(lambda pullback, g: pullback(g)[0])

    @jax.jit
    def fused(p, x, g):
        y, pullback = jax.vjp(apply, p, x)
        d_params, d_x = pullback(g)
        return (y, d_params) if first else (y, d_params, d_x)

    _, pullback = forward(params, x)
    return {
        "forward": timer(lambda: jax.block_until_ready(forward(params, x))),
        "input_grad": None if first else timer(
            lambda: jax.block_until_ready(d_input(pullback, g))),
        "weight_grad": timer(lambda: jax.block_until_ready(d_weight(pullback, g))),
        "fused": timer(lambda: jax.block_until_ready(fused(params, x, g))),
    }


def torch_cell(arch: str, batch: int, timer: Callable = time_ms) -> dict:
    """Every conv / linear layer of ``arch`` at ``batch``, in PyTorch (module docstring)."""
    import torch

    from torch_ref import create_model

    recipe = get_recipe(arch)
    torch.manual_seed(recipe.seed)
    model = create_model(arch, seed=recipe.seed, **recipe.model_options)
    height, width, channels = image_shape(arch)
    calls: list[tuple[str, torch.nn.Module, tuple, tuple]] = []
    hooks = [module.register_forward_hook(
        lambda m, args, out, name=name: calls.append((name, m, tuple(args[0].shape),
                                                      tuple(out.shape))))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear)]
    model.train()
    with torch.no_grad():
        model(torch.zeros(batch, channels, height, width))
    for hook in hooks:
        hook.remove()
    generator = torch.Generator().manual_seed(0)
    layers = []
    for index, (name, module, in_shape, out_shape) in enumerate(calls):
        first = index == 0
        x = torch.randn(in_shape, generator=generator).requires_grad_(not first)
        g = torch.randn(out_shape, generator=generator)
        weights = [module.weight, module.bias]
        y = module(x)

        def fused(module=module, x=x, g=g, weights=weights, first=first):
            out = module(x)
            return torch.autograd.grad(out, weights if first else [x, *weights], g)

        times = {
            "forward": timer(lambda module=module, x=x: module(x)),
            "input_grad": None if first else timer(
                lambda y=y, x=x, g=g: torch.autograd.grad(y, x, g, retain_graph=True)),
            "weight_grad": timer(
                lambda y=y, g=g, w=weights: torch.autograd.grad(y, w, g, retain_graph=True)),
            "fused": timer(fused),
        }
        kind = "conv" if isinstance(module, torch.nn.Conv2d) else "linear"
        flops = 2 * int(np.prod(out_shape)) // batch * (module.weight[0].numel())
        layers.append(_layer(name, kind, in_shape, out_shape, flops, times))
    return {"arch": arch, "batch_size": batch, "layers": layers}


def _layer(name: str, kind: str, in_shape: tuple, out_shape: tuple, flops: int,
           times: dict[str, float | None], **extra) -> dict:
    return {"name": name, "kind": kind, "input": list(in_shape), "output": list(out_shape),
            "flops_per_image": flops, **{f"{op}_ms": times[op] for op in OPS}, **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.bench.layers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--cell", action="append", type=processes.cell_arg, required=True,
                        metavar="ARCH:BATCH", help="architecture and batch size; repeatable")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    from jaxcnn.bench.machine import process_info

    info = process_info(args.framework)  # PyTorch: its threads pinned to the cores
    measure = jax_cell if args.framework == "jax" else torch_cell
    cells = [measure(arch, batch) for arch, batch in args.cell]
    args.out.write_text(json.dumps({"framework": args.framework, "process": info,
                                    "cells": cells}, indent=1) + "\n")
    return 0


def run_layers(cells: list[tuple[str, int]], log: Callable[[str], None] = print) -> dict:
    """Both frameworks' per-layer times of ``cells``, one process per framework, one at a
    time; a JSON-ready dict (``results``: per cell, its layers with both frameworks' times)."""
    import tempfile

    records, results = [], {}
    with tempfile.TemporaryDirectory(prefix="jaxcnn-layers-") as tmp:
        for framework in FRAMEWORKS:
            out = Path(tmp) / f"{framework}.json"
            args = ["--framework", framework, "--out", str(out)]
            for arch, batch in cells:
                args += ["--cell", f"{arch}:{batch}"]
            command = [sys.executable, "-m", "jaxcnn.bench.layers", *args]
            # Plan 'auto' chosen afresh, as a first scripts/train.py run chooses it.
            env = {CACHE_ENV_VAR: str(Path(tmp) / f"cache-{framework}")}
            record = {"framework": framework, **processes.run(command, env, drop=DROPPED_ENV)}
            records.append(record)
            if record["returncode"]:
                log(f"layers, {framework}: {processes.failure(record)}")
                continue
            log(f"layers, {framework}:{processes.surroundings(record)}")
            for cell in json.loads(out.read_text())["cells"]:
                results.setdefault((cell["arch"], cell["batch_size"]), {})[framework] = cell
    rows = []
    for arch, batch in cells:
        both = results.get((arch, batch), {})
        rows.append({"arch": arch, "batch_size": batch,
                     "recipe_batch_size": batch == get_recipe(arch).batch_size,
                     "jax_plan": both.get("jax", {}).get("plan"),
                     "jax_plan_source": both.get("jax", {}).get("plan_source"),
                     "layers": _merge(both)})
    return {"method": method(), "results": rows, "processes": records}


def _merge(both: dict[str, dict]) -> list[dict]:
    """One row per layer (JAX's call order; PyTorch's layer found by its name in the model's
    ``torch_names``), both frameworks' shapes and times side by side."""
    keys = ("input", "output", "plan", *(f"{op}_ms" for op in OPS))
    torch_layers = {x["name"]: x for x in both.get("torch", {}).get("layers", [])}
    rows = []
    for layer in both.get("jax", {}).get("layers", []):
        row = {"name": layer["name"], "torch_name": layer["torch_name"], "kind": layer["kind"],
               "flops_per_image": layer["flops_per_image"],
               "jax": {k: layer[k] for k in keys if k in layer}}
        twin = torch_layers.pop(layer["torch_name"], None)
        if twin is not None:
            row["torch"] = {k: twin[k] for k in keys if k in twin}
        rows.append(row)
    for name, layer in torch_layers.items():  # JAX did not run (or has no such layer)
        rows.append({"name": None, "torch_name": name, "kind": layer["kind"],
                     "flops_per_image": layer["flops_per_image"],
                     "torch": {k: layer[k] for k in keys if k in layer}})
    return rows


def method() -> str:
    """How the per-layer figures were measured, in words (for bench.md)."""
    return ("Every conv / linear layer alone at the batch size, random inputs of the shape it "
            "sees in training, each framework in its own process (`python -m "
            "jaxcnn.bench.layers`). JAX: the layer under the convolution plan a first "
            "scripts/train.py run chooses at that batch (plan `auto`, timed in an empty plan "
            "cache), in the plan's layout; "
            "forward = `jit(vjp(layer))` (output and residuals returned, so nothing is "
            "dropped), input and weight gradient = jitted calls of its pullback, fused = "
            "forward and both gradients in one program. PyTorch: forward with autograd "
            "recording, `torch.autograd.grad` towards the input or the weight and bias. "
            "Milliseconds per call: median over 5 rounds of the mean over ≥ 50 ms of calls, "
            "after a warm-up. The first layer's input gradient is not timed: training never "
            "computes it.")


if __name__ == "__main__":
    sys.exit(main())
