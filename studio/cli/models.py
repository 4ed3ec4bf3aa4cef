"""``python -m studio models [--add NAME PATH]``: the registry and whether each model's weights are here,
or keep a checkpoint you bring in the checkpoint folder (after a strict check)."""

from __future__ import annotations

import argparse

from studio.hub import checkpoint_dir
from studio.registry import list_trackers, tracker_info, weight_status, where_to_get


def cmd_models(args: argparse.Namespace) -> int:
    if args.add:
        from studio.registry import add_checkpoint, names_using

        name, path = args.add
        kept = add_checkpoint(name, path)
        print(f"{kept.name} passed the strict check; kept as {kept} (used by {', '.join(names_using(kept.name))})")
        return 0
    rows = [("name", "kind", "online", "weights", "checkpoint", "license")]
    for name in list_trackers():
        e = tracker_info(name)
        rows.append(
            (name, e.kind, "yes" if e.online else "no", weight_status(name), " + ".join(str(f) for f in e.files) or "-", e.license)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"# checkpoint folder: {checkpoint_dir()} (STUDIO_CHECKPOINT_DIR); add a file with "
          "`python -m studio models --add NAME PATH`")
    for name in list_trackers():
        if weight_status(name) == "needs a file":
            print(f"# {name} needs a file: {where_to_get(name)}")
    return 0


def add_models_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``models`` command to the CLI's subparsers; returns its parser."""
    m = subparsers.add_parser("models", help="list the registry and whether each model's weights are here")
    m.add_argument("--add", nargs=2, metavar=("NAME", "PATH"),
                   help="check PATH strictly as model NAME's checkpoint and keep it in the checkpoint folder")
    m.set_defaults(func=cmd_models)
    return m
