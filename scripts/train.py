"""Train one of the five course CNNs with its notebook recipe, in JAX or PyTorch.

The command line is :mod:`jaxcnn.cli.train` (``--help`` lists its flags).
"""

import sys

from jaxcnn.runtime.interrupts import quiet_during_start_up

if __name__ == "__main__":
    quiet_during_start_up()  # Ctrl-C while JAX loads: one line, exit 130
    from jaxcnn.cli.train import main

    sys.exit(main())
