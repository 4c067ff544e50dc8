"""Suite-wide settings: the convolution plan, its cache and its table are pinned, so that results
never depend on timings, on a cache left on the machine or on the shipped table.

The plan is ``gemm``, what ``auto`` picks for training on a CPU (``JAXCNN_CONV=xla pytest`` runs
the suite on XLA's convolution); tests of the measured choice set their own. The cache folder is
a fresh one, so the scripts run by the tests share JAX's compilation cache with each other only.
"""

import os
import tempfile

os.environ.setdefault("JAXCNN_CONV", "gemm")
# nor on the plan table shipped with the package: tests/test_conv_table.py points at tables.
os.environ.setdefault("JAXCNN_CONV_TABLE", "off")
os.environ["JAXCNN_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxcnn-test-cache-")
# No test downloads from the internet: only tests/test_data_download.py downloads, from a
# server of its own on 127.0.0.1, and it turns this off for its own calls.
os.environ["JAXCNN_OFFLINE"] = "1"

# The suite compares the two frameworks throughout: true float32 in both
# (jaxcnn.runtime.precision), and JAX allocating GPU memory as it goes, next to PyTorch
# (jaxcnn.runtime.gpu_memory), when run on a GPU.
from jaxcnn.runtime import gpu_memory, precision  # noqa: E402

gpu_memory.share_with_torch()
precision.apply(precision.PARITY)
