"""The lab notebooks: each runs top to bottom in quick mode, and the committed copies hold the
outputs of a complete run and stay small; their student versions are up to date and run in quick
mode up to the first exercise, which stops them with the stub's ``NotImplementedError``.

Quick mode is ``scripts/run_labs.py --quick`` (``JAXCNN_LAB_QUICK=1``: a small subset, one epoch),
in a fresh kernel started from the repository root, so a change to ``jaxcnn`` that breaks a lab
(an import, an API, the parity check that closes each notebook) fails here. The notebooks read the
real MNIST (``./data/MNIST/raw``) and Fashion-MNIST (``/usr/share/datasets/fashion-mnist``) files;
without them the test skips, or fails under ``JAXCNN_REQUIRE_DATA=1`` (CI).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from jaxcnn import data
from jaxcnn.cli import make_student_labs
from jaxcnn.labs import student as student_labs

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_LABS = REPO_ROOT / "scripts" / "run_labs.py"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
STUDENT = REPO_ROOT / "notebooks" / "student"
NO_TORCH = Path(__file__).resolve().parent / "no_torch"  # its sitecustomize hides torch
MACHINE_PATHS = ("/work/", "/home/", "/root/", "/tmp/", "/Users/")
MAX_BYTES = 1 << 20  # committed notebooks stay well under this
MIN_DPI = 100  # the figures' resolution (plt.rcParams["figure.dpi"])


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
    text = "".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
                   for out in outputs)
    assert not [p for p in MACHINE_PATHS if p in text], "an output shows a path of this machine"
    for out in outputs:
        if "image/png" in out.get("data", {}):
            png = Image.open(io.BytesIO(base64.b64decode(out.data["image/png"])))
            assert round(png.info["dpi"][0]) >= MIN_DPI, f"a figure at {png.info['dpi']} dpi"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_is_up_to_date(notebook: Path) -> None:
    """notebooks/student/ is what scripts/make_student_labs.py makes of the solutions now."""
    expected = student_labs.render(student_labs.student_version(nbformat.read(notebook, 4)))
    student = STUDENT / notebook.name
    assert student.is_file() and student.read_text() == expected, (
        f"{student} is out of date: run python scripts/make_student_labs.py")
    nb = nbformat.reads(expected, as_version=4)
    assert "SOLUTION" not in "".join(cell.source for cell in nb.cells)
    assert not [cell for cell in nb.cells if cell.cell_type == "code" and cell.outputs]


def test_graded_labs_have_answers_to_write() -> None:
    """002's Q1-Q4 and 004's tasks (get_output_width first) are left to the student."""
    for name, first in (("002_classic", "q1_to_q4"), ("004_lenet", "get_output_width")):
        solution = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", 4)
        cell = solution.cells[student_labs.first_exercise(solution)]
        assert cell.metadata["nbgrader"]["grade_id"] == first
        student = nbformat.read(STUDENT / f"{name}.ipynb", 4)
        stub = student.cells[student_labs.first_exercise(student)].source
        assert "raise NotImplementedError()" in stub


def _answer_cell(source: str, cell_type: str = "code", solution: bool = True):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if solution:
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "x",
                                     "locked": False, "schema_version": 3, "task": False}
    return cell


def test_clear_solution_follows_nbgrader() -> None:
    code = _answer_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                        "    ### END SOLUTION\nprint(f(1))")
    assert student_labs.clear_solution(code)
    assert code.source == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                           "print(f(1))")
    text = _answer_cell("**Why?**\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->",
                        "markdown")
    student_labs.clear_solution(text)
    assert text.source == "**Why?**\n\nYOUR ANSWER HERE"
    whole = _answer_cell("x = 42")
    student_labs.clear_solution(whole)
    assert whole.source == student_labs.CODE_STUB
    untouched = _answer_cell("x = 1", solution=False)
    assert not student_labs.clear_solution(untouched) and untouched.source == "x = 1"
    for bad in (_answer_cell("### BEGIN SOLUTION\nx = 1"),
                _answer_cell("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"),
                _answer_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", solution=False)):
        with pytest.raises(ValueError):
            student_labs.clear_solution(bad)


def test_every_lab_has_the_same_colab_note() -> None:
    """One Colab paragraph, word for word the same in the five labs, naming the placeholder."""
    notes = set()
    for path in NOTEBOOKS:
        paragraphs = nbformat.read(path, 4).cells[0].source.split("\n\n")
        notes |= {p for p in paragraphs if p.startswith(student_labs.COLAB_NOTE)}
    assert len(notes) == 1
    assert f"%pip install -q {student_labs.COLAB_PLACEHOLDER}`" in notes.pop()


def test_colab_source_fills_in_the_install_line(tmp_path: Path) -> None:
    git = "jaxcnn @ git+https://git.example.edu/course/jaxcnn.git"
    assert make_student_labs.main(["--colab-source", git, "--out", str(tmp_path / "git")]) == 0
    for path in NOTEBOOKS:
        student = nbformat.read(tmp_path / "git" / path.name, 4)
        assert f'`%pip install -q "{git}"`' in student.cells[0].source
        assert student_labs.COLAB_PLACEHOLDER not in student.cells[0].source
        committed = nbformat.read(STUDENT / path.name, 4)  # the rest as in the committed one
        assert [c.source for c in student.cells[1:]] == [c.source for c in committed.cells[1:]]
    wheel = student_labs.student_version(nbformat.read(NOTEBOOKS[0], 4))
    student_labs.set_colab_source(wheel, "jaxcnn-0.1.0-py3-none-any.whl")
    assert "`%pip install -q jaxcnn-0.1.0-py3-none-any.whl`" in wheel.cells[0].source
    with pytest.raises(ValueError, match="In Google Colab"):
        student_labs.set_colab_source(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell("# A lab")]), "x.whl")
    with pytest.raises(SystemExit) as exit_info:
        make_student_labs.main(["--colab-source", " ", "--out", str(tmp_path / "empty")])
    assert exit_info.value.code == 2 and not (tmp_path / "empty").exists()


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


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_lab_runs_in_quick_mode_up_to_its_first_exercise(
        notebook: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every cell before the first code exercise runs; run whole, the student version stops with
    the prompt's NotImplementedError (a version with written answers only runs through)."""
    _require_lab_data(monkeypatch)
    student = nbformat.read(STUDENT / notebook.name, 4)
    first = student_labs.first_exercise(student, "code")
    partial = nbformat.from_dict(student)
    partial.cells = student.cells[:first]
    nbformat.write(partial, tmp_path / notebook.name)

    def run(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(RUN_LABS), "--quick", str(path)],
                              capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)

    before = run(tmp_path / notebook.name)
    assert before.returncode == 0, before.stderr[-6000:]
    if first < len(student.cells):
        whole = run(STUDENT / notebook.name)
        assert whole.returncode == 1 and "NotImplementedError" in whole.stderr, whole.stderr


@pytest.mark.slow
def test_lab_runs_without_torch_and_says_what_the_check_would_do(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _require_lab_data(monkeypatch)
    notebook = REPO_ROOT / "notebooks" / "002_classic.ipynb"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NO_TORCH), str(REPO_ROOT)])}
    result = subprocess.run([sys.executable, str(RUN_LABS), "--quick", "--out", str(tmp_path),
                             str(notebook)], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-6000:]
    last = nbformat.read(tmp_path / notebook.name, 4).cells[-1]
    printed = "".join(out.get("text", "") for out in last.outputs)
    assert printed.startswith("Check skipped (PyTorch is not installed)")
    assert "pip install 'jaxcnn[notebooks-check]'" in printed and printed.count("\n") == 1
