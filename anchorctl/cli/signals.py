"""Signals that end a run: it stops promptly, with status 128 + the signal, leaving nothing.

SIGINT (Ctrl-C), SIGTERM and SIGHUP all mean "stop now". Their handler removes every
temporary file being written (:func:`anchorctl.atomic.abandon`, so no half-written
``.name.part`` is left even if the process dies next) and raises :class:`Stopped` in the main
thread; the CLI's error boundary turns it into one line and the exit status (130 for SIGINT,
143 for SIGTERM, 129 for SIGHUP).

Why not Python's own KeyboardInterrupt: SIGTERM and SIGHUP would otherwise kill the process
without any cleanup, and a KeyboardInterrupt can be swallowed by C code that runs signal
handlers and then clears the error (numpy's ``np.str_`` did). :class:`Stopped` derives from
``BaseException``, so no ``except Exception`` in a reader catches it; and three safety nets
stand behind it:

* an :func:`~anchorctl.atomic.atomic_write` still running never renames its file after a
  signal, even if the exception was lost on the way;
* the boundary checks :attr:`Watch.stopped` after a command returns, so a lost exception
  still ends the run with the signal's status;
* a watchdog thread ends the process ``GRACE_SECONDS`` after the signal if it is still running
  (C code that does not look at signals for a long while), and a second signal ends it at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from anchorctl import atomic

STOPPING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
GRACE_SECONDS = 3.0


class Stopped(BaseException):
    """The run was told to stop by signal ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def status(self) -> int:
        """The exit status a shell gives a command ended by this signal."""
        return 128 + self.signum

    @property
    def message(self) -> str:
        if self.signum == signal.SIGINT:
            return "interrupted"
        return f"stopped by {signal.Signals(self.signum).name}"


class Watch:
    """While active (see :func:`handled`): the first stop signal received, if any."""

    def __init__(self) -> None:
        self.stopped: Stopped | None = None
        self._watchdog: threading.Timer | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        stop = Stopped(signum)
        atomic.abandon(stop)
        if self.stopped is not None:  # the second signal: no more waiting
            _exit_now(stop)
        self.stopped = stop
        self._watchdog = threading.Timer(GRACE_SECONDS, _exit_now, (stop,))
        self._watchdog.daemon = True
        self._watchdog.start()
        raise stop

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()


@contextlib.contextmanager
def handled() -> Iterator[Watch]:
    """Handle the stop signals as described above until the block ends, then restore the
    previous handlers. Outside the main thread (where Python allows no handlers) it does
    nothing."""
    watch = Watch()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    for signum in STOPPING:
        if previous[signum] != signal.SIG_IGN:  # `nohup` ignores SIGHUP on purpose
            signal.signal(signum, watch.on_signal)
    try:
        yield watch
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        watch.close()
        atomic.resume()


def _exit_now(stop: Stopped) -> None:
    """End the process at once (from the watchdog or a second signal), files cleaned up."""
    atomic.abandon(stop)
    with contextlib.suppress(OSError):
        os.write(2, f"anchorctl: {stop.message}\n".encode())
    os._exit(stop.status)
