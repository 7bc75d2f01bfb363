"""Progress bars without tqdm's "IProgress not found" warning.

The engine's modules use ``tqdm.auto``: notebook progress bars in Jupyter, text
bars elsewhere. In a Jupyter kernel without ``ipywidgets``, importing
``tqdm.auto`` warns "IProgress not found" (a red output in the cell that
imports :mod:`dspgd`) and falls back to text bars. This module, imported by
:mod:`dspgd` before any of the engine's modules, does that first import with
the warning silenced, so that later imports of ``tqdm.auto`` find it done.
The fallback is the same; progress bars are off by default anyway.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="IProgress not found")
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
