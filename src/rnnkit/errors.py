"""The one exception type that reaches a user as a one-line message."""


class RnnkitError(Exception):
    """A problem with the user's input (paths, data, hyper-parameters, run folders).

    The CLI prints ``rnnkit: error: <message>`` on one line and exits non-zero;
    library callers catch it like any other exception.
    """
