"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (a scheduler's preemption).

The first signal only asks: the trainer finishes the step (or compilation) it is in, saves, waits for
the asynchronous checkpoint writes, and stops with exit code 128 + signal. A second signal ends the
process at once with ``os._exit``: no Python or XLA teardown runs, so there is no traceback and no
crash. The signal's C handler writes to a wake-up pipe that a watcher thread reads, so the second
signal is seen even while the main thread sits in a long native call such as XLA compilation
(Python-level handlers only run between bytecodes of the main thread).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager; ``signum`` is the first signal received (``None`` while none came)."""

    def __init__(self, announce: bool = True):
        self.signum: int | None = None
        self._announce = announce
        self._active = threading.current_thread() is threading.main_thread()
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._old_wakeup = -1
        self._watcher: threading.Thread | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> "StopRequest":
        if not self._active:  # signals only reach the main thread; elsewhere the caller handles them
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, _ignore_in_python)
        self._old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._watcher = threading.Thread(target=self._watch, name="stop-request", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        read_fd = self._pipe[0]
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum not in SIGNALS:
                    continue
                if self.signum is None:
                    self.signum = signum
                    if self._announce:
                        print(f"\n{signal.Signals(signum).name}: stopping at the next safe point (saving a "
                              "checkpoint); press Ctrl-C again to quit at once", file=sys.stderr, flush=True)
                else:
                    print(f"\n{signal.Signals(signum).name} again: quitting now; the run resumes from its last "
                          "complete checkpoint", file=sys.stderr, flush=True)
                    os._exit(128 + signum)

    def __exit__(self, *exc) -> None:
        if not self._active or self._pipe is None:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        read_fd, write_fd = self._pipe
        os.close(write_fd)  # the watcher reads end-of-file and returns
        self._watcher.join(timeout=5)
        os.close(read_fd)
        self._pipe = None


def _ignore_in_python(signum, frame) -> None:
    """The Python-level handler does nothing: the watcher thread acts on the wake-up byte."""
