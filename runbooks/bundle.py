"""`runbooks bundle`: not written yet."""

from __future__ import annotations

import argparse

from .errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    raise UsageError("runbooks bundle is not available yet")
