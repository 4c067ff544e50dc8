"""Benchmark jaxcnn's training engine against PyTorch, every variant in processes of its own.

The command line is :mod:`jaxcnn.cli.bench` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
