"""Where to look for data files, in a documented order.

For ``auto``, ``idx`` and ``cifar`` the base folders are tried in this order:

1. ``data_dir`` (``--data-dir``), when given; it must exist;
2. ``$JAXCNN_DATA_DIR``, when set; it must exist;
3. ``./data`` (relative to the current directory);
4. ``~/.cache/jaxcnn``;
5. ``<folder>/<name with dashes>`` for each folder of ``$JAXCNN_SYSTEM_DATASETS``
   (``os.pathsep``-separated; default ``/usr/share/datasets``, where Debian's
   ``dataset-fashion-mnist`` puts Fashion-MNIST; set it empty to search no system folder).

Within each base folder: the folder itself (flat), ``<base>/<name>``, then torchvision's layout
(``<base>/MNIST/raw``, ``<base>/FashionMNIST/raw``, ``<base>/cifar-10-batches-py``). The first
folder holding any file of the requested split wins. When none has it, ``load`` downloads the
data set (``jaxcnn.data.download``) unless told not to, and ``auto`` then falls back to TFDS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import DataError
from .specs import DatasetSpec

ENV_VAR = "JAXCNN_DATA_DIR"
SYSTEM_VAR = "JAXCNN_SYSTEM_DATASETS"
SYSTEM_DEFAULT = "/usr/share/datasets"


def base_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[Path]:
    """The base folders to search, in order, without duplicates."""
    bases = []
    if data_dir is not None:
        bases.append(Path(data_dir).expanduser())
    if os.environ.get(ENV_VAR):
        bases.append(Path(os.environ[ENV_VAR]).expanduser())
    bases += [Path.cwd() / "data", Path.home() / ".cache" / "jaxcnn"]
    system = os.environ.get(SYSTEM_VAR, SYSTEM_DEFAULT)
    bases += [Path(d) / spec.name.replace("_", "-") for d in system.split(os.pathsep) if d]
    return list(dict.fromkeys(b.absolute() for b in bases))


def candidate_dirs(spec: DatasetSpec, base: Path) -> list[Path]:
    """The folders tried inside one base folder: flat, by name, torchvision's layout."""
    return [base, base / spec.name, base / spec.torchvision_folder]


def find_directory(
    spec: DatasetSpec,
    split: str,
    data_dir: str | os.PathLike | None,
    has_split: Callable[[Path, str], bool],
) -> tuple[Path | None, list[Path]]:
    """The first folder where ``has_split`` finds the split, and every folder searched."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise DataError(f"{data_dir}: directory missing (given as data_dir / --data-dir). "
                        "Check the path, or leave it out to search the usual places.")
    if os.environ.get(ENV_VAR) and not Path(os.environ[ENV_VAR]).expanduser().is_dir():
        raise DataError(f"{os.environ[ENV_VAR]}: directory missing (given as ${ENV_VAR}). "
                        "Check the path, or unset it to search the usual places.")
    searched = []
    for base in base_dirs(spec, data_dir):
        for directory in candidate_dirs(spec, base):
            searched.append(directory)
            if directory.is_dir() and has_split(directory, split):
                return directory, searched
    return None, searched


def not_found_message(spec: DatasetSpec, split: str, files: str, searched: list[Path],
                      tfds_note: str | None, download_note: str | None = None) -> str:
    """The error text when no source has the data: every place searched and what to do."""
    lines = [f"No {spec.name} {split} data found ({files}). Searched, in order:"]
    lines += [f"  - {d}" for d in searched]
    for note in (download_note, tfds_note):
        if note:
            lines.append(f"  - {note}")
    lines.append(
        "To fix: let jaxcnn download it (leave out --no-download / JAXCNN_OFFLINE=1); "
        "pass --data-dir DIR (data_dir=DIR) holding the files flat or in torchvision's "
        f"layout (DIR/{spec.torchvision_folder}); or set {ENV_VAR}=DIR; "
        + ("or install Debian's dataset-fashion-mnist package; "
           if spec.name == "fashion_mnist" else "")
        + "or install tensorflow-datasets (with tensorflow) and let TFDS download it."
    )
    return "\n".join(lines)


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a reader should see it: relative to the current directory when inside it,
    with ``~`` for the home folder, else as it is (no machine-specific prefix in shared outputs)."""
    resolved = Path(path).absolute()
    for root, shown in ((Path.cwd(), ""), (Path.home(), "~")):
        if resolved.is_relative_to(root):
            relative = resolved.relative_to(root)
            return str(Path(shown) / relative) if shown else str(relative or ".")
    return str(path)
