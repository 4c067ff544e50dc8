"""Max against average pooling (and LP pooling), over seeds, architectures and data sets.

The command line is :mod:`jaxcnn.cli.compare_pooling` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.compare_pooling import main

if __name__ == "__main__":
    sys.exit(main())
