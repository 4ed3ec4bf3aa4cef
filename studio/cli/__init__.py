"""Command line: ``python -m studio models|track|batch|render|bench|dense|gt|h5``.

The parser is built here; each command lives in its own module
(``studio.cli.<command>``), which adds its subparser with
``add_<command>_parser(subparsers)`` and sets the function that runs it.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from studio.cli.batch import add_batch_parser
    from studio.cli.bench import add_bench_parser
    from studio.cli.dense import add_dense_parser
    from studio.cli.gt import add_gt_parser
    from studio.cli.h5 import add_h5_parser
    from studio.cli.models import add_models_parser
    from studio.cli.render import add_render_parser
    from studio.cli.track import add_track_parser

    p = argparse.ArgumentParser(prog="python -m studio", description="Tracking Studio: track points through videos.")
    sub = p.add_subparsers(dest="command", required=True)
    add_models_parser(sub)
    add_track_parser(sub)
    add_batch_parser(sub)
    add_render_parser(sub)
    add_bench_parser(sub)
    add_dense_parser(sub)
    add_gt_parser(sub)
    add_h5_parser(sub)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; errors a user can act on become one line on stderr and exit status 2."""
    try:
        return args.func(args)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        # InputError, VideoError, WeightsUnavailable, CheckpointMismatch: one readable line, no traceback.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: this needs more memory than the machine has; try a shorter or smaller input", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "out", None):
        from studio.io.trackfile import format_of
        from studio.results import InputError

        try:
            format_of(args.out)
        except InputError as exc:  # fail before minutes of tracking, not after
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
