"""Write the student versions of the labs (answers replaced by prompts, outputs cleared).

    python scripts/make_student_labs.py            # notebooks/*.ipynb -> notebooks/student/
    python scripts/make_student_labs.py --check    # exit 1 if a committed one is out of date
    python scripts/make_student_labs.py --colab-source "jaxcnn @ git+https://HOST/jaxcnn.git" \
        --out handout/                             # the Colab install line filled in

The solution notebooks mark their answers as nbgrader does (see ``jaxcnn.labs.student``).
"""

import sys

from jaxcnn.cli.make_student_labs import main

if __name__ == "__main__":
    sys.exit(main())
