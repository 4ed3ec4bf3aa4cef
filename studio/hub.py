"""Checkpoint files: pinned Hugging Face hub downloads, the local cache, and strict loading.

Downloads go through ``huggingface_hub`` so its cache, ``HF_HOME`` /
``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` behave as users expect. Nothing here
imports torch until a checkpoint is actually loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping


class WeightsUnavailable(RuntimeError):
    """The checkpoint of a model cannot be had here; the message says which file and what to do."""


class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes do not match the model; the message names them."""


@dataclass(frozen=True)
class HubFile:
    """One file in a Hugging Face hub repository, pinned to a revision.

    Attributes:
      repo_id: e.g. ``"facebook/cotracker3"``.
      filename: path inside the repository, e.g. ``"scaled_offline.pth"``.
      revision: a commit hash (pinned) or a branch name.
      size_mb: approximate download size, for the Models tab.
      gated: the repository only serves files to logged-in users who accepted its licence
        on the hub page (``page``); a token (``HF_TOKEN`` or ``hf auth login``) is needed.
    """

    repo_id: str
    filename: str
    revision: str = "main"
    size_mb: float | None = None
    gated: bool = False

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/blob/{self.revision}/{self.filename}"

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"

    def __str__(self) -> str:
        return f"{self.repo_id}/{self.filename}@{self.revision[:12]}" + (" (gated)" if self.gated else "")


def has_token() -> bool:
    """Whether a Hugging Face token is configured (``HF_TOKEN`` or a saved login); no network."""
    from huggingface_hub import get_token

    return bool(get_token())


def gated_advice(file: HubFile) -> str:
    """What a user must do to get a gated file, in one sentence."""
    return (
        f"{file.repo_id} is gated: accept its licence on {file.page} while logged in, then set HF_TOKEN "
        f"(or run `hf auth login`) on this machine"
    )


def file_status(file: HubFile) -> str:
    """``"cached"``, ``"downloadable"`` or ``"unavailable"`` for one hub file (see ``registry.weight_status``).

    A gated file that is not cached is ``"unavailable"`` while no token is configured.
    """
    if cached_path(file) is not None:
        return "cached"
    if offline() or (file.gated and not has_token()) or not hub_reachable():
        return "unavailable"
    return "downloadable"


def offline() -> bool:
    """True when the user asked huggingface_hub not to touch the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cached_path(file: HubFile) -> Path | None:
    """The local path of ``file`` if it is already in the hub cache, else None. Never downloads."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo_id, file.filename, revision=file.revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def hub_endpoint() -> str:
    """The hub's base URL (``HF_ENDPOINT``, as huggingface_hub reads it)."""
    return os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"


_REACHABLE: dict[str, tuple[float, bool]] = {}
REACHABLE_TTL_S = 60.0


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` seconds (remembered for a minute).

    huggingface_hub retries a failed request with back-off for about 25 s; a machine
    with no network should hear "unavailable" at once instead.
    """
    import socket
    import time
    from urllib.parse import urlsplit

    url = urlsplit(hub_endpoint())
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    now = time.monotonic()
    seen = _REACHABLE.get(host)
    if seen is not None and now - seen[0] < REACHABLE_TTL_S:
        return seen[1]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _REACHABLE[host] = (now, ok)
    return ok


def fetch(file: HubFile, model_name: str) -> Path:
    """Return a local path to ``file``, downloading it into the hub cache if needed.

    Args:
      file: the pinned hub file.
      model_name: registry name, used in the error message.

    Returns:
      Path of the cached file.

    Raises:
      WeightsUnavailable: one sentence naming the model, the file and what to do.
    """
    hit = cached_path(file)
    if hit is not None:
        return hit
    advice = (
        f"put the file in the Hugging Face cache (for example `hf download {file.repo_id} {file.filename} "
        f"--revision {file.revision}` on a machine with network), pass checkpoint=PATH, "
        f"or use the weight-free tracker 'lk'"
    )
    if file.gated:
        advice = gated_advice(file) + "; or " + advice
    if offline():
        raise WeightsUnavailable(
            f"Model '{model_name}' needs {file.filename} from {file.repo_id}, which is not in the local cache "
            f"and HF_HUB_OFFLINE is set: {advice}."
        )
    if not hub_reachable():
        raise WeightsUnavailable(
            f"Model '{model_name}' needs {file.filename} from {file.repo_id}, which is not in the local cache, "
            f"and the hub ({hub_endpoint()}) cannot be reached from here: {advice}."
        )
    if file.gated and not has_token():
        raise WeightsUnavailable(
            f"Model '{model_name}' needs {file.filename} from {file.repo_id}, which is not in the local cache, "
            f"and no Hugging Face token is set: {advice}."
        )
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(file.repo_id, file.filename, revision=file.revision))
    except Exception as exc:  # network, auth, missing file: all end the same way for the user
        reason = type(exc).__name__
        if file.gated and reason in {"GatedRepoError", "RepositoryNotFoundError", "HfHubHTTPError"}:
            reason += "; the token may lack access: is the licence accepted?"
        raise WeightsUnavailable(
            f"Model '{model_name}' needs {file.filename} from {file.repo_id}, which could not be downloaded "
            f"({reason}): {advice}."
        ) from exc


def read_state_dict(path: str | os.PathLike, unwrap: tuple[str, ...] = ("state_dict", "model")) -> dict:
    """Load a checkpoint file as a flat ``{name: tensor}`` dict, without running pickled code.

    Args:
      path: a ``.pth``/``.pt`` file (torch zip or legacy pickle) or ``.safetensors``.
      unwrap: keys under which some checkpoints nest the weights; the first one present is used.

    Returns:
      dict of name -> torch.Tensor.
    """
    import argparse

    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        # Training checkpoints often carry their argparse.Namespace of settings next to the weights;
        # it is plain data, so it is allowed through the weights-only unpickler.
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointMismatch(f"{path.name} is not a readable weights-only torch checkpoint: {exc}") from exc
    for key in unwrap:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointMismatch(f"{path.name} holds a {type(obj).__name__}, not a state dict")
    return dict(obj)


def check_keys(expected: Mapping, state_dict: Mapping, source: str, target: str) -> None:
    """Raise ``CheckpointMismatch`` unless ``state_dict`` has exactly the keys and shapes of ``expected``.

    Args:
      expected: name -> shape the target needs.
      state_dict: name -> tensor, as read from a file.
      source, target: file and model names for the message.

    The message lists missing keys, unexpected keys and shape differences (the first few of
    each, with counts).
    """
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k])}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k])
    )
    if missing or unexpected or shapes:

        def few(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {few(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes: {few(shapes)}")
        raise CheckpointMismatch(f"{source} does not match {target}: " + "; ".join(parts))


def load_strict(
    module,
    state_dict: Mapping,
    key_filter: Callable[[dict], dict] | None = None,
    source: str = "checkpoint",
) -> None:
    """Load ``state_dict`` into ``module`` requiring every key and shape to match.

    Args:
      module: a ``torch.nn.Module``.
      state_dict: name -> tensor, as read from the official file.
      key_filter: optional per-family rename (e.g. strip a prefix) applied first.
      source: file name for the error message.

    Raises:
      CheckpointMismatch: listing missing keys, unexpected keys and shape differences
        (the first few of each, with counts).
    """
    sd = dict(state_dict)
    if key_filter is not None:
        sd = key_filter(sd)
    own = module.state_dict()
    check_keys({k: tuple(v.shape) for k, v in own.items()}, sd, source, type(module).__name__)
    module.load_state_dict(sd, strict=True)
