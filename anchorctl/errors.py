"""The one exception type the anchorctl library raises for anything a user can cause."""

from __future__ import annotations


class AnchorError(ValueError):
    """A bad parameter, an unreadable input, or a request too large to honour.

    The message is one line, written for the person at the command line: it says what is
    wrong and, where there is one, the way out. The CLI prints it as ``anchorctl: <message>``.
    """


class TooLarge(AnchorError):
    """A well-formed request that needs more memory (or work) than this process can have.

    Not a usage error: the same options work on a bigger machine or with a smaller map, so
    the CLI exits 1 for it, where a malformed option exits 2.
    """
