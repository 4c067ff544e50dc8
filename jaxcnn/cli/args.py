"""Argument types shared by the command-line scripts: numbers checked as argparse parses them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection, Sequence

from jaxcnn.data import ALL_DATASETS  # the key of a --data-dir given without NAME=


def _number(kind: type, test: Callable, requirement: str) -> Callable[[str], object]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text!r}")
        return value
    parse.__name__ = requirement  # argparse names the type in some messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "a positive integer")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
momentum_float = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
rate_float = _number(float, lambda v: 0 <= v < 1, "a rate in [0, 1)")


def named_data_dirs(parser: argparse.ArgumentParser, items: Sequence[str],
                    names: Collection[str]) -> dict[str, str]:
    """``--data-dir NAME=DIR`` values as a mapping; ``parser.error`` unless NAME is in ``names``."""
    dirs = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or name not in names:
            parser.error(f"--data-dir {item!r}: expected NAME=DIR with NAME one of "
                         f"{', '.join(names)}")
        dirs[name] = folder
    return dirs


def parse_data_dirs(values: Sequence[str] | None) -> dict[str, str]:
    """``--data-dir`` values, ``DIR`` (every data set) or ``DATASET=DIR``, as a mapping."""
    dirs = {}
    for value in values or []:
        name, sep, path = value.partition("=") if "=" in value else ("", "", value)
        dirs[name if sep else ALL_DATASETS] = path
    return dirs
