"""Write the student versions of the labs (answers replaced by prompts, outputs cleared).

    python scripts/make_student_labs.py            # notebooks/*.ipynb -> notebooks/student/
    python scripts/make_student_labs.py --check    # exit 1 if a committed one is out of date
    python scripts/make_student_labs.py --colab-source "jaxcnn @ git+https://HOST/jaxcnn.git" \
        --out handout/                             # the Colab install line filled in

The solution notebooks mark their answers as nbgrader does (see ``jaxcnn.labs.student``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from jaxcnn.labs.student import COLAB_PLACEHOLDER, render, set_colab_source, student_version

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO_ROOT / "notebooks"
STUDENT = SOLUTIONS / "student"


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when inside it (no machine paths in messages)."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a student version is missing or stale")
    parser.add_argument("--colab-source", metavar="SOURCE",
                        help="what the labs' Colab install line installs instead of "
                             f"{COLAB_PLACEHOLDER}: a Git address (\"jaxcnn @ git+https://...\") "
                             "or a wheel file name (jaxcnn-0.1.0-py3-none-any.whl)")
    parser.add_argument("--out", type=Path, default=STUDENT,
                        help="folder for the student versions (default: notebooks/student)")
    args = parser.parse_args(argv)
    if args.colab_source is not None and not args.colab_source.strip():
        parser.error("--colab-source: empty; give a Git address or a wheel file name")
    stale = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        target = args.out / path.name
        notebook = student_version(nbformat.read(path, as_version=4))
        if args.colab_source is not None:
            try:
                set_colab_source(notebook, args.colab_source.strip())
            except ValueError as err:
                parser.error(f"{path}: {err}")  # exits with status 2
        text = render(notebook)
        if target.is_file() and target.read_text() == text:
            continue
        if args.check:
            stale.append(target)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {_shown(target)}")
    for target in stale:
        print(f"out of date: {_shown(target)} (run python scripts/make_student_labs.py)",
              file=sys.stderr)
    return 1 if stale else 0
