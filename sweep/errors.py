"""Errors the CLI turns into a one-line message and an exit code."""


class UsageError(ValueError):
    """Bad input from the user: exit code 2."""


class StudyError(RuntimeError):
    """A study that is missing, empty or unusable: exit code 1."""
