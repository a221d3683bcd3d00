"""Errors a user sees as one line. Everything the CLI reports without a traceback derives from here."""

from __future__ import annotations


class AudioloraError(Exception):
    """A runtime failure with a message fit to print as one line (exit code 1)."""

    exit_code = 1
    prefix = "error"

    def one_line(self) -> str:
        text = " ".join(str(self).split())
        return f"{self.prefix}: {text}"


class ConfigError(AudioloraError):
    """A bad config file, key or value (exit code 2)."""

    exit_code = 2
    prefix = "config error"


class UsageError(AudioloraError):
    """A bad command-line usage (exit code 2)."""

    exit_code = 2
    prefix = "usage error"


class DataError(AudioloraError):
    """Bad input data: names the file and what to do about it (exit code 1)."""

    prefix = "data error"


class NotBuiltYet(AudioloraError):
    """A command whose implementation has not landed yet."""

    prefix = "not available"
