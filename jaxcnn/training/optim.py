"""optax optimisers with ``torch.optim``'s definitions.

* ``sgd``: ``p -= lr * g`` (``torch.optim.SGD(lr)``), or with ``momentum`` m > 0 the heavy-ball
  form ``v = m*v + g; p -= lr * v`` of ``torch.optim.SGD(lr, momentum=m)`` (optax's ``trace``).
* ``adam``: ``torch.optim.Adam(lr)`` defaults, betas (0.9, 0.999), eps 1e-8 added to
  ``sqrt(v_hat)``, which is ``optax.adam``'s placement too.
"""

from __future__ import annotations

import optax

from jaxcnn.training.recipes import OPTIMIZERS, Recipe


def make_optimizer(recipe: Recipe) -> optax.GradientTransformation:
    """The optimiser of ``recipe`` (its ``optimizer``, ``lr`` and ``momentum``)."""
    name, lr, momentum = recipe.optimizer, recipe.lr, recipe.momentum
    if name == "sgd":
        return optax.sgd(lr, momentum=momentum or None)
    if name == "adam":
        if momentum:
            raise ValueError("--momentum applies to sgd only; adam uses betas (0.9, 0.999)")
        return optax.adam(lr, b1=0.9, b2=0.999, eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
