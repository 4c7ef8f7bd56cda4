"""A one-line progress bar for long training runs."""
from __future__ import annotations

import sys
import time


class _Progress:
    """A one-line progress bar on a stream, drawn only once a run has taken more than ``delay`` s."""

    def __init__(self, total: int, stream=None, delay: float = 0.5, width: int = 30):
        self.total, self.stream, self.delay, self.width = total, stream or sys.stderr, delay, width
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, done: int) -> None:
        """Redraw (at most ten times a second) with ``done`` steps finished."""
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        filled = int(self.width * done / self.total)
        eta = elapsed / done * (self.total - done) if done else float("nan")
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} steps  {elapsed:5.1f}s  eta {eta:5.1f}s")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar (before other output, and at the end)."""
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 48) + "\r")
            self.stream.flush()
            self.shown = False
