"""The prepared GPU check (``scripts/device_check.py``): parity of the two frameworks on the
device under both precision policies, the ``lenet`` recipe, training and inference throughput
against PyTorch, steps per dispatch, and several seeds in one program (the sections are in
:mod:`jaxcnn.devcheck.sections`, the command line in :mod:`jaxcnn.cli.device_check`)."""

from __future__ import annotations

# In order of importance: throughput, the longest, checks the budget between its cells and comes
# last, so that a slow device still gets the others.
SECTIONS = ("environment", "parity", "gradient_diagnosis", "recipe", "steps_per_call",
            "multiseed", "throughput", "memory")
# Seconds a section needs at least to be started (on the GPU; the dry run is far quicker).
NEEDS_S = {"environment": 5, "parity": 30, "gradient_diagnosis": 40, "recipe": 60,
           "throughput": 60, "steps_per_call": 40, "multiseed": 45, "memory": 1}
