"""Errors that end a command with a one-line message and exit status 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: an option value, an input file or an output folder we must not touch."""
