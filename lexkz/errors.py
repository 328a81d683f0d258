"""The one error type the CLI turns into a clear message and a non-zero exit."""


class LexkzError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it.

    `exit_code` is what `lexkz` exits with (2 for bad input, 3 for a missing
    artifact such as an index or a model, 4 for a refused operation such as a lock).
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
