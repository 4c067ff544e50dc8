"""Train N seeds of notebook recipes in JAX and PyTorch and report their distributions.

The command line is :mod:`jaxcnn.cli.seeds` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.seeds import main

if __name__ == "__main__":
    sys.exit(main())
