"""The prepared GPU check: run it once on the accelerator, read report.md.

    PYTHONPATH=. python3 scripts/device_check.py --data-dir .devdata --out OUT
    PYTHONPATH=. python3 scripts/device_check.py --dry-run --out /tmp/dc   # CPU, tiny, < 1 min

Writes OUT/report.json and OUT/report.md after every section; see jaxcnn/devcheck
(the command line: jaxcnn.cli.device_check).
Exit codes: 0 all sections ran or were skipped for time, 1 a section failed (its traceback is in
the report), 2 bad arguments.
"""

import sys

from jaxcnn.cli.device_check import main

if __name__ == "__main__":
    sys.exit(main())
