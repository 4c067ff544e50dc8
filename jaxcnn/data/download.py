"""Download on first use: MNIST, Fashion-MNIST and CIFAR-10 from the mirrors torchvision uses.

``fetch(spec, base)`` puts a data set under ``base`` where ``jaxcnn.data.locate`` finds it
(``base/mnist``, ``base/fashion_mnist``, ``base/cifar-10-batches-py``). The fetching is pooch's
(HTTP, a tqdm bar, retries); each file lands in a private staging folder first and moves into
place only once it has passed its check, so a failed, partial or corrupt download leaves
nothing half-written where the loader looks:

* IDX .gz files: the SHA-256 of the DECOMPRESSED content against ``checksums.IDX_SHA256`` (a
  re-compressed copy, e.g. a mirror of Debian's, passes; anything else does not).
* CIFAR-10: the MD5 of ``cifar-10-python.tar.gz`` as torchvision pins it, then each batch's MD5
  when the loader reads it.

``$JAXCNN_MIRROR=URL`` replaces the public mirrors: files then come from
``URL/<data set>/<file name>``. ``$JAXCNN_OFFLINE=1`` (``--no-download``) turns downloading off.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from . import checksums
from .errors import DataError
from .locate import ENV_VAR
from .specs import IDX_DATASETS, DatasetSpec, idx_file_names

MIRROR_VAR = "JAXCNN_MIRROR"
OFFLINE_VAR = "JAXCNN_OFFLINE"
TIMEOUT_S = 60  # per connection attempt / read
RETRIES = 2  # pooch retries a failed download this many times (waiting 1 s, then 2 s)

# The public mirrors and archive MD5s of torchvision.datasets (MNIST, FashionMNIST, CIFAR10).
PUBLIC_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}
ARCHIVE_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
}
CIFAR_FOLDER = "cifar-10-batches-py"  # the folder inside the CIFAR-10 archive


def enabled(download: bool | None = None) -> bool:
    """Whether to download: ``download`` when given, else unless ``$JAXCNN_OFFLINE=1``."""
    if download is not None:
        return download
    return os.environ.get(OFFLINE_VAR, "").strip().lower() not in ("1", "true", "yes")


def default_base(data_dir: str | os.PathLike | None = None) -> Path:
    """Where downloads go: ``data_dir``, else ``$JAXCNN_DATA_DIR``, else ``~/.cache/jaxcnn``."""
    chosen = data_dir or os.environ.get(ENV_VAR) or Path.home() / ".cache" / "jaxcnn"
    return Path(chosen).expanduser().absolute()


def urls(name: str, file_name: str) -> list[str]:
    """Where ``file_name`` of data set ``name`` is fetched from, in the order tried."""
    mirror = os.environ.get(MIRROR_VAR, "").strip()
    if mirror:
        return [f"{mirror.rstrip('/')}/{name}/{file_name}"]
    return [base + file_name for base in PUBLIC_MIRRORS[name]]


def target_dir(spec: DatasetSpec, base: Path) -> Path:
    """The folder ``fetch`` fills under ``base`` (one ``locate`` searches)."""
    return base / (spec.name if spec.name in IDX_DATASETS else CIFAR_FOLDER)


def by_hand(spec: DatasetSpec, base: Path) -> str:
    """How to place the files without downloading (the end of every download error)."""
    files = ", ".join(f"{f} ({' or '.join(urls(spec.name, f))}, MD5 {md5})"
                      for f, md5 in ARCHIVE_MD5[spec.name].items())
    where = (f"into {target_dir(spec, base)}" if spec.name in IDX_DATASETS
             else f"and extract it into {base} (giving {target_dir(spec, base)})")
    return (f"To place the files by hand: fetch {files} {where}; or pass --data-dir DIR to a "
            f"copy you have; or set {MIRROR_VAR}=URL to a mirror serving URL/{spec.name}/<file>. "
            f"--no-download ({OFFLINE_VAR}=1) skips downloading (local copies and TFDS only).")


def fetch(spec: DatasetSpec, base: Path, *, progress: bool = True) -> Path:
    """Download ``spec``'s data set into ``base`` unless already there; return its folder.

    Raises ``DataError`` naming the URL (and, for a bad file, the checksum) when a download
    fails; nothing is left where the loader looks.
    """
    target = target_dir(spec, base)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{base}: cannot create the download folder ({err.strerror}). Set "
                        f"{ENV_VAR}=DIR or pass --data-dir DIR to a writable folder.") from err
    with _staging(base) as staging:
        if spec.name in IDX_DATASETS:
            missing = [f for split in ("train", "test") for f in idx_file_names(split)
                       if not any((target / g).is_file() for g in (f, f"{f}.gz"))]
            checked = [_fetch_idx(spec, f, staging, base, progress) for f in missing]
            target.mkdir(exist_ok=True)
            for path in checked:  # only once all four passed: never a split half there
                os.replace(path, target / path.name)
        elif not target.is_dir():
            name = "cifar-10-python.tar.gz"
            archive, _ = _download(spec, name, staging, base, progress,
                                   known_hash="md5:" + ARCHIVE_MD5["cifar10"][name])
            _extract_cifar(spec, archive, staging, target, base)
    return target


@contextlib.contextmanager
def _staging(base: Path) -> Iterator[Path]:
    """A private folder next to the destination (same file system: moves are atomic)."""
    folder = Path(tempfile.mkdtemp(prefix=".download-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs the staging path of each file; jaxcnn prints its own line instead."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(spec: DatasetSpec, file_name: str, staging: Path, base: Path, progress: bool,
              known_hash: str | None = None) -> tuple[Path, str]:
    """One file into ``staging`` and its URL, from the first URL that serves it; ``DataError``
    otherwise."""
    import pooch
    import requests

    failures = []
    for url in urls(spec.name, file_name):
        print(f"Downloading {url}", flush=True)
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT_S)
        fetcher = pooch.create(path=staging, base_url="", registry={file_name: known_hash},
                               urls={file_name: url}, retry_if_failed=RETRIES)
        try:
            with _quiet_pooch():
                return Path(fetcher.fetch(file_name, downloader=downloader)), url
        except ValueError as err:  # pooch: hash mismatch (message names both hashes)
            failures.append(f"{url}: checksum mismatch: {err}")
        except (requests.RequestException, OSError) as err:
            failures.append(f"{url}: download failed ({type(err).__name__}: {err})")
    raise DataError(f"Downloading {spec.name} {file_name} failed (nothing was written):\n  "
                    + "\n  ".join(failures) + "\n" + by_hand(spec, base))


def _fetch_idx(spec: DatasetSpec, file_name: str, staging: Path, base: Path,
               progress: bool) -> Path:
    """One IDX .gz file downloaded into ``staging`` and checked (decompressed content)."""
    gz_name = f"{file_name}.gz"
    path, url = _download(spec, gz_name, staging, base, progress)
    try:
        content = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{url}: the downloaded {gz_name} is not a valid gzip file ({err}); "
                        f"nothing was written.\n{by_hand(spec, base)}") from err
    digest = hashlib.sha256(content).hexdigest()
    expected = checksums.IDX_SHA256[(spec.name, file_name)]
    if digest != expected:
        raise DataError(f"{url}: checksum mismatch: SHA-256 of the decompressed content is "
                        f"{digest}, expected {expected} for {spec.name} {file_name} (published "
                        f".gz MD5 {ARCHIVE_MD5[spec.name][gz_name]}); nothing was written.\n"
                        f"{by_hand(spec, base)}")
    return path


def _extract_cifar(spec: DatasetSpec, archive: Path, staging: Path, target: Path,
                   base: Path) -> None:
    """Unpack the checked archive in ``staging``, then move its batch folder to ``target``."""
    unpacked = staging / "unpacked"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The archive's MD5 was checked; "data" also refuses links and paths leaving the
            # folder (Python >= 3.11.4; older ones have no filters).
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(unpacked, **safe)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"{archive.name}: cannot extract ({err}); nothing was written.\n"
                        f"{by_hand(spec, base)}") from err
    if not (unpacked / CIFAR_FOLDER).is_dir():
        raise DataError(f"{archive.name}: has no {CIFAR_FOLDER}/ folder; nothing was written.\n"
                        f"{by_hand(spec, base)}")
    os.replace(unpacked / CIFAR_FOLDER, target)
