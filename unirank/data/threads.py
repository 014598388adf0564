"""A small thread pool in order: preparation's batches and columns, on every core (pyarrow and
numpy release the GIL while they work)."""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor


def in_order(function, items, threads: int):
    """``function(*item)`` for every item on a thread pool (pyarrow and numpy release the GIL),
    results in the items' order, at most ``2 * threads`` in flight."""
    pending = deque()
    with ThreadPoolExecutor(threads) as pool:
        for item in items:
            pending.append(pool.submit(function, *item))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def each(function, keys: list) -> dict:
    """{key: function(key)} computed on the thread pool."""
    return dict(zip(keys, in_order(function, ((k,) for k in keys), workers())))
