"""Train one of the five course CNNs with its notebook recipe, in JAX or PyTorch.

The command line is :mod:`jaxcnn.cli.train` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
