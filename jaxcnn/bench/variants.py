"""The ways of training that the benchmark compares, behind one interface.

A variant is set up for one :class:`Case` (architecture, recipe at a batch size, data), then
asked to ``train`` over lists of batch indices and to ``infer`` over the test images; both return
seconds of wall time, synchronised (results on the host). The first calls include compilation.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxcnn import conv
from jaxcnn.conv.choice import ENV_VAR as CONV_ENV_VAR
from jaxcnn.data import Dataset
from jaxcnn.recipes import Recipe
from jaxcnn.training import JaxTrainer, Split

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass
class Case:
    """One architecture at one batch size: the recipe and its data, preprocessed and raw."""

    recipe: Recipe  # with the benchmarked batch size
    train: Split | None  # the first --train-images training images, preprocessed
    test: Split | None  # the first --test-images test images, preprocessed
    raw_train: Dataset  # the same images as uint8, for the torchvision pipeline
    raw_test: Dataset
    torchvision_root: Path | None  # a root in torchvision's layout (notebook pipeline)


class Unavailable(RuntimeError):
    """The variant cannot run on this machine; the message says why."""


@contextlib.contextmanager
def _conv_env(implementation: str | None) -> Iterator[None]:
    """``$JAXCNN_CONV`` set to ``implementation`` (unchanged when None) for model creation."""
    saved = os.environ.get(CONV_ENV_VAR)
    if implementation:
        os.environ[CONV_ENV_VAR] = implementation
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(CONV_ENV_VAR, None)
        else:
            os.environ[CONV_ENV_VAR] = saved


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


class JaxEngine:
    """jaxcnn's training engine (what ``scripts/train.py`` runs), with a chosen convolution."""

    def __init__(self, conv: str, steps_per_call: int | None = None):
        self.conv = conv
        self.steps_per_call = steps_per_call
        scan = f", {steps_per_call} steps per call" if steps_per_call else ""
        self.name = f"jax ({conv} conv{scan})"

    def setup(self, case: Case) -> None:
        with _conv_env(self.conv):
            self.trainer = JaxTrainer(case.recipe, case.train, case.test)
        if self.steps_per_call:
            self.trainer.engine.steps_per_call = self.steps_per_call
        self.batch_size = case.recipe.batch_size

    def train(self, batches: list[np.ndarray]) -> float:
        return _timed(self.trainer.train_epoch, batches, epoch=1, progress=False)

    def infer(self) -> float:
        t = self.trainer
        return _timed(t.engine.predict, t.state, t.test_x, self.batch_size)


class TorchEager:
    """PyTorch eager: torch_ref's model, optimiser and loss on preloaded tensors, the batch
    order of the JAX engine, each step as ``torch_ref.train.TorchTrainer`` takes it."""

    name = "torch eager"

    def setup(self, case: Case) -> None:
        import torch

        from jaxcnn.bench.machine import torch_device
        from torch_ref import create_model
        from torch_ref.train import LOSSES, make_optimizer

        self.device = torch.device(torch_device())
        torch.manual_seed(case.recipe.seed)
        model = create_model(case.recipe.arch, seed=case.recipe.seed,
                             **case.recipe.model_options).to(self.device)
        self.model = self.wrap(model)
        self.optimizer = make_optimizer(case.recipe, model.parameters())
        self.loss_fn = LOSSES[case.recipe.loss]
        self.train_x, self.train_y = (_to_torch(a, self.device) for a in case.train)
        self.test_x = _to_torch(case.test[0], self.device)
        self.batch_size = case.recipe.batch_size

    def wrap(self, model):
        return model

    def _sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def train(self, batches: list[np.ndarray]) -> float:
        import torch

        start = time.perf_counter()
        self.model.train()
        loss_sum, correct = 0.0, 0
        for idx in batches:
            index = torch.from_numpy(idx).to(self.device)
            images, labels = self.train_x[index], self.train_y[index]
            self.optimizer.zero_grad(set_to_none=True)
            output = self.model(images)
            loss = self.loss_fn(output, labels)
            if not torch.isfinite(loss):
                raise FloatingPointError("non-finite loss")
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((output.argmax(1) == labels).sum())
        self._sync()
        return time.perf_counter() - start

    def infer(self) -> float:
        import torch

        start = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            outputs = [self.model(self.test_x[i:i + self.batch_size]).cpu()
                       for i in range(0, len(self.test_x), self.batch_size)]
        torch.cat(outputs).numpy()
        return time.perf_counter() - start


class TorchCompiled(TorchEager):
    """:class:`TorchEager` with ``torch.compile(model)`` (inductor)."""

    name = "torch.compile"

    def setup(self, case: Case) -> None:
        try:
            super().setup(case)
            self.train([np.arange(self.batch_size)])  # compiles now, or fails
        except Exception as err:  # inductor needs a working C++ toolchain, among others
            raise Unavailable(f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from err

    def wrap(self, model):
        import torch

        return torch.compile(model)


class TorchNotebook:
    """The notebooks' pipeline: ``torchvision.datasets`` with ``Compose([ToTensor(),
    Normalize(...)])``, ``DataLoader(batch_size, shuffle=True)``, the notebook loop."""

    name = "torch notebook (DataLoader)"

    def setup(self, case: Case) -> None:
        import torch
        import torchvision.transforms as T
        from torch.utils.data import DataLoader, Subset

        from jaxcnn.bench.machine import torch_device
        from jaxcnn.data.transforms import NORMALIZATIONS
        from torch_ref import create_model
        from torch_ref.train import LOSSES, make_optimizer

        if case.torchvision_root is None:
            raise Unavailable("no torchvision data root (data set not in IDX files)")
        recipe = case.recipe
        stats = NORMALIZATIONS[recipe.normalization]
        transform = T.Compose([T.ToTensor(), *([T.Normalize(*stats)] if stats else [])])
        train_set = _torchvision_set(recipe.dataset, case.torchvision_root, True, transform)
        test_set = _torchvision_set(recipe.dataset, case.torchvision_root, False, transform)
        self.device = torch.device(torch_device())
        torch.manual_seed(recipe.seed)
        self.model = create_model(recipe.arch, seed=recipe.seed,
                                  **recipe.model_options).to(self.device)
        self.optimizer = make_optimizer(recipe, self.model.parameters())
        self.loss_fn = LOSSES[recipe.loss]
        self.train_loader = DataLoader(Subset(train_set, range(len(case.raw_train))),
                                       batch_size=recipe.batch_size, shuffle=True)
        self.test_loader = DataLoader(Subset(test_set, range(len(case.raw_test))),
                                      batch_size=recipe.batch_size)

    def train(self, batches: list[np.ndarray]) -> float:
        """As many DataLoader batches as ``batches`` holds (its own shuffled order)."""
        start = time.perf_counter()
        self.model.train()
        running_loss = 0.0
        for step, (images, labels) in enumerate(self.train_loader):
            if step == len(batches):
                break
            images, labels = images.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(images), labels)
            loss.backward()
            self.optimizer.step()
            running_loss += loss.item()
        return time.perf_counter() - start

    def infer(self) -> float:
        import torch

        start = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            for images, _ in self.test_loader:
                self.model(images.to(self.device)).argmax(1).cpu()
        return time.perf_counter() - start


def _to_torch(array: np.ndarray, device):
    import torch

    if array.ndim == 4:  # NHWC -> NCHW, contiguous
        array = np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    return torch.from_numpy(np.array(array)).to(device)


def _torchvision_set(dataset: str, root: Path, train: bool, transform):
    import torchvision.datasets as datasets

    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[dataset]
    return cls(root, train=train, download=False, transform=transform)


def torchvision_root(raw: Dataset, root: Path) -> Path | None:
    """``root`` laid out as torchvision wants (``<root>/MNIST/raw/<files>``, decompressed),
    from the IDX files ``raw`` was read from; None when they are not IDX files."""
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}.get(raw.name)
    source = Path(raw.source)
    if folder is None or not source.is_dir():
        return None
    target = root / folder / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        if (target / name).exists():
            continue
        if (source / name).exists():
            (target / name).symlink_to((source / name).resolve())
        else:
            with gzip.open(source / f"{name}.gz", "rb") as src, open(target / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


VARIANTS = {
    "jax-slices": lambda: JaxEngine("slices"),
    "jax-xla": lambda: JaxEngine("xla"),
    "jax-scan": lambda: JaxEngine(conv.requested(), steps_per_call=16),
    "torch": TorchEager,
    "torch-notebook": TorchNotebook,
    "torch-compile": TorchCompiled,
}
DEFAULT_VARIANTS = ("jax-slices", "jax-xla", "torch", "torch-notebook", "torch-compile")
