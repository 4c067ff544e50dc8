"""Time single convolution layers alone: XLA:CPU (forward, input gradient, weight gradient) against
PyTorch (forward, forward + backward), to show where a training step's time goes.

    python scripts/conv_probe.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch
from jax import lax

from jaxcnn.bench.machine import pin_torch_threads

# (name, batch, input size, in channels, out channels, kernel, padding): the course CNNs' widest
# convolutions at the batch sizes where jaxcnn lags most.
LAYERS = [("dropout conv2", 128, 24, 10, 20, 5, 0),
          ("padded conv2", 128, 14, 32, 64, 5, 2),
          ("lenet conv2", 64, 12, 6, 16, 5, 0)]


def best_ms(fn: Callable[[], object], repeats: int = 20) -> float:
    """The fastest of ``repeats`` calls after one warm-up, in milliseconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def probe(batch: int, size: int, c_in: int, c_out: int, k: int, pad: int) -> dict[str, float]:
    """Milliseconds per pass of one layer, each framework on the same random input and kernel."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, c_in), dtype=np.float32)
    w = rng.random((k, k, c_in, c_out), dtype=np.float32)

    def conv(a, b):
        return lax.conv_general_dilated(a, b, (1, 1), [(pad, pad)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def summed(a, b):
        return conv(a, b).sum()

    xj, wj = jnp.asarray(x), jnp.asarray(w)
    jitted = {"xla_fwd": jax.jit(conv), "xla_dx": jax.jit(jax.grad(summed, 0)),
              "xla_dw": jax.jit(jax.grad(summed, 1))}
    times = {name: best_ms(lambda f=f: f(xj, wj).block_until_ready())
             for name, f in jitted.items()}
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    wt = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_(True)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, padding=pad)

    def torch_step():
        xt.grad = wt.grad = None
        torch.nn.functional.conv2d(xt, wt, padding=pad).sum().backward()

    times["torch_fwd"] = best_ms(torch_forward)
    times["torch_fwd_bwd"] = best_ms(torch_step)
    return times


def main() -> None:
    print(f"torch threads {pin_torch_threads()} (as XLA:CPU's), jax devices {jax.devices()}")
    for name, batch, size, c_in, c_out, k, pad in LAYERS:
        t = probe(batch, size, c_in, c_out, k, pad)
        out = size + 2 * pad - k + 1
        mflop = 2 * batch * out * out * k * k * c_in * c_out / 1e6
        print(f"{name}, batch {batch}: {mflop:,.0f} MFLOP per pass; XLA fwd {t['xla_fwd']:.2f} ms,"
              f" d-input {t['xla_dx']:.2f} ms, d-weight {t['xla_dw']:.2f} ms (sum "
              f"{t['xla_fwd'] + t['xla_dx'] + t['xla_dw']:.2f}); torch fwd {t['torch_fwd']:.2f} "
              f"ms, fwd+bwd {t['torch_fwd_bwd']:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
