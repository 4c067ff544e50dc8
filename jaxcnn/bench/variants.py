"""The ways of training that the benchmark compares, behind one interface.

A variant is set up for one :class:`Case` (architecture, recipe at a batch size, data), then
asked to ``train`` over lists of batch indices and to ``infer`` over the test images (at
``Case.infer_batch``, eval mode); both return seconds of wall time, synchronised (results on the
host). The first calls include compilation. Each benchmark process runs one variant
(:mod:`jaxcnn.bench.worker`).
"""

from __future__ import annotations

import gzip
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxcnn import conv
from jaxcnn.data import Dataset
from jaxcnn.training.recipes import Recipe
from jaxcnn.training.trainer import EVAL_BATCH, JaxTrainer, Split

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
INFER_BATCH = EVAL_BATCH  # 1000, as scripts/train.py evaluates


@dataclass
class Case:
    """One architecture at one batch size: the recipe and its data, preprocessed and raw."""

    recipe: Recipe  # with the benchmarked batch size
    train: Split | None  # the first --train-images training images, preprocessed
    test: Split | None  # the first --test-images test images, preprocessed
    raw_train: Dataset  # the same images as uint8, for the torchvision pipeline
    raw_test: Dataset
    torchvision_root: Path | None  # a root in torchvision's layout (notebook pipeline)
    infer_batch: int = INFER_BATCH  # inference batch size (eval mode)


class Unavailable(RuntimeError):
    """The variant cannot run on this machine; the message says why."""


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


class JaxEngine:
    """jaxcnn's training engine (what ``scripts/train.py`` runs) with convolution plan ``plan``
    (``auto``: chosen by measurement, the default; else forced, as ``--conv PLAN``)."""

    def __init__(self, plan: str = conv.AUTO, steps_per_call: int | None = None):
        self.plan = plan
        self.steps_per_call = steps_per_call
        scan = f", {steps_per_call} steps per call" if steps_per_call else ""
        self.name = f"jax ({plan} conv{scan})"

    def setup(self, case: Case) -> None:
        conv.set_override(self.plan)  # process-wide: one variant per benchmark process
        self.trainer = JaxTrainer(case.recipe, case.train, case.test)
        if self.steps_per_call:
            self.trainer.engine.steps_per_call = self.steps_per_call
        self.infer_batch = case.infer_batch
        shape = np.shape(case.train[0])[1:]
        engine = self.trainer.engine
        # The choices the trainer made when it was built (known now: no new timing).
        self.plans = {
            "train": engine.prepare(case.recipe.batch_size, shape, train=True),
            "infer": engine.prepare(min(case.infer_batch, len(case.test[1])), shape,
                                    train=False),
        }

    def train(self, batches: list[np.ndarray]) -> float:
        return _timed(self.trainer.train_epoch, batches, epoch=1, progress=False)

    def infer(self) -> float:
        t = self.trainer
        return _timed(t.engine.predict, t.state, t.test_x, self.infer_batch)


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
        self.infer_batch = case.infer_batch

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
            outputs = [self.model(self.test_x[i:i + self.infer_batch]).cpu()
                       for i in range(0, len(self.test_x), self.infer_batch)]
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
                                      batch_size=case.infer_batch)

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
    "jax": JaxEngine,
    "jax-scan": lambda: JaxEngine(steps_per_call=16),
    **{f"jax-{name}": (lambda name=name: JaxEngine(name)) for name in conv.PLANS},
    "torch": TorchEager,
    "torch-notebook": TorchNotebook,
    "torch-compile": TorchCompiled,
}
BASELINE = "jax"  # scripts/train.py's default: the numerator of every ratio
DEFAULT_VARIANTS = ("jax", "jax-xla", "torch", "torch-notebook", "torch-compile")


def framework(variant: str) -> str:
    """``jax`` or ``torch``: the framework a variant runs."""
    return variant.split("-", 1)[0]
