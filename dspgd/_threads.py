"""Dense linear algebra on one BLAS thread.

OpenBLAS runs the QR, SVD and symmetric eigendecompositions of the book's
tall, thin matrices (``d x n`` with ``n`` a few hundred) in many small
blocked steps, each a synchronization of its threads, and the products of a
run (``X @ W`` with ``W`` of a few dozen columns) take a few milliseconds
each. When the cores are shared with other work the threads wait on each
other: measured on two shared cores (load about 4), the QR of a
``3000 x 300`` matrix took 5.3 s with the default threads and 0.13 s on one,
the SVD 2.1 s against 0.12 s, a product of ``300 x 3000`` by ``3000 x 30``
6.6 ms against 4.2 ms; the experiments of the real-data chapter took 54 s
against 22 s. The results do not depend on the thread count beyond rounding.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import Callable, TypeVar

__all__ = ["one_blas_thread", "on_one_blas_thread"]

_controller = None
F = TypeVar("F", bound=Callable)


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS/LAPACK use one thread (:mod:`threadpoolctl`)."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def on_one_blas_thread(fn: F) -> F:
    """Decorate ``fn`` to run inside :func:`one_blas_thread`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
