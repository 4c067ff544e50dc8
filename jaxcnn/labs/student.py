"""Student versions of the lab notebooks, made from the solution notebooks as nbgrader does.

The committed labs (``notebooks/*.ipynb``) are the solution sources. Their graded parts follow
nbgrader's conventions, so a teacher can also use nbgrader (``nbgrader generate_assignment``,
``autograde``) on them directly:

* a graded cell carries nbgrader's metadata (``"nbgrader": {"solution": true, "grade_id": ...}``;
  a written answer also ``"grade": true`` and its ``points``, graded by hand);
* within it, the answer sits between two lines holding ``BEGIN SOLUTION`` and ``END SOLUTION``:
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` in code, ``<!-- BEGIN SOLUTION -->`` /
  ``<!-- END SOLUTION -->`` in Markdown (HTML comments: invisible when the solution is read);
* a graded cell without those lines is an answer as a whole.

:func:`student_version` applies nbgrader's ``ClearSolutions`` rules (each region becomes
``# YOUR CODE HERE`` + ``raise NotImplementedError()`` in code, ``YOUR ANSWER HERE`` in
Markdown, indented as the ``BEGIN`` line) and ``ClearOutput``; ``scripts/make_student_labs.py``
writes the results to ``notebooks/student/``.

Each lab's opening cell has a Colab note whose install line names a placeholder,
``JAXCNN_SOURCE`` (jaxcnn is on no public index): :func:`set_colab_source` replaces that note
with one that installs from where the teacher put jaxcnn (a Git address or a wheel file).
"""

from __future__ import annotations

import copy
import re

import nbformat

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
COLAB_NOTE = "**In Google Colab:**"  # how the Colab paragraph of a lab's first cell starts
COLAB_PLACEHOLDER = "JAXCNN_SOURCE"


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """Whether nbgrader's metadata marks ``cell`` as (holding) an answer."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def clear_solution(cell: nbformat.NotebookNode) -> bool:
    """Replace the answer regions of ``cell`` with the stub, in place; whether any was found.

    ``ValueError`` for a nested or unclosed region, or a region outside an answer cell.
    """
    stub = (CODE_STUB if cell.cell_type == "code" else TEXT_STUB).split("\n")
    lines, inside, found = [], False, False
    for line in cell.source.split("\n"):
        if BEGIN in line:
            if inside:
                raise ValueError(f"nested {BEGIN!r} in cell:\n{cell.source}")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)
            lines += [indent + s for s in stub]
        elif END in line:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in cell:\n{cell.source}")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"no {END!r} for a {BEGIN!r} in cell:\n{cell.source}")
    if found and not is_solution(cell):
        raise ValueError(f"answer region in a cell without nbgrader solution metadata:\n"
                         f"{cell.source}")
    if found:
        cell.source = "\n".join(lines)
    elif is_solution(cell):
        cell.source = "\n".join(stub)
    return found or is_solution(cell)


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook of a solution notebook: answers replaced, outputs cleared."""
    notebook = copy.deepcopy(solution)
    for cell in notebook.cells:
        clear_solution(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    return notebook


def first_exercise(notebook: nbformat.NotebookNode, cell_type: str | None = None) -> int:
    """Index of the first answer cell, of ``cell_type`` when given (``len(cells)`` if none)."""
    return next((i for i, cell in enumerate(notebook.cells) if is_solution(cell)
                 and cell_type in (None, cell.cell_type)), len(notebook.cells))


def set_colab_source(notebook: nbformat.NotebookNode, source: str) -> None:
    """Replace the first cell's Colab note, in place, by one that installs jaxcnn from ``source``.

    ``source`` is what ``pip install`` takes: ``"jaxcnn @ git+https://..."`` or a wheel file name.
    ``ValueError`` if the notebook has no Colab note.
    """
    first = notebook.cells[0] if notebook.cells else None
    paragraphs = first.source.split("\n\n") if first is not None else []
    index = next((i for i, text in enumerate(paragraphs) if text.startswith(COLAB_NOTE)), None)
    if index is None:
        raise ValueError(f"no paragraph starting with {COLAB_NOTE!r} in the first cell")
    target = f'"{source}"' if " " in source else source
    paragraphs[index] = (f"{COLAB_NOTE} run `%pip install -q {target}` in a first cell (Colab "
                         "already has JAX; this adds jaxcnn, Flax ≥ 0.11, optax and pooch). "
                         "For a GPU: *Runtime → Change runtime type → GPU*.")
    first.source = "\n\n".join(paragraphs)


def render(notebook: nbformat.NotebookNode) -> str:
    """The notebook's file content, as nbformat writes it."""
    return nbformat.writes(notebook) + "\n"
