"""The one error type users see: a message naming the bad value and the fix.

The CLI catches it and prints one line; everything else is a bug and keeps its traceback.
"""


class OneShotError(ValueError):
    """Bad user input (architecture string, gene list, table, path, checkpoint ...)."""


class FolderInUse(OneShotError):
    """An output folder that another live process holds (its lock): the error a process sharing work (a
    benchmark's runs) steps aside on."""

    def __init__(self, folder: str, message: str):
        super().__init__(message)
        self.folder = folder


def first_line(error: BaseException, limit: int = 160) -> str:
    """The first line of a library's error message (cut at ``limit``), or its type when it has none: what a
    one-line OneShotError quotes of an MXNet or GluonCV failure."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
