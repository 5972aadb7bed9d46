"""The one error type users see: a message naming the bad value and the fix.

The CLI catches it and prints one line; everything else is a bug and keeps its traceback.
"""


class OneShotError(ValueError):
    """Bad user input (architecture string, gene list, table, path, checkpoint ...)."""
