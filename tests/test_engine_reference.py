"""The unified engine reproduces the runs of the engine it replaced.

``data/engine_reference.json`` holds the outcome of a set of runs made with the
package as it was before every method moved onto the one iteration loop
(``dspgd.solver.run``): DSPGD with several preconditioners and losses, Adam with
memory, momentum, mirror descent and mini-batch DSPGD, including runs that
diverge and runs stopped at ``max_steps``. The engine must give the same status
and the same step count for every run, and the same iterate, residual, loss and
path length up to round-off (the products with ``X`` are now taken on the
stacked layout for every method, which rounds differently from the former
per-run products of mirror descent and mini-batch DSPGD).

Run this file as a script to print the outcome of the current engine in the
format of the data file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import dspgd
from dspgd.adam_memory import MomentumRule, adam_solve, run_stateful
from dspgd.minibatch import minibatch_solve
from dspgd.mirror import mirror_descent, pnorm, weighted_quadratic

DATA = Path(__file__).parent / "data" / "engine_reference.json"


def _fractions(prob, precond, fractions):
    return np.array(fractions) * (dspgd.stable_lr(prob, precond) or 0.01)


def cases() -> dict:
    """The reference runs, by name (each a function of nothing that returns a Result)."""
    p1 = dspgd.gaussian_problem(8, 30, 1, seed=1)
    p3 = dspgd.gaussian_problem(8, 30, 3, seed=3)
    fr = (0.1, 0.5, 0.95, 1.5, 5.0)
    out = {}
    for prob in (p1, p3):
        k = prob.k
        for name, P in [("adam", dspgd.adam(0.05)), ("normalized", dspgd.normalized(0.2)),
                        ("spectral", dspgd.spectral(0.2)), ("clip_value", dspgd.clip_value(0.05)),
                        ("sign", dspgd.sign())]:
            lrs = _fractions(prob, P, fr)
            out[f"solve-{name}-k{k}"] = lambda prob=prob, P=P, lrs=lrs: dspgd.solve(
                prob, P, lrs, tol=1e-11, max_steps=1000)
            if name in ("adam", "normalized"):
                out[f"minibatch-{name}-k{k}"] = lambda prob=prob, P=P, lrs=lrs: minibatch_solve(
                    prob, P, 0.5 * lrs[:3], 4, seed=1, tol=1e-9, max_steps=1000)
        P = dspgd.clip_norm(0.3)
        out[f"solve-huber-k{k}"] = lambda prob=prob, P=P: dspgd.solve(
            prob, P, _fractions(prob, P, fr), loss=dspgd.huber(0.5), tol=1e-11, max_steps=1000)
        lrs = np.array([1e-3, 1e-2, 5e-2, 0.5])
        out[f"adam_memory-k{k}"] = lambda prob=prob, lrs=lrs: adam_solve(prob, lrs, tol=1e-10, max_steps=1500)
        out[f"momentum-k{k}"] = lambda prob=prob: run_stateful(
            prob, MomentumRule(0.9), np.array([0.1, 0.3, 1.0, 3.0]), tol=1e-12, max_steps=1500)
        for pname, pot in [("quadratic", weighted_quadratic(np.linspace(0.5, 2, 30))), ("pnorm3", pnorm(3.0)),
                           ("pnorm1.5", pnorm(1.5))]:
            out[f"mirror-{pname}-k{k}"] = lambda prob=prob, pot=pot: mirror_descent(
                prob, pot, np.array([0.05, 0.2, 0.5, 3.0]), tol=1e-11, max_steps=1500)
    return out


def outcome(res) -> dict:
    return {"status": [str(s) for s in res.status], "steps": [int(s) for s in res.steps],
            "W_norm": [float(np.linalg.norm(W)) for W in res.W], "W_sum": [float(np.sum(W)) for W in res.W],
            "residual": [float(r) for r in res.residual], "loss": [float(x) for x in res.loss],
            "path_length": [float(x) for x in res.path_length]}


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_engine_reproduces_the_former_runs(name):
    ref = json.loads(DATA.read_text())["runs"][name]
    res = CASES[name]()
    got = outcome(res)
    assert got["status"] == ref["status"]
    assert got["steps"] == ref["steps"]
    scale = float(np.linalg.norm(res.W[0])) + 1.0
    for key in ("W_norm", "W_sum", "path_length"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-9, atol=1e-12 * scale, err_msg=key)
    # residual and loss: the same up to round-off of the residual (at convergence it is itself
    # at rounding level, where any reordering of a sum changes its leading digits)
    r0 = float(np.linalg.norm(res.residual_history[0]))
    np.testing.assert_allclose(got["residual"], ref["residual"], rtol=1e-9, atol=1e-13 * r0, err_msg="residual")
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-9, atol=1e-13 * r0**2, err_msg="loss")


if __name__ == "__main__":
    json.dump({"source": sys.argv[1] if len(sys.argv) > 1 else "this engine",
               "runs": {name: outcome(run()) for name, run in sorted(cases().items())}},
              sys.stdout, indent=1, sort_keys=True)
    print()
