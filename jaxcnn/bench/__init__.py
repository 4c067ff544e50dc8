"""JAX against PyTorch on the five course CNNs, side by side in one process.

:mod:`.variants` wraps each way of training (jaxcnn's engine with either convolution, PyTorch
eager on preloaded tensors, the notebooks' torchvision ``DataLoader`` pipeline,
``torch.compile``) behind one small interface; :mod:`.measure` times them interleaved, repeat
after repeat, so that machine noise hits all alike; :mod:`.machine` describes the device and its
peak; :mod:`.e2e` times whole recipe trainings; :mod:`.report` writes JSON and Markdown.
``scripts/bench.py`` is the command line.
"""

from jaxcnn.bench.measure import BenchConfig, run_benchmark
from jaxcnn.bench.report import write_outputs

__all__ = ["BenchConfig", "run_benchmark", "write_outputs"]
