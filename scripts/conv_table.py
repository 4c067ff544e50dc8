"""Measure this machine's convolution plan choices into the plan table shipped with jaxcnn.

The command line is :mod:`jaxcnn.cli.conv_table` (``--help`` lists its flags).
"""

from jaxcnn.cli.conv_table import main

if __name__ == "__main__":
    raise SystemExit(main())
