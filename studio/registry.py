"""The one list of models: names, what they are, where their weights live, how to build them.

UI dropdowns, CLI choices and tests all read ``list_trackers()``; nothing else
names models. Entries register themselves from their modules (``studio.trackers``)
with ``register``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from studio.hub import HubFile, WeightsUnavailable, fetch, file_status

Kind = Literal["point", "flow", "dense"]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model.

    Attributes:
      name: registry name, e.g. ``"lk"`` or ``"cotracker3_offline"``.
      kind: ``"point"`` (queries -> tracks), ``"flow"`` (frame pair -> flow) or ``"dense"``.
      title: human name for menus.
      build: ``build(device, checkpoint_path | None) -> model``.
      checkpoint: pinned hub file, or None for weight-free models.
      extra_files: more hub files the model needs besides ``checkpoint`` (e.g. a backbone
        that the official file leaves out); the builder fetches them only when the
        checkpoint it was given lacks their weights.
      input_resolution: ``(H, W)`` the model works at, None = the input's own size.
      query_convention: the model's *native* query format (adapters convert from the studio's).
      online: can run causally frame by frame.
      visibility: how the model's outputs become ``visible``.
      license: license of code and weights.
      paper: citation (title, venue) and link.
      notes: anything a user should know (speed, limits).
    """

    name: str
    kind: Kind
    title: str
    build: Callable[[Any, Path | None], Any]
    checkpoint: HubFile | None = None
    extra_files: tuple[HubFile, ...] = ()
    input_resolution: tuple[int, int] | None = None
    query_convention: str = "(t, x, y) pixels"
    online: bool = False
    visibility: str = ""
    license: str = ""
    paper: str = ""
    notes: str = ""

    @property
    def needs_weights(self) -> bool:
        return self.checkpoint is not None

    @property
    def files(self) -> tuple[HubFile, ...]:
        """Every pinned hub file of the model: the checkpoint first, then ``extra_files``."""
        return ((self.checkpoint,) if self.checkpoint is not None else ()) + tuple(self.extra_files)


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry``; a second entry under the same name is an error (no silent overwrite)."""
    if entry.name in _REGISTRY and _REGISTRY[entry.name] is not entry:
        raise ValueError(f"a model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove an entry (for tests that register temporary models)."""
    _REGISTRY.pop(name, None)


def _load_builtin() -> None:
    # Importing the package registers the built-in models.
    import studio.trackers  # noqa: F401


def list_trackers(kind: Kind | None = None) -> list[str]:
    """Registry names, weight-free models first, optionally only one ``kind``."""
    _load_builtin()
    entries = [e for e in _REGISTRY.values() if kind is None or e.kind == kind]
    return [e.name for e in sorted(entries, key=lambda e: (e.needs_weights, e.kind, e.name))]


QUERY_KINDS: tuple[str, ...] = ("point", "dense")
"""Kinds whose models track given query points (``.track(video, queries)``): dense models
sample their dense motion at the queries (DOT's "tracks for queries")."""


def query_trackers() -> list[str]:
    """Names of the models that take query points: point trackers first, then dense models."""
    return list_trackers("point") + list_trackers("dense")


def tracker_info(name: str) -> ModelEntry:
    """The entry for ``name``; ``KeyError`` naming the known models otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_trackers())}") from None


def weight_status(name: str) -> str:
    """``"built-in"`` (weight-free), ``"cached"``, ``"downloadable"`` or ``"unavailable"``.

    ``"downloadable"`` means not cached, the hub is not switched off and its server
    accepts connections (``hub_reachable``, remembered for a minute); whether the
    file itself comes is only known when the download is tried. A model with extra
    files is "cached" when all its files are, and "unavailable" when one of them is
    (a gated file that is not cached counts as unavailable until a token is set).
    """
    entry = tracker_info(name)
    if entry.checkpoint is None:
        return "built-in"
    states = [file_status(f) for f in entry.files]
    if "unavailable" in states:
        return "unavailable"
    return "cached" if all(s == "cached" for s in states) else "downloadable"


def create_tracker(name: str, device: Any = None, checkpoint: str | Path | None = None) -> Any:
    """Build a model from the registry with its weights loaded.

    Args:
      name: registry name (see ``list_trackers()``).
      device: ``torch.device`` or string for neural models; None picks one
        (``studio.device.pick_device``). Weight-free models ignore it.
      checkpoint: a local file to load instead of the pinned hub file.

    Returns:
      A ``PointTracker`` (kind "point"), a ``FlowModel`` (kind "flow") or a dense tracker.

    Raises:
      KeyError: unknown name.
      WeightsUnavailable: the checkpoint can be neither found nor downloaded.
      CheckpointMismatch: the file does not fit the model (names the keys).
    """
    entry = tracker_info(name)
    path: Path | None = None
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise WeightsUnavailable(f"Model '{name}': checkpoint file {str(path)!r} does not exist.")
    elif entry.checkpoint is not None:
        path = fetch(entry.checkpoint, name)
    if entry.checkpoint is not None or checkpoint is not None:
        from studio.device import pick_device

        device = pick_device(device)
    return entry.build(device, path)
