"""The machine a benchmark runs on: devices, threads, load, versions and float32 peak."""

from __future__ import annotations

import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.bench.flops import cpu_peak_flops
from jaxcnn.training.run import package_versions

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "torchvision")


def threads() -> int:
    """The cores this process may run on (both frameworks get this many threads)."""
    return len(os.sched_getaffinity(0))


def pin_torch_threads() -> int:
    """Give PyTorch as many intra-op threads as XLA:CPU uses (the cores available)."""
    import torch

    torch.set_num_threads(threads())
    return torch.get_num_threads()


def torch_device() -> str:
    """``cuda`` when PyTorch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def measured_matmul_flops(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a float32 ``n x n`` matmul through XLA, best of ``repeats``: the attainable
    dense rate, next to the theoretical peak."""
    a = jnp.asarray(np.random.default_rng(0).random((n, n), np.float32))
    matmul = jax.jit(lambda a: a @ a)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def describe() -> dict:
    """Devices, threads, load average, versions, and the float32 peak with its derivation (the
    benchmark's parent process: it imports no torch; each process reports its own in
    :func:`process_info`)."""
    versions = package_versions(_PACKAGES)
    devices = jax.devices()
    info = {
        "jax_backend": jax.default_backend(),
        "jax_devices": [f"{d.platform}:{d.device_kind}" for d in devices],
        "threads": threads(),
        "cpu": platform.processor() or platform.machine(),
        "load_average": list(os.getloadavg()),
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    if info["jax_backend"] == "cpu":
        peak, how = cpu_peak_flops(info["threads"])
        info.update(peak_flops=peak, peak_derivation=how,
                    measured_matmul_flops=measured_matmul_flops())
    else:
        info.update(peak_flops=None, peak_derivation=f"not derived for {devices[0].device_kind}")
    return info


def process_info(framework: str) -> dict:
    """What one benchmark process runs with: cores, allocator, and the framework's device and
    threads (PyTorch's are pinned to the cores here, as many as XLA:CPU uses)."""
    from jaxcnn.runtime import allocator

    info = {"pid": os.getpid(), "threads": threads(), "allocator": allocator.state}
    if framework == "torch":
        info.update(torch_device=torch_device(), torch_threads=pin_torch_threads())
    else:
        info.update(jax_devices=[f"{d.platform}:{d.device_kind}" for d in jax.devices()])
    return info
