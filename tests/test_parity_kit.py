"""The parity kit on three models it was not written for, and on planted porting faults.

Pairs (``tests/kit_pairs.py``, each written in PyTorch and Flax NNX): a VGG-style net with
``padding="same"``, a residual block with BatchNorm and a stride-2 convolution, an
MLP-Mixer-like block with LayerNorm and GELU. Each fault is planted in an otherwise correct port
and must be reported at the right layer with the right diagnosis, found by the kit's
re-computations (not by names).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import optax
import pytest
import torch
from kit_pairs import (
    mixer_flax,
    mixer_flax_default_epsilon,
    mixer_flax_tanh_gelu,
    mixer_flax_tf32,
    mixer_torch,
    resblock_flax,
    resblock_flax_nnx_batchnorm,
    resblock_flax_same_padding,
    resblock_torch,
    vgg_flax,
    vgg_flax_flatten_chw,
    vgg_torch,
)

from jaxcnn.parity import kit

RNG = np.random.default_rng(0)
INPUTS = {
    "vgg": RNG.standard_normal((4, 3, 32, 32)).astype(np.float32),
    "resblock": RNG.standard_normal((4, 8, 16, 16)).astype(np.float32),
    "mixer": RNG.standard_normal((4, 3, 16, 16)).astype(np.float32),
}
LABELS = np.array([3, 1, 4, 1])
PAIRS = {"vgg": (vgg_torch, vgg_flax), "resblock": (resblock_torch, resblock_flax),
         "mixer": (mixer_torch, mixer_flax)}


@pytest.mark.parametrize("name", PAIRS)
def test_correct_ports_match_layer_by_layer_with_gradients(name: str) -> None:
    make_torch, make_flax = PAIRS[name]
    report = kit.assert_ports_match(make_torch(), make_flax(), INPUTS[name], y=LABELS, loss="ce")
    print(report.table())
    assert report.first_divergence is None
    assert len(report.layers) == {"vgg": 5, "resblock": 7, "mixer": 9}[name]
    assert report.losses[0] == pytest.approx(report.losses[1], rel=1e-6)
    assert len(report.gradients) == sum(p.ndim > 0 for p in make_torch().parameters())


def test_inferred_name_map() -> None:
    report = kit.compare_ports(resblock_torch(), resblock_flax(), INPUTS["resblock"])
    assert report.name_map == {"conv1": "conv1", "bn1": "bn1", "conv2": "conv2", "bn2": "bn2",
                               "shortcut.0": "short_conv", "shortcut.1": "short_bn",
                               "head": "head"}
    assert len(report.batchnorm) == 6 and all(r.ok for r in report.batchnorm)


def test_weights_move_both_ways() -> None:
    x = INPUTS["vgg"]
    torch_model, flax_model = vgg_torch(), vgg_flax()
    kit.pair_models(torch_model, flax_model, x, transfer_to="to_torch")  # Flax's init -> torch
    kernel = np.asarray(flax_model.conv2.kernel[...])
    np.testing.assert_array_equal(torch_model.features[2].weight.detach().numpy(),
                                  kernel.transpose(3, 2, 0, 1))
    assert kit.compare_ports(torch_model, flax_model, x, transfer_to=None).ok


def test_ambiguous_or_unknown_names_are_refused() -> None:
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

        def forward(self, x):
            return self.b(self.a(x))

    from flax import nnx

    class Three(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.p, self.q, self.r = (nnx.Linear(8, 8, rngs=rngs) for _ in range(3))

        def __call__(self, x):
            return self.r(self.q(self.p(x)))

    x = np.ones((2, 8), np.float32)
    with pytest.raises(ValueError, match=r"'a'.*could be any of \['p', 'q', 'r'\].*name_map"):
        kit.compare_ports(Two(), Three(), x)
    with pytest.raises(ValueError, match=r"name_map: 'zz' is not a pairable NNX layer"):
        kit.compare_ports(Two(), Three(), x, name_map={"a": "zz"})


# ------------------------------------------------------------------------ planted faults


def _loaded(make_torch, make_flax, x):
    torch_model, flax_model = make_torch(), make_flax()
    kit.pair_models(torch_model, flax_model, x)
    return torch_model, flax_model


def test_fault_kernel_not_transposed() -> None:
    x = INPUTS["vgg"]
    torch_model, flax_model = _loaded(vgg_torch, vgg_flax, x)
    weight = torch_model.features[2].weight.detach().numpy()  # a loader that reshapes
    flax_model.conv2.kernel[...] = weight.reshape(flax_model.conv2.kernel.shape)
    report = kit.compare_ports(torch_model, flax_model, x, transfer_to=None)
    assert report.first_divergence.name == "features.2 ↔ conv2"
    assert report.diagnosis.startswith("kernel not transposed")
    assert "the difference vanishes" in report.diagnosis


def test_fault_flatten_rows_not_permuted() -> None:
    x = INPUTS["vgg"]
    torch_model, flax_model = _loaded(vgg_torch, vgg_flax, x)
    flax_model.fc1.kernel[...] = torch_model.classifier[1].weight.detach().numpy().T
    report = kit.compare_ports(torch_model, flax_model, x, transfer_to=None)
    assert report.first_divergence.name == "classifier.1 ↔ fc1"
    assert report.diagnosis.startswith("flatten order: rows left in PyTorch's C,H,W order")
    assert "the difference vanishes" in report.diagnosis


def test_fault_port_flattens_chw() -> None:
    x = INPUTS["vgg"]
    report = kit.compare_ports(vgg_torch(), vgg_flax_flatten_chw(), x)
    assert report.first_divergence.name == "classifier.1 ↔ fc1"
    assert "flatten in H,W,C order, the port max-pool 2×2 → ReLU → flatten in C,H,W order" \
        in report.diagnosis
    assert kit.compare_ports(vgg_torch(), vgg_flax_flatten_chw(), x, flatten="chw").ok


def test_fault_same_padding_on_a_stride_2_convolution() -> None:
    report = kit.compare_ports(resblock_torch(), resblock_flax_same_padding(), INPUTS["resblock"])
    assert report.first_divergence.name == "conv1 ↔ conv1"
    assert report.diagnosis.startswith(
        "padding: the port's convolution uses padding='SAME', which here pads (before, after) = "
        "[(0, 1), (0, 1)]; PyTorch pads [(1, 1), (1, 1)]")


def test_fault_batchnorm_momentum_taken_literally() -> None:
    report = kit.compare_ports(resblock_torch(), resblock_flax_nnx_batchnorm(0.1),
                               INPUTS["resblock"])
    assert report.first_divergence is None  # eval-mode forward agrees: the stats were copied
    assert not report.ok and len(report.batchnorm_diagnoses) == 3
    for text in report.batchnorm_diagnoses:
        assert "PyTorch's momentum taken literally as Flax's" in text
        assert "use momentum=0.9" in text


def test_nnx_batchnorm_running_variance_is_biased() -> None:
    """``nnx.BatchNorm(momentum=0.9)`` is PyTorch's rule but with the biased batch variance."""
    report = kit.compare_ports(resblock_torch(), resblock_flax_nnx_batchnorm(0.9),
                               INPUTS["resblock"])
    assert any("PyTorch's rule; the running variance is updated with the biased" in d
               for d in report.batchnorm_diagnoses)


def test_fault_tanh_gelu_against_erf_gelu() -> None:
    report = kit.compare_ports(mixer_torch(), mixer_flax_tanh_gelu(), INPUTS["mixer"])
    assert report.first_divergence.name == "token_mlp.2 ↔ token_fc2"
    assert report.diagnosis.startswith("between token_mlp.0 and token_mlp.2: PyTorch computes "
                                       "GELU (exact, erf), the port GELU (tanh approximation)")


def test_fault_layernorm_epsilon() -> None:
    x = INPUTS["mixer"] * 0.1  # small activations, where ε matters
    report = kit.compare_ports(mixer_torch(), mixer_flax_default_epsilon(), x)
    assert report.first_divergence.name == "norm1 ↔ norm1"
    assert report.diagnosis.startswith("epsilon: the port normalises with ε = 1e-06, PyTorch "
                                       "with ε = 1e-05")


def test_fault_tf32_convolution() -> None:
    report = kit.compare_ports(mixer_torch(), mixer_flax_tf32(), INPUTS["mixer"])
    assert report.first_divergence.name == "patch ↔ patch"
    assert report.diagnosis.startswith("reduced precision (tf32)")
    assert kit.compare_ports(mixer_torch(), mixer_flax_tf32(), INPUTS["mixer"],
                             precision="tf32").ok


# ---------------------------------------------------------------- precision and trajectories


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_low_precision_tolerances(precision: str) -> None:
    """Correct ports pass with the format's tolerance (and would not with float32's); a
    transposed kernel is still caught."""
    x = INPUTS["mixer"]
    report = kit.assert_ports_match(mixer_torch(), mixer_flax(), x, precision=precision)
    assert precision in report.tolerance_rule
    assert max(r.max_rel for r in report.layers) > 10 * kit.compare_ports(
        mixer_torch(), mixer_flax(), x).output.tolerance
    torch_model, flax_model = _loaded(mixer_torch, mixer_flax, x)
    flax_model.channel_fc1.kernel[...] = \
        torch_model.channel_mlp[0].weight.detach().numpy().reshape(32, 64)
    bad = kit.compare_ports(torch_model, flax_model, x, transfer_to=None, precision=precision)
    assert bad.first_divergence.name == "channel_mlp.0 ↔ channel_fc1"
    assert bad.diagnosis.startswith("weight not transposed")


def test_optimizer_steps_side_by_side() -> None:
    x = INPUTS["vgg"]
    batches = [(x, LABELS)] * 3
    rows = kit.compare_steps(vgg_torch(), vgg_flax(), batches, loss="ce",
                             torch_optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
                             optax_tx=optax.sgd(0.05, momentum=0.9))
    assert [r.name for r in rows] == ["step 1", "step 2", "step 3"]
    assert all(r.ok for r in rows), rows
    wrong = kit.compare_steps(vgg_torch(), vgg_flax(), batches, loss="ce",
                              torch_optimizer=lambda p: torch.optim.SGD(p, lr=0.05),
                              optax_tx=optax.sgd(0.05, momentum=0.9))
    assert not wrong[-1].ok  # momentum on one side only shows by step 2


# ------------------------------------------------------------------------ command line


def test_command_line(tmp_path) -> None:
    def run(*args):
        return subprocess.run([sys.executable, "-m", "jaxcnn.cli.parity_check", *args],
                              capture_output=True, text=True, cwd=tmp_path,
                              env={**__import__("os").environ,
                                   "PYTHONPATH": f"{kit_dir()}:{repo_dir()}"})

    ok = run("kit_pairs:vgg_torch", "kit_pairs:vgg_flax", "--input-shape", "2,3,32,32",
             "--loss", "ce", "--classes", "10")
    assert ok.returncode == 0, ok.stderr
    assert "| classifier.1 ↔ fc1 | linear | (2, 64) |" in ok.stdout
    bad = run("kit_pairs:mixer_torch", "kit_pairs:mixer_flax_tanh_gelu",
              "--input-shape", "2,3,16,16")
    assert bad.returncode == 1
    assert "GELU (tanh approximation)" in bad.stdout
    missing = run("kit_pairs:nope", "kit_pairs:vgg_flax", "--input-shape", "2,3,32,32")
    assert missing.returncode == 2
    assert "kit_pairs:nope" in missing.stderr


def kit_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent)


def repo_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1])
