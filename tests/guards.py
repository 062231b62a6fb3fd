"""A guard the tests of untrusted files share: fail instead of hanging when a read blocks."""
import signal
from contextlib import contextmanager


@contextmanager
def within(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a named pipe."""
    def hung(*_):
        raise AssertionError(f"blocked for more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
