"""The one exception type the anchorctl library raises for anything a user can cause."""

from __future__ import annotations


class AnchorError(ValueError):
    """A bad parameter, an unreadable input, or a request too large to honour.

    The message is one line, written for the person at the command line: it says what is
    wrong and, where there is one, the way out. The CLI prints it as ``anchorctl: <message>``.
    """
