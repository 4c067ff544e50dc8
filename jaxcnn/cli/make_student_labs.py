"""Write the student versions of the labs (answers replaced by prompts, outputs cleared).

    python scripts/make_student_labs.py            # notebooks/*.ipynb -> notebooks/student/
    python scripts/make_student_labs.py --check    # exit 1 if a committed one is out of date

The solution notebooks mark their answers as nbgrader does (see ``jaxcnn.labs.student``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from jaxcnn.labs.student import render, student_version

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO_ROOT / "notebooks"
STUDENT = SOLUTIONS / "student"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a student version is missing or stale")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        target = STUDENT / path.name
        text = render(student_version(nbformat.read(path, as_version=4)))
        if target.is_file() and target.read_text() == text:
            continue
        if args.check:
            stale.append(target)
        else:
            STUDENT.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(REPO_ROOT)}")
    for target in stale:
        print(f"out of date: {target.relative_to(REPO_ROOT)} (run python "
              "scripts/make_student_labs.py)", file=sys.stderr)
    return 1 if stale else 0
