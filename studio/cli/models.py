"""``python -m studio models``: the registry and whether each model's weights are here."""

from __future__ import annotations

import argparse

from studio.registry import list_trackers, tracker_info, weight_status


def cmd_models(args: argparse.Namespace) -> int:
    rows = [("name", "kind", "online", "weights", "checkpoint", "license")]
    for name in list_trackers():
        e = tracker_info(name)
        rows.append(
            (name, e.kind, "yes" if e.online else "no", weight_status(name), str(e.checkpoint or "-"), e.license)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def add_models_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``models`` command to the CLI's subparsers; returns its parser."""
    m = subparsers.add_parser("models", help="list the registry and whether each model's weights are here")
    m.set_defaults(func=cmd_models)
    return m
