"""jaxcnn.training.report: statistics, first-conv maps against PyTorch, report.md and its PNGs,
load_run."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import safetensors.numpy
import torch
from data_helpers import fashion_dir, require_idx

import torch_ref
from jaxcnn.data import load, preprocess
from jaxcnn.training.recipes import get_recipe
from jaxcnn.training.report import (
    confusion_matrix,
    first_conv_maps,
    first_conv_weight,
    load_run,
    per_class_accuracy,
    write_report,
)
from jaxcnn.training.rundir import RunFileError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The first conv layer of each original, by its PyTorch module path.
FIRST_CONV = {"lenet": "conv_stack.0", "padded": "conv1", "dropout": "conv1.0"}
HISTORY = [
    {"epoch": 1, "train_loss": 1.9, "train_accuracy": 0.41, "test_loss": 1.2,
     "test_accuracy": 0.58, "seconds": 2.0, "images_per_second": 500.0},
    {"epoch": 2, "train_loss": 1.0, "train_accuracy": 0.63, "test_loss": 0.9,
     "test_accuracy": 0.66, "seconds": 2.0, "images_per_second": 500.0},
]


@pytest.fixture(scope="module")
def fashion_test():
    return load("fashion_mnist", "test", data_dir=require_idx(fashion_dir(), "Fashion-MNIST"))


def trained_lenet(images: np.ndarray, labels: np.ndarray, steps: int = 30) -> torch.nn.Module:
    """A torch_ref LeNet after a few Adam steps on ``images`` (so its predictions vary)."""
    model = torch_ref.create_model("lenet", seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.from_numpy(preprocess(images, "none").transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(np.array(labels))
    for step in range(steps):
        batch = slice(64 * step % len(x), 64 * step % len(x) + 64)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    return model.eval()


def test_confusion_matrix_by_hand():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0, 0],
                         [0, 1, 0, 0],
                         [1, 0, 2, 0],
                         [0, 0, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 4), expected)
    np.testing.assert_allclose(per_class_accuracy(labels, predictions, 4),
                               [0.5, 1.0, 2 / 3, np.nan])


def test_confusion_matrix_brute_force():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    brute = np.zeros((7, 7), dtype=np.int64)
    for true, predicted in zip(labels, predictions, strict=True):
        brute[true, predicted] += 1
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 7), brute)
    accuracy = [np.mean(predictions[labels == c] == c) for c in range(7)]
    np.testing.assert_allclose(per_class_accuracy(labels, predictions, 7), accuracy)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


@pytest.mark.parametrize(("arch", "options"), [("lenet", {}), ("padded", {}), ("dropout", {}),
                                               ("lenet", {"batchnorm": True, "dropout": 0.5})])
def test_first_conv_maps_match_torch(fashion_test, arch, options):
    model = torch_ref.create_model(arch, seed=3, **options).eval()
    state_dict = {k: v.numpy() for k, v in model.state_dict().items()}
    image = preprocess(fashion_test.images[7:8], "mnist")
    conv = model.get_submodule(FIRST_CONV[arch])
    with torch.no_grad():
        expected = conv(torch.from_numpy(image.transpose(0, 3, 1, 2).copy()))[0].numpy()
    maps = first_conv_maps(arch, options, state_dict, image[0])
    assert maps.shape == expected.shape  # (C, H, W); padded keeps 28×28 (padding 2)
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(first_conv_weight(arch, options, state_dict),
                                  conv.weight.detach().numpy())


def test_write_report(fashion_test, tmp_path):
    images, labels = fashion_test.images[:1000], fashion_test.labels[:1000]
    model = trained_lenet(images, labels)
    with torch.no_grad():
        outputs = model(torch.from_numpy(preprocess(images, "none").transpose(0, 3, 1, 2)
                                         .copy())).numpy()
    recipe = get_recipe("lenet").replace(notes="a quirk worth knowing")
    config = {"recipe": recipe.to_dict(), "framework": "torch"}
    state_dict = {k: v.numpy() for k, v in model.state_dict().items()}

    path = write_report(tmp_path, config=config, history=HISTORY, test_images=images,
                        test_labels=labels, outputs=outputs,
                        class_names=fashion_test.class_names, state_dict=state_dict,
                        sample_index=5)

    text = path.read_text()
    assert path == tmp_path / "report.md"
    assert text.startswith("# lenet on fashion_mnist (torch)")
    assert "a quirk worth knowing" in text
    correct = int((outputs.argmax(1) == labels).sum())
    assert 100 < correct < 1000  # the few steps did train it
    assert f"{correct}/1000 = {correct / 10:.2f}%" in text
    assert "| 2 | 1.0000 | 63.00% | 0.9000 | 66.00% |" in text
    first_miss = int(np.flatnonzero(outputs.argmax(1) != labels)[0])
    assert f"| {first_miss} | {fashion_test.class_names[labels[first_miss]]} |" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 6
    for link in links:
        assert (tmp_path / link).read_bytes()[:8] == PNG_SIGNATURE, link


def test_load_run(tmp_path):
    state_dict = {"conv1.weight": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}
    (tmp_path / "config.json").write_text(json.dumps({"framework": "jax"}))
    with pytest.raises(RunFileError, match="metrics.jsonl.*still running"):
        load_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    with pytest.raises(RunFileError, match="model.safetensors is missing"):
        load_run(tmp_path)
    safetensors.numpy.save_file(state_dict, str(tmp_path / "model.safetensors"))
    config, history, loaded = load_run(tmp_path)
    assert config == {"framework": "jax"} and history == HISTORY
    np.testing.assert_array_equal(loaded["conv1.weight"], state_dict["conv1.weight"])
    with pytest.raises(RunFileError, match="not a directory"):
        load_run(tmp_path / "absent")
