"""Each architecture's training recipe, as its notebook ran it.

Seeds: notebooks 002 and 003 call ``torch.manual_seed(42)``; 000, 001 and 004 set no seed, so
their recipes use seed 0. Every field can be overridden (``Recipe.replace`` / ``scripts/train.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from jaxcnn.net.options import check_options

DATASETS = ("mnist", "fashion_mnist", "cifar10")
LOSSES = ("nll", "cross_entropy", "log_nll")  # jaxcnn.training.losses, torch_ref.train.LOSSES
OPTIMIZERS = ("sgd", "adam")  # jaxcnn.training.optim, torch_ref.train.make_optimizer
NORMALIZATIONS = ("none", "half", "mnist", "cifar10")


@dataclass(frozen=True)
class Recipe:
    """Everything that defines one training run."""

    arch: str
    dataset: str
    normalization: str  # a jaxcnn.data.transforms normalisation after ToTensor
    loss: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    momentum: float = 0.0
    seed: int = 0
    model_options: dict = field(default_factory=dict)
    notes: str = ""

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> Recipe:
        """Return ``self`` after checking every field, or raise ``ValueError`` naming it."""
        check_options(self.arch, self.model_options)
        for name, value, valid in (("dataset", self.dataset, DATASETS),
                                   ("normalization", self.normalization, NORMALIZATIONS),
                                   ("loss", self.loss, LOSSES),
                                   ("optimizer", self.optimizer, OPTIMIZERS)):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(valid)}")
        for name in ("batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("momentum applies to the sgd optimizer only")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPES: dict[str, Recipe] = {recipe.arch: recipe for recipe in (
    Recipe(
        "padded", "mnist", "none", "nll", "adam", 1e-3, batch_size=10, epochs=3,
        notes="Notebook 000's quirk: nll_loss on softmax probabilities minimises -p_y, not "
              "-log p_y. Pass --loss log_nll for the corrected loss.",
    ),
    Recipe("dropout", "mnist", "half", "cross_entropy", "sgd", 0.01, batch_size=64,
           epochs=25),
    Recipe("classic", "mnist", "mnist", "nll", "sgd", 1e-3, batch_size=50, epochs=5,
           momentum=0.9, seed=42),
    Recipe("lenet3x3", "mnist", "none", "cross_entropy", "adam", 1e-3, batch_size=10,
           epochs=5, seed=42),
    Recipe("lenet", "fashion_mnist", "none", "cross_entropy", "sgd", 1e-3, batch_size=64,
           epochs=10),
)}


def get_recipe(arch: str) -> Recipe:
    """The notebook recipe of ``arch``."""
    if arch not in RECIPES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[arch]
