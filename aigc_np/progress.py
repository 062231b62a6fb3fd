"""A one-line progress display: step/total, named values, items/s and ETA."""
from __future__ import annotations

import sys
import time


class Progress:
    """Print ``label step/total  loss=...  1234 img/s  ETA 0:12`` on one updating line.

    On a terminal the line is redrawn in place (carriage return); otherwise
    (CI logs, files) one line is printed every ``every`` steps and at the end.
    """

    def __init__(self, total: int, label: str = "", every: int | None = None, stream=None):
        self.total = int(total)
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or max(1, self.total // 10)
        self.start = time.perf_counter()
        self.items = 0

    def update(self, step: int, items: int = 0, **values) -> None:
        """Report that ``step`` (1-based) of ``total`` is done, having processed ``items`` more items."""
        self.items += items
        if not (self.tty or step % self.every == 0 or step == self.total):
            return
        elapsed = time.perf_counter() - self.start
        rate = self.items / elapsed if elapsed > 0 else 0.0
        eta = elapsed / step * (self.total - step) if step else 0.0
        shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = (f"{self.label} {step}/{self.total}  {shown}  {rate:,.0f} img/s  "
                f"ETA {int(eta // 60)}:{int(eta % 60):02d}")
        end = "\n" if (not self.tty or step == self.total) else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()
