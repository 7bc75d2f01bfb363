"""Command line of the package: ``python -m dspgd reproduce [--out DIR] [--only NAME ...] [--list]``.

Exit status: 0 done; 1 a figure failed or a file could not be written (the
message names the figure or the path); 2 a bad request (an unknown option
or figure, an unusable output directory); 130 interrupted (Ctrl-C), with one
line on standard error and no ``figures.json`` left behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

#: Exit status for a bad request (unknown figure, unusable output directory).
USAGE_ERROR = 2
#: Exit status when a figure function fails.
FIGURE_ERROR = 1
#: Exit status when a file cannot be written.
WRITE_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130

_PROG = "python -m dspgd"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("dspgd")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        from . import __version__

        return __version__


def _directory(text: str) -> str:
    """``--out``: a non-empty directory name."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the directory name is empty (use --out . for the current directory)")
    return text


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="The companion package of the book 'Dual Space Preconditioning, Reproduced'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (dspgd) {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rep = sub.add_parser(
        "reproduce",
        help="regenerate the book's figures (PNG, PDF) and the numbers behind them (figures.json)",
        description=(
            "Regenerate every figure of the book, or the ones named with --only, "
            "as PNG and PDF in --out, with the numbers behind them in --out/figures.json. "
            "Two runs on the same software write byte-identical files. figures.json is "
            "written last: a run that does not finish leaves none."
        ),
    )
    rep.add_argument("--out", default="figs", metavar="DIR", type=_directory,
                     help="output directory (default: figs)")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="produce only these figures")
    rep.add_argument("--list", action="store_true", help="list the figures and exit")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser, {"reproduce": rep}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, subparsers = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report a subcommand's unknown option with that subcommand's usage
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _reproduce(args)
    except KeyboardInterrupt:
        print(f"{_PROG} {args.command}: interrupted; no figures.json was written", file=sys.stderr)
        return INTERRUPTED


def _reproduce(args: argparse.Namespace) -> int:
    # imported here so that ``--help`` stays fast
    import matplotlib

    matplotlib.use("Agg")
    from . import figures
    from .reproduce import FigureFailed, ReproduceError, WriteFailed, list_figures, reproduce, select

    prog = f"{_PROG} reproduce"
    try:
        if args.list:
            print(list_figures(select(args.only)))
            return 0
        t0 = time.perf_counter()
        produced = reproduce(args.out, args.only, progress=not args.no_progress)
    except ReproduceError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except WriteFailed as e:
        print(f"{prog}: error: {e}; no figures.json was written", file=sys.stderr)
        return WRITE_ERROR
    except FigureFailed as e:
        import traceback

        traceback.print_exception(e.__cause__, file=sys.stderr)
        print(f"{prog}: error: {e}", file=sys.stderr)
        return FIGURE_ERROR
    total = time.perf_counter() - t0
    n = len(produced.seconds)
    for name, sec in sorted(produced.seconds.items()):
        print(f"{sec:8.2f} s  {name}  ({figures.REGISTRY[name].qualname})", file=sys.stderr)
    print(f"wrote {n} figure{'s' if n != 1 else ''} and figures.json to {produced.out} in {total:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
