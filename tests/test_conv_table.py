"""The table of plan choices shipped with jaxcnn: written by scripts/conv_table.py from real
timings, consulted by ``auto`` before any timing, and left aside for another machine or a
damaged file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import jaxcnn
from jaxcnn.cli import conv_table
from jaxcnn.conv import choice, table
from jaxcnn.conv.plans import PLANS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def auto(monkeypatch, tmp_path):
    """``auto`` mode, an empty plan cache, nothing chosen in this process; returns the path of
    a table file (not yet written) that ``auto`` consults."""
    monkeypatch.delenv(choice.ENV_VAR, raising=False)
    monkeypatch.setenv(choice.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(choice, "_chosen", {})
    monkeypatch.setattr(choice, "_override", None)
    path = tmp_path / "choices.json"
    monkeypatch.setenv(table.ENV_VAR, str(path))
    return path


def no_timing(*args, **kwargs):
    raise AssertionError("the plans were timed although the table knows the choice")


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """A table written by scripts/conv_table.py: lenet evaluated at batch 8, timed for real."""
    path = tmp_path_factory.mktemp("table") / "choices.json"
    assert conv_table.main(["--arch", "lenet", "--train-batches", "--eval-batches", "8",
                            "--seconds", "0.05", "--out", str(path), "--no-progress",
                            "--note", "test"]) == 0
    return path


def test_the_script_writes_this_machines_timings(measured):
    data = table.read(measured)
    assert list(data["machines"]) == [table.fingerprint()]
    entry = data["machines"][table.fingerprint()]
    model = jaxcnn.create_model("lenet", seed=0)
    (key, record), = entry["choices"].items()
    assert key == table.entry_key(choice.model_key(model), 8, train=False)
    seconds = record["seconds_per_call"]
    assert set(seconds) == set(choice.CPU_CANDIDATES) and all(s > 0 for s in seconds.values())
    assert record["plan"] == min(seconds, key=seconds.get)
    assert entry["made"]["note"] == "test" and entry["made"]["jax"] == jax.__version__
    assert entry["made"]["command"].startswith("python scripts/conv_table.py --arch lenet")


def test_auto_takes_the_tables_choice_without_timing(auto, measured, monkeypatch):
    auto.write_text(measured.read_text())
    expected = table.read(measured)["machines"][table.fingerprint()]["choices"]
    (plan,) = {record["plan"] for record in expected.values()}
    monkeypatch.setattr(choice, "time_plans", no_timing)
    model = jaxcnn.create_model("lenet", seed=0)
    model.eval()
    record = choice.prepare(model, 8, (28, 28, 1), train=False)
    assert record["plan"] == plan and record["source"] == f"table {auto}"
    assert choice.plan_for(model, 8) is PLANS[plan]
    # a batch within a factor of 2 of a tabled one takes its choice, and says so
    near = choice.prepare(model, 13, (28, 28, 1), train=False)
    assert near["plan"] == plan and near["source"] == f"table {auto}, measured at batch 8"
    assert not choice.cache_path().exists()  # nothing measured, nothing cached
    assert choice.describe(record).startswith(f"batch 8: {plan} (table {auto}")


def test_another_machine_or_batch_or_mode_is_timed(auto, measured):
    data = table.read(measured)
    other = {"format": table.FORMAT,
             "machines": {"riscv64 Other 64 cpus: none": data["machines"][table.fingerprint()]}}
    auto.write_text(json.dumps(other))
    model = jaxcnn.create_model("lenet", seed=0)
    model.eval()
    record = choice.prepare(model, 8, (28, 28, 1), train=False)
    assert record["source"] == "measured"  # the fingerprint did not match
    assert table.lookup(data, choice.model_key(model), 8, train=False) is not None
    assert table.lookup(data, choice.model_key(model), 17, train=False) is None  # > 2x away
    assert table.lookup(data, choice.model_key(model), 8, train=True) is None
    assert table.lookup(data, choice.model_key(model).replace("max", "avg"), 8,
                        train=False) is None


@pytest.mark.parametrize("text", ["{not json", '{"format": 99, "machines": {}}',
                                  '{"format": 1, "machines": {"m": []}}', "[]"])
def test_a_damaged_table_is_reported_and_left_aside(auto, text):
    auto.write_text(text)
    model = jaxcnn.create_model("lenet", seed=0)
    with pytest.raises(table.TableError, match="choices.json"):
        table.read(auto)
    with pytest.warns(UserWarning, match=f"ignoring the convolution plan table {auto}"):
        assert choice._from_table(choice.model_key(model), 8, True) is None


def test_the_script_refuses_a_damaged_table(tmp_path):
    path = tmp_path / "choices.json"
    path.write_text("{not json")
    run = subprocess.run([sys.executable, "scripts/conv_table.py", "--out", str(path)],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and str(path) in run.stderr
    assert path.read_text() == "{not json"  # left as it was


def test_the_table_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(table.ENV_VAR, "off")
    assert table.table_path() is None
    monkeypatch.delenv(table.ENV_VAR)
    assert table.table_path() == table.SHIPPED


def test_the_shipped_table_is_valid():
    data = table.read(table.SHIPPED)
    assert data["machines"], "the shipped table is empty"
    for machine, entry in data["machines"].items():
        assert entry["made"]["command"].startswith("python scripts/conv_table.py")
        for key, record in entry["choices"].items():
            assert record["plan"] in PLANS, (machine, key)
            model, mode, batch = table._parse_key(key)
            assert mode in ("train", "eval") and batch > 0 and model


def test_the_shipped_table_covers_every_recipe_here(monkeypatch):
    """On a machine of the kind the table was made on, every recipe's first run (training at
    its batch, evaluation at 1,000) finds its choice in the table."""
    data = table.read(table.SHIPPED)
    if table.fingerprint() not in data["machines"]:
        pytest.skip(f"the shipped table does not know this machine ({table.fingerprint()})")
    for arch in jaxcnn.ARCHITECTURES:
        recipe = conv_table.get_recipe(arch)
        for train, batch in ((True, recipe.batch_size), (False, 1000)):
            model, _ = conv_table.model_for(arch, "max", train)
            assert table.lookup(data, choice.model_key(model), batch, train), (arch, batch)
