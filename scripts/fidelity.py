"""Train every notebook recipe in both frameworks and compare with the notebooks' accuracies.

The command line is :mod:`jaxcnn.cli.fidelity` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.fidelity import main

if __name__ == "__main__":
    sys.exit(main())
