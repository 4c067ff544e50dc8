"""Cross-framework training parity: jaxcnn (optax) against the PyTorch originals (torch.optim).

``steps``: parameters after 1, 10, 100 optimiser steps from the same weights and batches;
``dropout``: Dropout2d semantics and one step with a shared channel mask; ``epochs``: full
epochs side by side; ``report``: JSON, Markdown and a plot. ``kit``: the parity kit, any Flax NNX
port against its PyTorch original layer by layer (docs/parity-kit.md), with its command line
``check``. Needs torch.
"""
