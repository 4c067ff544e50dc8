"""What each original notebook printed about its own training run, as the figures to compare with.

Every figure is keyed by a seed-study variant (:mod:`jaxcnn.studies.seed_study`: an architecture
with its notebook recipe, ``padded+avg`` for notebook 000's second run), a metric
(``test_accuracy``, ``test_loss``, ``train_accuracy``, fractions and mean losses as
:mod:`jaxcnn.training.run` records them) and the epoch (from 1) after which it was printed. A
printed figure stands for an interval: the values that print the same (``round(x, 3)`` prints 0.875
for any x in [0.8745, 0.8755); ``%d`` prints 98 for [98, 99)). ``low == high`` marks a figure
printed in full.

The notebooks, by number:

* 000 ``padded``: ``round(correct / total, 3)`` after 3 epochs, max pooling 0.875, average
  pooling 0.894. Its per-epoch "losses" are the last batch's only.
* 001 ``dropout``: ``'%.2f %%'`` test accuracy after epochs 1 to 3 (92.03, 94.77, 96.37); the
  file is cut off there, and its text claims "< 2 % test error" after 25 epochs. It evaluates
  without ``model.eval()``, i.e. with Dropout2d active; jaxcnn evaluates in eval mode.
* 002 ``classic``: ``'%d %%'`` test accuracy after 5 epochs: 98, i.e. [98 %, 99 %).
* 003 ``lenet3x3``: the running train-mode accuracy of each epoch (``'%7.3f%%'``, the same
  quantity as ``train_accuracy``) and the final test accuracy 9848/10000. Its printed test
  losses are the last test batch's only.
* 004 ``lenet``: after each of the 10 epochs, the test accuracy in full (``100*correct``) and
  the test loss, which is the mean of the 157 batch means (the last batch of 16 weighs 4 times
  as much per image as the others); jaxcnn's ``test_loss`` is the per-image mean.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS = ("test_accuracy", "test_loss", "train_accuracy")


@dataclass(frozen=True)
class NotebookFigure:
    """One printed figure and the interval of values that print as it."""

    variant: str
    notebook: str
    metric: str
    epoch: int
    printed: str  # the text the notebook printed
    value: float  # that figure as a fraction (accuracies) or a mean loss
    low: float  # the values that print as ``printed``: [low, high), or exactly low == high
    high: float
    note: str = ""


def _rounded(variant: str, notebook: str, metric: str, epoch: int, printed: str, value: float,
             half_width: float, note: str = "") -> NotebookFigure:
    return NotebookFigure(variant, notebook, metric, epoch, printed, value, value - half_width,
                          value + half_width, note)


def _exact(variant: str, notebook: str, metric: str, epoch: int, printed: str, value: float,
           note: str = "") -> NotebookFigure:
    return NotebookFigure(variant, notebook, metric, epoch, printed, value, value, value, note)


_NB001 = "evaluated in train mode (Dropout2d on); later epochs cut off in the notebook"
_NB004_LOSS = "mean of the 157 test batches' mean losses"

FIGURES: tuple[NotebookFigure, ...] = (
    _rounded("padded", "000", "test_accuracy", 3, "0.875", 0.875, 0.0005, "round(acc, 3)"),
    _rounded("padded+avg", "000", "test_accuracy", 3, "0.894", 0.894, 0.0005, "round(acc, 3)"),
    *(_rounded("dropout", "001", "test_accuracy", e, f"{p:.2f} %", p / 100, 0.00005, _NB001)
      for e, p in ((1, 92.03), (2, 94.77), (3, 96.37))),
    NotebookFigure("classic", "002", "test_accuracy", 5, "98 %", 0.98, 0.98, 0.99,
                   "printed with %d: 98.00-98.99 %"),
    *(_rounded("lenet3x3", "003", "train_accuracy", e, f"{p:.3f}%", p / 100, 0.000005)
      for e, p in ((1, 94.245), (2, 97.990), (3, 98.515), (4, 98.863), (5, 99.027))),
    _exact("lenet3x3", "003", "test_accuracy", 5, "9848/10000 = 98.480%", 0.9848),
    *(_exact("lenet", "004", "test_accuracy", e, f"{p}%", round(p / 100, 6))
      for e, p in ((1, 18.54), (2, 19.15), (3, 27.27), (4, 37.69), (5, 56.10000000000001),
                   (6, 58.5), (7, 62.06), (8, 64.85), (9, 66.03), (10, 67.84))),
    *(_exact("lenet", "004", "test_loss", e, repr(loss), loss, _NB004_LOSS)
      for e, loss in ((1, 2.2949774462705963), (2, 2.2815550937774076), (3, 2.251834899756559),
                      (4, 2.145780592207696), (5, 1.6313464930103083), (6, 1.1526154074699255),
                      (7, 1.0044642565356698), (8, 0.9380410051649544), (9, 0.9034938242784731),
                      (10, 0.8696510233696858))),
)


def figures_for(variant: str, metric: str | None = None) -> list[NotebookFigure]:
    """The figures printed for ``variant`` (optionally of one ``metric``), by epoch."""
    return sorted((f for f in FIGURES if f.variant == variant
                   and (metric is None or f.metric == metric)), key=lambda f: (f.metric, f.epoch))


def headline(variant: str) -> NotebookFigure | None:
    """The notebook's last printed test accuracy for ``variant`` (its final figure where it
    printed one), or ``None``."""
    figures = figures_for(variant, "test_accuracy")
    return figures[-1] if figures else None
