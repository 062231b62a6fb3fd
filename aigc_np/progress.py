"""A one-line progress display: step/total, named values, items/s and ETA."""
from __future__ import annotations

import sys
import time


class Progress:
    """Print ``label step/total  loss=...  1234 img/s  ETA 0:12`` on one updating line.

    On a terminal the line is redrawn in place (carriage return); otherwise
    (CI logs, files) a line is printed at the end and, for long loops, every
    ``every`` steps or every ``seconds`` seconds, whichever comes first --
    so a log holds about one line per epoch, not hundreds.
    """

    def __init__(self, total: int, label: str = "", every: int | None = None, stream=None,
                 seconds: float = 15.0, unit: str = "img"):
        self.total = int(total)
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or self.total
        self.seconds = seconds
        self.start = self.last = time.perf_counter()
        self.items = 0
        self.unit = unit  # what ``items`` counts: "img" (images), "char" (characters) ...

    def update(self, step: int, items: int = 0, **values) -> None:
        """Report that ``step`` (1-based) of ``total`` is done, having processed ``items`` more items."""
        self.items += items
        now = time.perf_counter()
        if not (self.tty or step % self.every == 0 or step == self.total or now - self.last >= self.seconds):
            return
        self.last = now
        elapsed = now - self.start
        rate = self.items / elapsed if elapsed > 0 else 0.0
        eta = elapsed / step * (self.total - step) if step else 0.0
        shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = (f"{self.label} {step}/{self.total}  {shown}  {rate:,.0f} {self.unit}/s  "
                f"ETA {int(eta // 60)}:{int(eta % 60):02d}")
        end = "\n" if (not self.tty or step == self.total) else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()
