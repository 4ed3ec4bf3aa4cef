"""What every command that builds a model shares: its checkpoint file (``--checkpoint``) and options (``--option``)."""

from __future__ import annotations


def parse_checkpoints(specs: list[str] | None, models: list[str]) -> dict[str, str]:
    """``--checkpoint`` values -> ``{model: path}``.

    Each value is ``NAME=PATH`` or a bare ``PATH``; a bare path is allowed when exactly one of
    ``models`` takes weights (it is that model's file).

    Raises:
      ValueError: a model given twice, or a bare path that could belong to several models.
    """
    from studio.registry import tracker_info

    out: dict[str, str] = {}
    neural = [m for m in dict.fromkeys(models) if tracker_info(m).checkpoint is not None]
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep or name not in models:  # a bare path (which may itself contain '=')
            if len(neural) != 1:
                raise ValueError(f"--checkpoint {spec!r}: say which model it is for as NAME=PATH "
                                 f"(models taking weights here: {', '.join(neural) or 'none'})")
            name, path = neural[0], spec
        if name in out:
            raise ValueError(f"--checkpoint given twice for {name}")
        out[name] = path
    return out


def parse_options(specs: list[str] | None) -> dict:
    """``--option KEY=VALUE`` values -> keyword arguments (numbers become int/float, true/false bool)."""
    out: dict = {}
    for spec in specs or []:
        key, sep, text = spec.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--option {spec!r}: expected KEY=VALUE, e.g. upsample=2")
        value: object = text
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                pass
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        out[key] = value
    return out
