"""The one exception type that reaches the user as a one-line message instead of a traceback."""


class CstpError(Exception):
    """A problem with the user's input (a file, a config key, a value).

    The message must name the offending file, key or value and say what was expected; the command
    line prints it on one line and exits with `exit_code`.
    """

    exit_code = 2


class VideoError(CstpError):
    """A video file that cannot be opened or decoded."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
