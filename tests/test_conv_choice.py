"""The measured choice of a convolution plan (timing, cache on disk, override) and the allocator
settings made at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import pytest

import jaxcnn
import jaxcnn.runtime.cachedir
from jaxcnn.conv import choice, table
from jaxcnn.conv.plans import PLANS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def auto(monkeypatch, tmp_path):
    """``auto`` mode with an empty cache in ``tmp_path``, no plan table and nothing chosen in
    this process."""
    monkeypatch.delenv(choice.ENV_VAR, raising=False)
    monkeypatch.setenv(table.ENV_VAR, table.OFF)
    monkeypatch.setenv(choice.CACHE_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(choice, "_chosen", {})
    monkeypatch.setattr(choice, "_override", None)
    return tmp_path


def test_auto_measures_then_reads_the_cache(auto, monkeypatch):
    model = jaxcnn.create_model("dropout", seed=0)  # train mode: dropout RNG in the timed step
    record = choice.prepare(model, 8, (28, 28, 1), train=True)
    assert record["source"] == "measured"
    seconds = record["seconds_per_call"]
    assert set(seconds) == set(choice.CPU_CANDIDATES)
    assert all(s > 0 for s in seconds.values())
    assert record["plan"] == min(seconds, key=seconds.get)
    assert choice.plan_for(model, 8) is PLANS[record["plan"]]
    assert choice.plan_for(model, 11) is PLANS[record["plan"]]  # nearest prepared batch

    cached = json.loads(choice.cache_path().read_text())
    assert [entry["plan"] for entry in cached.values()] == [record["plan"]]

    monkeypatch.setattr(choice, "_chosen", {})  # a new process: the cache answers
    again = choice.prepare(model, 8, (28, 28, 1), train=True)
    assert again["source"].startswith("cache ")
    assert again["plan"] == record["plan"]
    assert choice.choices() == [again]


def test_a_damaged_cache_is_reported_and_rewritten(auto):
    choice.cache_path().parent.mkdir(parents=True, exist_ok=True)
    choice.cache_path().write_text("{not json")
    model = jaxcnn.create_model("lenet", seed=0)
    model.eval()
    with pytest.warns(UserWarning, match="conv-plans.json"):
        record = choice.prepare(model, 4, (28, 28, 1), train=False)
    assert record["source"] == "measured"
    assert json.loads(choice.cache_path().read_text())  # valid again


def test_override_beats_measurement(auto, monkeypatch):
    model = jaxcnn.create_model("lenet", seed=0)
    monkeypatch.setenv(choice.ENV_VAR, "xla")
    assert choice.plan_for(model, 64) is PLANS["xla"]
    record = choice.prepare(model, 64, (28, 28, 1))
    assert record["plan"] == "xla" and record["source"].startswith("override")
    assert not choice.cache_path().exists()  # nothing timed, nothing cached
    choice.set_override("shift-gemm")
    assert choice.plan_for(model, 64) is PLANS["shift-gemm"]


def test_unknown_plan_names_are_refused(auto, monkeypatch):
    with pytest.raises(ValueError, match="--conv='cudnn': choose one of auto, xla"):
        choice.set_override("cudnn")
    monkeypatch.setenv(choice.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="JAXCNN_CONV='fast'"):
        choice.requested()


def test_unprepared_batch_uses_the_cpu_fallback(auto):
    assert jax.default_backend() == "cpu"
    model = jaxcnn.create_model("classic", seed=0)
    assert choice.plan_for(model, 50) is PLANS[choice.CPU_FALLBACK]


# -- the allocator ------------------------------------------------------------------------------
_RSS_PROBE = """
import os, numpy as np, jaxcnn
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
a = np.ones(256 << 20, np.uint8)  # 256 MiB, touched
before = rss()
del a
print(jaxcnn.runtime.allocator.state, "|", (before - rss()) >> 20)
"""


def _probe(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE], env={**clean, **env}, cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.strip()
    state, released = out.rsplit("|", 1)
    return state.strip(), int(released)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_allocator_keeps_freed_memory_and_can_be_turned_off():
    state, released_mib = _probe()
    assert state.startswith("mmap off")
    assert released_mib < 16  # a freed 256 MiB block stays with the process
    state, released_mib = _probe(JAXCNN_MALLOC="default")
    assert state.startswith("glibc defaults")
    assert released_mib > 200  # glibc unmaps it at once
    state, _ = _probe(MALLOC_TOP_PAD_="0")
    assert "from the environment" in state


def test_allocator_state_is_recorded_at_import():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jaxcnn.runtime.allocator.state != "not configured"


def test_compilation_cache_is_written_by_train_script(tmp_path):
    """A train.py run fills JAX's persistent compilation cache in the jaxcnn cache folder and
    records it in config.json; JAXCNN_COMPILATION_CACHE=0 turns it off."""
    env = {**os.environ, "JAXCNN_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "scripts/train.py", "--arch", "lenet", "--epochs", "1",
               "--subset", "256", "--no-progress"]
    subprocess.run([*command, "--out", str(tmp_path / "on")], env=env, cwd=REPO, check=True,
                   capture_output=True)
    config = json.loads((tmp_path / "on" / "config.json").read_text())
    assert config["conv"]["compilation_cache"] == str(tmp_path / "cache" / "xla")
    assert any((tmp_path / "cache" / "xla").iterdir())
    # a second run loads the training step and the model's construction instead of compiling
    again = subprocess.run([*command, "--out", str(tmp_path / "again")],
                           env={**env, "JAX_LOG_COMPILES": "1"}, cwd=REPO, check=True,
                           capture_output=True, text=True).stderr
    for program in ("jit__train_chunk", "jit_built_state", "jit__eval_batch"):
        assert f"Persistent compilation cache hit for '{program}'" in again, program
    env[jaxcnn.runtime.cachedir.COMPILATION_ENV_VAR] = "0"
    subprocess.run([*command, "--out", str(tmp_path / "off")], env=env, cwd=REPO, check=True,
                   capture_output=True)
    config = json.loads((tmp_path / "off" / "config.json").read_text())
    assert config["conv"]["compilation_cache"].startswith("off")


def test_allocator_tuning_is_for_the_cpu_backend_only():
    expected = jaxcnn.runtime.allocator.accelerator_expected
    assert expected(platforms="cuda") and expected(platforms="gpu,cpu")
    assert not expected(platforms="cpu") and not expected(platforms="cpu,cuda")
    # No JAX_PLATFORMS: a GPU plugin and a device node both needed.
    assert expected(platforms="", plugins=["xla_cuda13"], device_nodes=("/dev/null",))
    assert not expected(platforms="", plugins=["xla_cuda13"], device_nodes=("/nonexistent",))
    assert not expected(platforms="", plugins=[], device_nodes=("/dev/null",))
    state, _ = _probe(JAX_PLATFORMS="cuda")
    assert state.startswith("glibc defaults (JAX runs on an accelerator")
    state, _ = _probe(JAX_PLATFORMS="cpu")
    assert state.startswith("mmap off")
