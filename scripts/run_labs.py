"""Execute the lab notebooks top to bottom and save them in place with their outputs.

The command line is :mod:`jaxcnn.cli.run_labs` (``--help`` lists its flags).
"""

import sys

from jaxcnn.cli.run_labs import main

if __name__ == "__main__":
    sys.exit(main())
