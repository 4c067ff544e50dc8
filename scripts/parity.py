"""Train JAX and PyTorch side by side and report how far they drift.

The command line is :mod:`jaxcnn.cli.parity` (``--help`` lists its flags).
"""

from jaxcnn.cli.parity import main

if __name__ == "__main__":
    main()
