"""JAX against PyTorch on the five course CNNs, each variant measured in processes of its own.

The headline, :mod:`.train_runs`, times real ``scripts/train.py`` processes, JAX and PyTorch
alternating; :mod:`.layers` times every conv / linear layer alone in both frameworks. The rest is
the isolated-loop diagnostic:
:mod:`.variants` wraps each way of training (jaxcnn's engine with the measured or a forced
convolution plan, PyTorch eager on preloaded tensors, the notebooks' torchvision ``DataLoader``
pipeline, ``torch.compile``) behind one small interface; :mod:`.worker` is one benchmark
process (one variant, measured and written as JSON); :mod:`.measure` runs those processes one
at a time, repeat after repeat, and gathers medians and ranges; :mod:`.processes` runs one and
records the load around it; :mod:`.cases` holds the data; :mod:`.machine` describes the device
and its peak; :mod:`.e2e` times whole recipe trainings; :mod:`.report` writes JSON and Markdown.
``scripts/bench.py`` is the command line.
"""
