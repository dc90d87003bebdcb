"""`runbooks history`: not written yet."""

from __future__ import annotations

import argparse

from .errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    raise UsageError("runbooks history is not available yet")
