"""The lab notebooks: each runs top to bottom in quick mode, and the committed copies hold the
outputs of a complete run and stay small.

Quick mode is ``scripts/run_labs.py --quick`` (``JAXCNN_LAB_QUICK=1``: a small subset, one epoch),
in a fresh kernel started from the repository root, so a change to ``jaxcnn`` that breaks a lab
(an import, an API, the parity check that closes each notebook) fails here. The notebooks read the
real MNIST (``./data/MNIST/raw``) and Fashion-MNIST (``/usr/share/datasets/fashion-mnist``) files;
without them the test skips, or fails under ``JAXCNN_REQUIRE_DATA=1`` (CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jaxcnn import data

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_LABS = REPO_ROOT / "scripts" / "run_labs.py"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
MAX_BYTES = 1 << 20  # committed notebooks stay well under this


def test_the_five_labs_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == [
        "000_padded", "001_dropout", "002_classic", "003_lenet3x3", "004_lenet"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_lab_is_executed_and_small(notebook: Path) -> None:
    """Every code cell ran, in order, in one session, without error; plots are kept inline."""
    assert notebook.stat().st_size < MAX_BYTES
    nb = nbformat.read(notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = [out for cell in code for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs)


def _require_lab_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)  # where the notebooks' kernels start, as ./data is searched
    for name in ("mnist", "fashion_mnist"):
        try:
            data.load(name, "test", verify=False)
        except data.DataError as err:
            reason = f"the labs need the real {name} files: {err}"
            if os.environ.get("JAXCNN_REQUIRE_DATA") == "1":
                pytest.fail(f"{reason}\nJAXCNN_REQUIRE_DATA=1 requires them")
            pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_lab_runs_in_quick_mode(notebook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_lab_data(monkeypatch)
    committed = notebook.read_bytes()
    result = subprocess.run([sys.executable, str(RUN_LABS), "--quick", str(notebook)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert result.returncode == 0, f"{notebook.name} failed in quick mode:\n{result.stderr[-6000:]}"
    assert notebook.read_bytes() == committed  # quick mode never overwrites the full run
