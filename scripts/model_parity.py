"""Print how closely each jaxcnn model matches its PyTorch original, as a Markdown table.

Per architecture and option variant (:mod:`jaxcnn.parity.variants`): parameter counts in both
frameworks; the largest eval-mode output difference on real MNIST and Fashion-MNIST test images
(the 3-channel 32×32 lenet gets images built from Fashion-MNIST), with PyTorch's init weights and
with Flax's; and the largest difference of the notebook loss's gradients (eval mode, PyTorch's
init), absolute and relative (per tensor max |g_jax - g_torch| / max |g_torch|, then the largest
over tensors). Gradient batches leave out samples with a pre-activation within 1e-6 of a ReLU
kink or a max-pool window whose two largest inputs are within 1e-6 (measured in float64, where
only structural ties are exact), where the two frameworks may legitimately take different sides.

The command line is :mod:`jaxcnn.cli.model_parity`.

Usage: python scripts/model_parity.py [--images N] [--out FILE.json] [--data-dir NAME=DIR]
"""

import sys

from jaxcnn.cli.model_parity import main

if __name__ == "__main__":
    sys.exit(main())
