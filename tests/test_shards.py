"""Sweeps split into shards (``--shard K/N``) and merged (``--merge DIR...``): the merged
records are an unsharded run's, and shards that are missing, unfinished, repeated or from
another command are refused with exit status 2. Small real runs (one epoch on a few hundred
Fashion-MNIST images), the scripts called in this process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_helpers import fashion_dir, require_idx

from jaxcnn.cli import compare_pooling
from jaxcnn.cli import seeds as seeds_cli
from jaxcnn.studies import shards

TIMING = {"seconds", "group_seconds", "finished", "group"}


@pytest.fixture(scope="module")
def fashion() -> str:
    return f"fashion_mnist={require_idx(fashion_dir(), 'Fashion-MNIST')}"


def seeds(*argv: str) -> int:
    return seeds_cli.main(list(argv))


def pooling(*argv: str) -> int:
    return compare_pooling.main(list(argv))


def records(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in rows),
                  key=lambda r: (r["variant"], r["framework"], r["seed"]))


def test_shard_arguments_and_slurm_arrays() -> None:
    assert shards.parse("1/3").take(range(8)) == [1, 4, 7]
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(Exception, match="K/N"):
            shards.parse(bad)
    array = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4",
             "SLURM_ARRAY_TASK_COUNT": "3"}
    assert shards.from_environment(array) == shards.Shard(1, 3)
    assert shards.from_environment({}) is None
    with pytest.raises(shards.ShardError, match="SLURM_ARRAY_TASK_ID=9"):
        shards.from_environment({**array, "SLURM_ARRAY_TASK_ID": "9"})


def test_merged_seed_shards_are_the_unsharded_run(fashion, tmp_path: Path, capsys) -> None:
    study = ["--arch", "lenet", "--seeds", "4", "--framework", "jax", "--epochs", "1",
             "--train-subset", "640", "--test-subset", "200", "--group-size", "1",
             "--data-dir", fashion, "--no-progress"]
    assert seeds(*study, "--out", str(tmp_path / "whole")) == 0
    for k in (0, 1):
        assert seeds(*study, "--shard", f"{k}/2", "--out", str(tmp_path / "split")) == 0
    shard0, shard1 = (tmp_path / "split" / f"shard-{k}-of-2" for k in (0, 1))
    assert [r["seed"] for r in records(shard0 / "seeds.jsonl")] == [0, 2]
    assert not (tmp_path / "split" / "seeds.md").exists()  # a shard writes no report

    assert seeds("--merge", str(tmp_path / "split"), "--out", str(tmp_path / "split")) == 0
    assert records(tmp_path / "split" / "seeds.jsonl") == \
        records(tmp_path / "whole" / "seeds.jsonl")
    assert (tmp_path / "split" / "seeds.md").is_file()
    capsys.readouterr()

    def refused(*folders: Path, out: Path = tmp_path / "merged") -> str:
        assert seeds("--merge", *map(str, folders), "--out", str(out)) == 2
        assert not (out / "seeds.jsonl").exists()
        return capsys.readouterr().err

    assert "shard(s) 1/2 missing: 1 of 2 given" in refused(shard0)
    assert "shard 0/2 is given twice" in refused(shard0, shard0, shard1)
    # A shard 1 of another command (two epochs): a real run, merged with the first's shard 0.
    assert seeds(*study, "--epochs", "2", "--shard", "1/2", "--out", str(tmp_path / "other")) == 0
    assert "are shards of different sweeps (epochs: 2 against 1)" in refused(
        shard0, tmp_path / "other" / "shard-1-of-2")
    # A shard that has not finished (its last seed's line lost, as after a kill).
    unfinished = tmp_path / "unfinished"
    shutil.copytree(shard1, unfinished)
    lines = (unfinished / "seeds.jsonl").read_text().splitlines(keepends=True)
    (unfinished / "seeds.jsonl").write_text("".join(lines[:-1]))
    assert "shard 1/2 (" in (text := refused(shard0, unfinished)) and \
        "is not finished: 1 of 2 seeds missing (first: lenet jax 3)" in text
    # Shard folders are not rewritten by a shard of another command.
    with pytest.raises(SystemExit):
        seeds(*study, "--train-subset", "320", "--shard", "0/2", "--out", str(tmp_path / "split"))
    assert "belongs to another sweep or shard (train_subset: 640 against 320)" in \
        capsys.readouterr().err


def test_merged_pooling_shards_are_the_unsharded_run(fashion, tmp_path: Path, capsys) -> None:
    grid = ["--archs", "lenet3x3", "--pools", "max", "avg", "--datasets", "fashion_mnist",
            "--seeds", "3", "--epochs", "1", "--train-subset", "300", "--data-dir", fashion,
            "--no-progress"]
    assert pooling(*grid, "--out", str(tmp_path / "whole")) == 0
    for k in (1, 0):
        assert pooling(*grid, "--shard", f"{k}/2", "--out", str(tmp_path / "split")) == 0
    assert pooling(*grid, "--shard", "0/2", "--out", str(tmp_path / "split")) == 0  # resumed
    assert "0 cells trained (2 kept)" in capsys.readouterr().out
    assert pooling("--merge", str(tmp_path / "split"), "--out", str(tmp_path / "split")) == 0
    whole, merged = (json.loads((tmp_path / d / "results.json").read_text())["runs"]
                     for d in ("whole", "split"))
    assert [r["seeds"] for r in merged] == [[0, 1, 2]] * 2
    for a, b in zip(whole, merged, strict=True):
        assert {k: v for k, v in a.items() if k not in ("seconds", "accuracy")} == \
            {k: v for k, v in b.items() if k not in ("seconds", "accuracy")}
        # Seeds trained in other groups: their weights agree to float32 rounding
        # (tests/test_multiseed.py), which may move one borderline test image of 10,000.
        assert max(abs(x - y) for x, y in zip(a["accuracy"], b["accuracy"], strict=True)) <= 1e-4
    capsys.readouterr()
    assert pooling("--merge", str(tmp_path / "split" / "shard-1-of-2"), "--out",
                   str(tmp_path / "merged")) == 2
    assert "shard(s) 0/2 missing" in capsys.readouterr().err
