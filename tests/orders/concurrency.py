"""Requests released at the same instant from many threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def together(n: int, fn) -> list:
    """Run ``fn(i)`` for i in range(n) in n threads released together; results in order."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))
