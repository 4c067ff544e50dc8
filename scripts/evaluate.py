"""Evaluate a saved run on its test set: accuracy, per-class accuracy, confusion matrix.

The command line is :mod:`jaxcnn.cli.evaluate` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
