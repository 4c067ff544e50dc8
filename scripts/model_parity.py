"""Print how closely each jaxcnn model matches its PyTorch original, as a Markdown table
(parameter counts, forward and gradient differences on real test images).

The command line is :mod:`jaxcnn.cli.model_parity` (``--help`` lists its flags).

Usage: python scripts/model_parity.py [--images N] [--out FILE.json] [--data-dir NAME=DIR]
"""

import sys

from jaxcnn.cli.model_parity import main

if __name__ == "__main__":
    sys.exit(main())
