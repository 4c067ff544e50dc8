"""Time single convolution layers alone: XLA:CPU (forward, input gradient, weight gradient) against
PyTorch (forward, forward + backward), to show where a training step's time goes.

The command line is :mod:`jaxcnn.cli.conv_probe` (``--help`` lists its flags).
"""

from jaxcnn.cli.conv_probe import main

if __name__ == "__main__":
    main()
