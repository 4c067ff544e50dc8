"""On PYTHONPATH, makes this interpreter behave as if PyTorch were not installed: ``import torch``
raises ImportError and ``importlib.util.find_spec("torch")`` is None (used by
tests/test_notebooks.py to run a lab, and its kernel, without torch)."""

import sys

sys.modules["torch"] = None
