"""Errors the CLI turns into a one-line message and an exit code."""

from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user: exit code 2."""


class StudyError(RuntimeError):
    """A study that is missing, empty or unusable: exit code 1."""


def os_error_text(exc: OSError) -> str:
    """An operating-system error in words, naming the user's path: the file an atomic
    write makes, never its temporary file (met at its making or its rename), and the
    part of a path that is a file where a folder goes (or a folder where a file goes),
    which the raw error leaves to be guessed ("[Errno 17] File exists: 'studies/x'")."""
    import errno

    name = exc.filename2 if exc.filename2 is not None else exc.filename
    if name is None:
        return str(exc)
    path = _written(Path(str(name)))
    if exc.errno == errno.EISDIR:
        return f"{path} is a folder where a file goes: move it away and run again"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        for part in (path, *path.parents):
            if (part.exists() or part.is_symlink()) and not part.is_dir():
                return f"{part} is a file where a folder goes: move it away and run again"
    return f"{path}: {exc.strerror or type(exc).__name__}"


def cannot_write(where: str, exc: OSError) -> StudyError:
    """The error for an output the user named (``--out report.md``) that could not be
    written: the reason in words (a part of its path that is a file, not "File exists"),
    never the atomic write's temporary file."""
    import errno

    why = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        why = os_error_text(exc).removesuffix(": move it away and run again")
    return StudyError(f"{where}: cannot write it ({why}); name a file in a folder you may "
                      "write")


def _written(path: Path) -> Path:
    """The file an atomic write's temporary file (``.NAME.XXXXXXXX.tmp`` beside it,
    mlp/atomic.py) stands for; any other path as it is."""
    import re

    found = re.fullmatch(r"\.(.+)\.[A-Za-z0-9_]{8}\.tmp", path.name)
    return path.with_name(found.group(1)) if found else path
