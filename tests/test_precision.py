"""The precision policy (jaxcnn.runtime.precision): what reaches the compiled programs and PyTorch's
switches, and how training chooses and records it; and the GPU memory setting.

On a CPU every policy computes in float32, so the tests read what a GPU would obey: the
precision attribute of every convolution and dot in the lowered training step (StableHLO
``precision = [HIGHEST, HIGHEST]`` / ``#stablehlo<precision HIGHEST>``) under each of the
engine's convolution plans, and PyTorch's TF32 switches inside and after the policy's block.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from data_helpers import REPO_ROOT, fashion_dir, require_idx

from jaxcnn import create_model
from jaxcnn.conv.choice import forcing
from jaxcnn.conv.plans import PLANS
from jaxcnn.runtime import gpu_memory, precision
from jaxcnn.training.engine import Engine, _zero_metrics
from jaxcnn.training.losses import get_loss
from jaxcnn.training.optim import make_optimizer
from jaxcnn.training.recipes import get_recipe

_OPS = re.compile(r"stablehlo\.(convolution|dot_general)\b.*")
_PRECISION = re.compile(r"precision(?:_config)? = \[([^\]]*)\]")


def lowered_train_step(plan: str, arch: str = "lenet") -> str:
    """The StableHLO text of one training step of ``arch`` (forward, backward, SGD update)."""
    model = create_model(arch, seed=0)
    recipe = get_recipe(arch).replace(optimizer="sgd", lr=0.01, momentum=0.9)
    engine = Engine(model, make_optimizer(recipe), get_loss("cross_entropy"),
                    steps_per_call=1)
    state = engine.create_train_state(model)
    images = np.zeros((8, 28, 28, 1), np.float32)
    labels = np.zeros(8, np.int32)
    batches = np.arange(8, dtype=np.int32)[None]
    with forcing(PLANS[plan]):
        return engine._train_call.lower(state, _zero_metrics(), images, labels, batches, 0,
                                        length=1, shard=False).as_text()


def precisions(text: str) -> list[tuple[str, str]]:
    """(op, precision list) of every convolution and dot_general in a StableHLO text."""
    found = []
    for line in text.splitlines():
        op = _OPS.search(line)
        if op:
            match = _PRECISION.search(line)
            found.append((op.group(1), match.group(1) if match else "none"))
    return found


@pytest.mark.parametrize("plan", list(PLANS))
def test_every_conv_and_dot_of_a_train_step_is_highest_under_the_parity_policy(plan):
    with precision.parity():
        ops = precisions(lowered_train_step(plan))
    assert ops, "no convolution or dot in the lowered step"
    assert {kind for kind, _ in ops} >= {"dot_general"}
    if plan in ("xla", "xla-chwn"):
        assert "convolution" in {kind for kind, _ in ops}
    for kind, value in ops:
        assert "HIGHEST" in value and "DEFAULT" not in value, (kind, value)


def test_the_default_and_tf32_policies_reach_the_same_ops():
    for name, expected in (("default", "DEFAULT"), ("tf32", "HIGH")):
        with jax.default_matmul_precision(None), precision.policy(name):
            ops = precisions(lowered_train_step("xla"))
        assert ops and all(re.search(rf"\b{expected}\b", value) for _, value in ops), (name, ops)


def test_the_policy_leaves_jax_as_it_found_it():
    before = jax.config.jax_default_matmul_precision
    with precision.policy("tf32"):
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"
    assert jax.config.jax_default_matmul_precision == before


def test_torch_switches_set_inside_and_restored_after():
    torch = pytest.importorskip("torch")
    names = precision.torch_state().keys()
    assert names  # this release's TF32 switches
    before = precision.torch_state()
    with precision.parity() as setting:
        inside = precision.torch_state()
        assert all(v in ("ieee", False) for v in inside.values()), inside
        assert setting["torch"] == {k: str(v) for k, v in inside.items()}
        assert setting["jax_default_matmul_precision"] == "highest"
    assert precision.torch_state() == before
    with pytest.raises(RuntimeError, match="boom"), precision.policy("tf32"):
        assert all(v in ("tf32", True) for v in precision.torch_state().values())
        raise RuntimeError("boom")
    assert precision.torch_state() == before
    if hasattr(torch.backends.cudnn, "conv"):  # torch >= 2.9: the fp32_precision switches
        assert set(names) == {"cudnn.conv.fp32_precision", "cuda.matmul.fp32_precision"}


def test_a_jax_only_policy_leaves_torch_unimported():
    """train.py's JAX runs apply the policy with torch=False: importing PyTorch only to record
    its switches took seconds of a first run's start-up."""
    code = ("import sys; from jaxcnn.runtime import precision as p; "
            "r = p.apply('highest', torch=False); print('torch' in sys.modules, r['torch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT).stdout.split()
    assert out == ["False", "{}"]


def test_requested_policy_flag_environment_and_errors(monkeypatch):
    monkeypatch.delenv(precision.ENV_VAR, raising=False)
    assert precision.requested() == "default"
    monkeypatch.setenv(precision.ENV_VAR, "highest")
    assert precision.requested() == "highest"
    assert precision.requested("tf32") == "tf32"
    with pytest.raises(ValueError, match="--precision='fast'.*default, highest, tf32"):
        precision.requested("fast")
    monkeypatch.setenv(precision.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="JAXCNN_PRECISION='fast'"):
        precision.requested()


def test_train_records_the_policy_and_rejects_a_bad_one(tmp_path):
    fashion = str(require_idx(fashion_dir(), "Fashion-MNIST"))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), precision.ENV_VAR: "tf32"}
    script = str(REPO_ROOT / "scripts" / "train.py")
    run = subprocess.run([sys.executable, script, "--arch", "lenet", "--epochs", "1",
                          "--subset", "128", "--data-dir", fashion, "--out", str(tmp_path / "r"),
                          "--precision", "highest", "--no-progress"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    recorded = json.loads((tmp_path / "r" / "config.json").read_text())["precision"]
    assert recorded["policy"] == "highest"  # the flag wins over the environment
    assert recorded["jax_default_matmul_precision"] == "highest"
    bad = subprocess.run([sys.executable, script, "--arch", "lenet", "--out",
                          str(tmp_path / "bad"), "--no-progress"], capture_output=True,
                         text=True, env={**env, precision.ENV_VAR: "fast"}, timeout=120,
                         cwd=REPO_ROOT)
    assert bad.returncode == 2 and "JAXCNN_PRECISION='fast'" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_gpu_memory_setting_keeps_the_users_choice():
    code = ("import os, jaxcnn.runtime.gpu_memory as g; print(g.share_with_torch()); "
            "print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])")
    env = {k: v for k, v in os.environ.items() if k != gpu_memory.ENV_VAR}
    env["PYTHONPATH"] = str(REPO_ROOT)
    ours = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True).stdout.splitlines()
    assert ours[-1] == "false" and "set by jaxcnn" in ours[-2]
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, gpu_memory.ENV_VAR: "true"}, timeout=120,
                            check=True).stdout.splitlines()
    assert theirs[-1] == "true" and "set by the user" in theirs[-2]
