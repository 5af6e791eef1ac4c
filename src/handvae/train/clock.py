"""A training clock that a pause does not advance: ``kill -TSTP PID`` pauses a run, ``kill -CONT PID`` resumes it.

On a 2-core machine a training run must be paused while anything else heavy runs (tests, a
benchmark), or every timing lies. :class:`PausableClock` catches SIGTSTP, notes the time, stops
the process with SIGSTOP, and on SIGCONT adds the paused interval to ``paused``; ``now()`` is
``time.perf_counter()`` minus every pause so far, so a step interrupted by a pause is timed as if
it had not been. Where signals cannot be caught (not the main thread, no SIGTSTP on the platform)
it is a plain clock.
"""

from __future__ import annotations

import os
import signal
import threading
import time


class PausableClock:
    """``now()``: seconds that exclude pauses made with SIGTSTP ... SIGCONT (see module doc)."""

    def __init__(self) -> None:
        self.paused = 0.0
        self._stopped_at: float | None = None
        self._old: dict[int, object] = {}
        tstp, cont = getattr(signal, "SIGTSTP", None), getattr(signal, "SIGCONT", None)
        if tstp is None or cont is None or threading.current_thread() is not threading.main_thread():
            return
        self._old = {tstp: signal.signal(tstp, self._on_stop), cont: signal.signal(cont, self._on_continue)}

    def _on_stop(self, signum, frame) -> None:
        # A stop signal discards a pending SIGCONT (POSIX), so `kill -CONT; kill -TSTP` in quick succession
        # can arrive as two stops with no continue in between: the pause then still runs from the first.
        if self._stopped_at is None:
            self._stopped_at = time.perf_counter()
        os.kill(os.getpid(), signal.SIGSTOP)  # SIGSTOP cannot be caught: the process stops here

    def _on_continue(self, signum, frame) -> None:
        if self._stopped_at is not None:
            self.paused += time.perf_counter() - self._stopped_at
            self._stopped_at = None

    def now(self) -> float:
        return time.perf_counter() - self.paused

    def close(self) -> None:
        """Give the signals back to their previous handlers."""
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old = {}
