"""Benchmark of the batched solver: one sweep over 32 learning rates against a loop of 32 runs.

For ``n = 200``, ``d = 2000`` and ``k = 1`` and ``k = 10``, every run does
exactly ``--steps`` updates (``tol = 0``). The timings:

- *batched*: one :func:`dspgd.solve` call with the 32 learning rates;
- *loop*: 32 calls with one learning rate each;
- *floor*: the two matrix products of every step alone,
  ``R = X @ W`` and ``X.T @ R`` on the ``d x 32k`` stacked matrix -- no solver
  can do the same work in much less time; *floor_c* is the same with a
  contiguous copy of ``X^T``, as the solver does it (slightly faster).

On a machine shared with other processes, multi-threaded BLAS calls can be
slowed down several-fold whenever a core is taken away, so compare runs made
at the same time and rerun when the load average is high.

Each timing is the minimum over ``--repeats`` interleaved repetitions
(``--loop-repeats`` for the long loop); the minimum is the least disturbed by
other processes. Targets: batched at least 3x faster than the loop, and at
most 1.3x the floor at ``k = 1``.

Usage::

    python benchmarks/sweep.py                 # the full benchmark
    python benchmarks/sweep.py --steps 200     # a quick look
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import dspgd

PRECONDITIONERS = {
    "adam": lambda: dspgd.adam(1e-2),
    "gd": dspgd.gd,
    "clip_value": lambda: dspgd.clip_value(0.1),
    "normalized": lambda: dspgd.normalized(1e-2),
    "spectral": lambda: dspgd.spectral(1e-2),
}


def floor(X: np.ndarray, XT: np.ndarray, W: np.ndarray, steps: int) -> None:
    """The matrix products of ``steps`` DSPGD steps, nothing else: ``R = X @ W``, ``G = XT @ R``."""
    for _ in range(steps):
        R = X @ W
        G = XT @ R  # noqa: F841 (kept alive like the solver's gradient)


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(n: int, d: int, k: int, runs: int, steps: int, repeats: int, loop_repeats: int, precond: str) -> dict:
    prob = dspgd.gaussian_problem(n, d, k, seed=0)
    P = PRECONDITIONERS[precond]()
    s = dspgd.stable_lr(prob, P)
    lrs = np.geomspace(s / 100, 0.9 * s, runs)
    W = np.tile(prob.W0, runs)
    XT = np.ascontiguousarray(prob.X.T)
    times: dict[str, list[float]] = {"floor": [], "floor_c": [], "batched": [], "loop": []}
    batched = loop = None
    for rep in range(repeats):
        t, _ = _timed(lambda: floor(prob.X, prob.X.T, W, steps))
        times["floor"].append(t)
        t, _ = _timed(lambda: floor(prob.X, XT, W, steps))
        times["floor_c"].append(t)
        t, batched = _timed(lambda: dspgd.solve(prob, P, lrs, tol=0, max_steps=steps))
        times["batched"].append(t)
        if rep < loop_repeats:  # the longest timing: fewer repetitions
            t, loop = _timed(lambda: [dspgd.solve(prob, P, float(lr), tol=0, max_steps=steps) for lr in lrs])
            times["loop"].append(t)
    assert np.all(batched.steps == steps) and all(r.steps == steps for r in loop)
    gap = max(float(np.max(np.abs(batched.W[b] - r.W))) for b, r in enumerate(loop))
    best = {key: min(v) for key, v in times.items()}
    return {"k": k, **best, "gap": gap, "all": times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--d", type=int, default=2000)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--runs", type=int, default=32, help="number of learning rates")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5, help="repetitions of the floor and batched timings")
    ap.add_argument("--loop-repeats", type=int, default=2, help="repetitions of the loop timing")
    ap.add_argument("--precond", choices=sorted(PRECONDITIONERS), default="adam")
    a = ap.parse_args()

    print(f"DSPGD sweep benchmark: n={a.n}, d={a.d}, {a.runs} learning rates in "
          f"[stable/100, 0.9 stable], {a.steps} steps each (tol=0), preconditioner {a.precond}")
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average before: "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"timings: minimum over {a.repeats} interleaved repetitions ({min(a.loop_repeats, a.repeats)} for the loop)\n")
    head = (f"{'k':>3} {'floor [s]':>10} {'floor_c [s]':>12} {'batched [s]':>12} {'loop [s]':>9} "
            f"{'loop/batched':>13} {'batched/floor':>14} {'max |W_b - W_l|':>16}")
    print(head)
    print("-" * len(head))
    rows = []
    for k in a.ks:
        r = bench(a.n, a.d, k, a.runs, a.steps, a.repeats, min(a.loop_repeats, a.repeats), a.precond)
        rows.append(r)
        print(f"{k:>3} {r['floor']:>10.2f} {r['floor_c']:>12.2f} {r['batched']:>12.2f} {r['loop']:>9.2f} "
              f"{r['loop'] / r['batched']:>13.2f} {r['batched'] / r['floor']:>14.2f} {r['gap']:>16.1e}", flush=True)
    print("\nload average after: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("\ntargets:")
    for r in rows:
        ok = r["loop"] / r["batched"] >= 3
        print(f"  k={r['k']:>2}: batched >= 3x faster than the loop: {'yes' if ok else 'NO'} "
              f"({r['loop'] / r['batched']:.2f}x)")
    for r in rows:
        if r["k"] == 1:
            ok = r["batched"] / r["floor"] <= 1.3
            print(f"  k= 1: batched <= 1.3x the floor: {'yes' if ok else 'NO'} ({r['batched'] / r['floor']:.2f}x)")


if __name__ == "__main__":
    main()
