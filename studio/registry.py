"""The one list of models: names, what they are, where their weights live, how to build them.

UI dropdowns, CLI choices and tests all read ``list_trackers()``; nothing else
names models. Entries register themselves from their modules (``studio.trackers``)
with ``register``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from studio.hub import (
    CHECKPOINT_DIR_ENV,
    HubFile,
    UserFile,
    WeightsUnavailable,
    cached_path,
    checkpoint_dir,
    fetch,
    file_status,
    gated_advice,
    hub_reachable,
    keep_checkpoint,
    local_checkpoint,
    offline,
)

Kind = Literal["point", "flow", "dense"]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model.

    Attributes:
      name: registry name, e.g. ``"lk"`` or ``"cotracker3_offline"``.
      kind: ``"point"`` (queries -> tracks), ``"flow"`` (frame pair -> flow) or ``"dense"``.
      title: human name for menus.
      build: ``build(device, checkpoint_path | None) -> model``.
      checkpoint: pinned hub file, a ``UserFile`` (published elsewhere: the user brings it),
        or None for weight-free models.
      input_resolution: ``(H, W)`` the model works at, None = the input's own size.
      query_convention: the model's *native* query format (adapters convert from the studio's).
      online: can run causally frame by frame.
      visibility: how the model's outputs become ``visible``.
      license: license of code and weights.
      paper: citation (title, venue) and link.
      notes: anything a user should know (speed, limits).
      check: ``check(path)`` raises ``CheckpointMismatch`` unless ``path`` is this entry's
        checkpoint; None = build the model on the CPU with it (strict loading).
      extra_files: more hub files the model needs besides ``checkpoint`` (e.g. a backbone
        that the official file leaves out); the builder fetches them only when the
        checkpoint it was given lacks their weights.
      self_contained: ``self_contained(path)`` tells whether a checkpoint file already holds
        what ``extra_files`` would add (then they are not needed); None = never.
    """

    name: str
    kind: Kind
    title: str
    build: Callable[[Any, Path | None], Any]
    checkpoint: HubFile | None = None
    input_resolution: tuple[int, int] | None = None
    query_convention: str = "(t, x, y) pixels"
    online: bool = False
    visibility: str = ""
    license: str = ""
    paper: str = ""
    notes: str = ""
    check: Callable[[Path], Any] | None = None
    extra_files: tuple[HubFile, ...] = ()
    self_contained: Callable[[Path], bool] | None = None

    @property
    def needs_weights(self) -> bool:
        return self.checkpoint is not None

    @property
    def files(self) -> tuple:
        """Every file of the model: the checkpoint first, then ``extra_files``."""
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


NOT_USABLE: tuple[str, ...] = ("unavailable", "needs a file")
"""Weight statuses under which a model cannot be built here."""


def weight_status(name: str) -> str:
    """Where the model's weights would come from here.

    Returns:
      ``"built-in"`` (weight-free); ``"local file"`` (the official file name is in the
      checkpoint folder, ``studio.hub.checkpoint_dir()``); ``"cached"`` (in the Hugging Face
      cache); ``"downloadable"`` (not cached, the hub is not switched off and its server
      accepts connections, remembered for a minute; whether the file itself comes is only
      known when the download is tried); ``"unavailable"`` (a hub file that cannot be had
      here, e.g. a file of a gated repository while no token is set); ``"needs a file"``
      (published outside the hub: the user must bring it).

    With ``extra_files``, the checkpoint's own status stands when they are not needed (a
    local file that holds everything) or all cached; otherwise the worst of them counts.
    """
    entry = tracker_info(name)
    if entry.checkpoint is None:
        return "built-in"
    local = local_checkpoint(entry.checkpoint.filename)
    if local is not None:
        status = "local file"
    elif isinstance(entry.checkpoint, UserFile):
        return "needs a file"
    elif cached_path(entry.checkpoint) is not None:
        status = "cached"
    else:
        status = "unavailable" if offline() or not hub_reachable() else "downloadable"
    if not entry.extra_files or status == "unavailable":
        return status
    if local is not None and entry.self_contained is not None and entry.self_contained(local):
        return status
    extra = [file_status(f) for f in entry.extra_files]
    if "unavailable" in extra:
        return "unavailable"
    return status if all(x == "cached" for x in extra) else "downloadable"


def where_to_get(name: str) -> str:
    """One sentence: how to give model ``name`` its weights here (empty for weight-free models)."""
    file = tracker_info(name).checkpoint
    if file is None:
        return ""
    bring = (f"pass --checkpoint PATH (CLI) or checkpoint=PATH (Python), put it in the checkpoint folder "
             f"{checkpoint_dir()} (set {CHECKPOINT_DIR_ENV} to choose it), or upload it in the Models tab")
    if isinstance(file, UserFile):
        return f"Download {file.filename} from {file.url} ({file.source}), then {bring}."
    text = (f"{file.filename} comes from the Hugging Face hub ({file.repo_id}, revision {file.revision[:12]}); "
            f"without network, {bring}.")
    for extra in tracker_info(name).extra_files:
        text += (f" It also needs {extra.filename} from {extra.repo_id} (Hugging Face cache or download) unless "
                 f"the checkpoint file already holds those weights.")
        if extra.gated:
            text += f" {gated_advice(extra)}."
    return text


def _user_file_missing(name: str, file: UserFile) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"Model '{name}' needs {file.filename}, which is not published on the Hugging Face hub and is not in "
        f"the checkpoint folder. {where_to_get(name)}"
    )


def create_tracker(name: str, device: Any = None, checkpoint: str | Path | None = None, **options: Any) -> Any:
    """Build a model from the registry with its weights loaded.

    Weights come from ``checkpoint`` when given, else from the checkpoint folder
    (``STUDIO_CHECKPOINT_DIR``, searched by the official file name), else from the pinned
    hub file (cache, then download). A model whose file is published elsewhere
    (``UserFile``) needs one of the first two.

    Args:
      name: registry name (see ``list_trackers()``).
      device: ``torch.device`` or string for neural models; None picks one
        (``studio.device.pick_device``). Weight-free models ignore it.
      checkpoint: a local file to load instead.
      **options: passed to the model's constructor (e.g. ``upsample=2`` for ``gmrw``,
        ``threshold=0.8`` for CoTracker); see each family's adapter.

    Returns:
      A ``PointTracker`` (kind "point"), a ``FlowModel`` (kind "flow") or a dense tracker.

    Raises:
      KeyError: unknown name.
      ValueError: an option the model does not have.
      WeightsUnavailable: the checkpoint can be neither found nor downloaded (says where to get it).
      CheckpointMismatch: the file does not fit the model (names the keys), or is refused
        (``CheckpointRefused``: it refers to objects a weights file does not need).
    """
    entry = tracker_info(name)
    path: Path | None = None
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"Model '{name}': checkpoint file {str(path)!r} does not exist.")
    elif entry.checkpoint is not None:
        path = local_checkpoint(entry.checkpoint.filename)
        if path is None and isinstance(entry.checkpoint, UserFile):
            raise _user_file_missing(name, entry.checkpoint)
        if path is None:
            path = fetch(entry.checkpoint, name)
    if entry.checkpoint is not None or checkpoint is not None:
        from studio.device import pick_device

        device = pick_device(device)
    if not options:
        return entry.build(device, path)
    try:
        return entry.build(device, path, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ValueError(f"Model '{name}' does not take the options {sorted(options)} ({exc})") from None


def check_checkpoint(name: str, path: str | Path) -> None:
    """Raise unless ``path`` is a checkpoint model ``name`` loads strictly (nothing is kept).

    Raises:
      KeyError: unknown name.
      ValueError: the model takes no weights.
      CheckpointMismatch / CheckpointRefused: the file does not fit (names the keys) or holds
        objects a weights file does not need.
    """
    entry = tracker_info(name)
    if entry.checkpoint is None:
        raise ValueError(f"Model '{name}' needs no weights")
    path = Path(path)
    if entry.check is not None:
        entry.check(path)
    else:
        entry.build(_cpu(), path)


def add_checkpoint(name: str, path: str | Path) -> Path:
    """Check ``path`` strictly as model ``name``'s checkpoint, then keep it in the checkpoint folder.

    The file is kept under the entry's official file name (``checkpoint_dir() / filename``),
    written all-or-nothing; a file that fails the check is not kept and an existing
    good file is left as it was.

    Returns:
      The kept file's path.

    Raises:
      as ``check_checkpoint``.
    """
    check_checkpoint(name, path)
    return keep_checkpoint(path, tracker_info(name).checkpoint.filename)


def names_using(filename: str) -> list[str]:
    """Registry names whose checkpoint has this official file name (e.g. offline and online variants)."""
    return [n for n in list_trackers() if (e := tracker_info(n)).checkpoint and e.checkpoint.filename == filename]


def _cpu():
    import torch

    return torch.device("cpu")
