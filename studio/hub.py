"""Checkpoint files: pinned Hugging Face hub downloads, the files users bring, safe and strict loading.

Downloads go through ``huggingface_hub`` so its cache, ``HF_HOME`` /
``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` behave as users expect. Files published
elsewhere (``UserFile``) and any file a user keeps live in the checkpoint folder
(``checkpoint_dir()``, ``STUDIO_CHECKPOINT_DIR``) under their official names.
Files are read with ``torch.load(weights_only=True)`` and only the Python objects a
format needs allowed; anything else is refused by name. Nothing here imports torch
until a checkpoint is actually loaded.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping


class WeightsUnavailable(RuntimeError):
    """The checkpoint of a model cannot be had here; the message says which file and what to do."""


class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes do not match the model; the message names them."""


class CheckpointRefused(CheckpointMismatch):
    """A checkpoint file refers to Python objects a weights file has no need for; the message names them.

    Nothing from the file was built or run.
    """


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


@dataclass(frozen=True)
class UserFile:
    """A checkpoint published outside the Hugging Face hub: the user downloads it and brings it.

    Attributes:
      filename: the official file name (how the checkpoint folder is searched).
      url: where to get it.
      source: one line saying what that link is, for messages and the Models tab.
      size_mb: approximate size, None when unknown.
    """

    filename: str
    url: str
    source: str = ""
    size_mb: float | None = None

    def __str__(self) -> str:
        return f"{self.filename} (bring your own)"


CHECKPOINT_DIR_ENV = "STUDIO_CHECKPOINT_DIR"


def checkpoint_dir() -> Path:
    """The folder of checkpoint files the user brings, searched by official file name.

    ``STUDIO_CHECKPOINT_DIR`` when set, else ``$XDG_CACHE_HOME/tracking-studio/checkpoints``
    (``~/.cache/...``). Files uploaded in the Models tab are kept here. It need not exist.
    """
    env = os.environ.get(CHECKPOINT_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "tracking-studio" / "checkpoints"


def local_checkpoint(filename: str) -> Path | None:
    """``checkpoint_dir() / filename`` if that file exists, else None."""
    path = checkpoint_dir() / filename
    return path if path.is_file() else None


def keep_checkpoint(src: str | os.PathLike, filename: str) -> Path:
    """Copy ``src`` into the checkpoint folder as ``filename``, all or nothing.

    The copy is written to a hidden temporary file in the folder, flushed to disk and
    renamed over ``filename`` only when complete, so a failed or interrupted copy never
    leaves a partial file under the official name (and the temporary one is removed).

    Returns:
      The kept file's path.
    """
    import shutil
    import tempfile

    if not filename or Path(filename).name != filename or filename.startswith("."):
        raise ValueError(f"not a plain file name: {filename!r}")
    folder = checkpoint_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if os.path.getsize(tmp) != os.path.getsize(src):
            raise OSError(f"copy of {filename} is incomplete")
        os.replace(tmp, folder / filename)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return folder / filename


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
        f"--revision {file.revision}` on a machine with network) or in the checkpoint folder {checkpoint_dir()} "
        f"({CHECKPOINT_DIR_ENV}), pass --checkpoint PATH / checkpoint=PATH, or use the weight-free tracker 'lk'"
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


_LOAD_LOCK = threading.Lock()  # torch's allow-list of globals is process-wide state


def _global_name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _refused(path: Path, names: Iterable[str]) -> CheckpointRefused:
    listed = ", ".join(sorted(set(names)))
    return CheckpointRefused(
        f"{path.name} refers to Python objects that a weights file does not need ({listed}); "
        f"it was refused, and nothing in it was built or run. Use the model's official checkpoint file."
    )


def read_state_dict(
    path: str | os.PathLike,
    unwrap: tuple[str, ...] = ("state_dict", "model"),
    allowed_globals: tuple[type, ...] = (),
) -> dict:
    """Load a checkpoint file as a flat ``{name: tensor}`` dict, without running pickled code.

    ``torch.load(weights_only=True)`` builds only tensors and plain containers; a format
    that also stores some other Python object lists it in ``allowed_globals``, and any
    other object the file refers to is refused by name before anything is loaded.

    Args:
      path: a ``.pth``/``.pt`` file (torch zip or legacy pickle) or ``.safetensors``.
      unwrap: keys under which some checkpoints nest the weights; the first one present is used.
      allowed_globals: classes the format needs besides tensors (e.g. ``argparse.Namespace``).

    Returns:
      dict of name -> torch.Tensor.

    Raises:
      CheckpointRefused: the file refers to objects outside the allowed ones (names them).
      CheckpointMismatch: not a readable checkpoint, or no state dict inside.
    """
    import pickle

    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise CheckpointMismatch(f"{path.name} is not a readable safetensors file ({type(exc).__name__})") from exc
    allowed = {_global_name(g) for g in allowed_globals}
    try:
        # Reads the pickle's opcodes only (zip checkpoints); legacy files are checked by the load itself.
        named = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        named = []
    if set(named) - allowed:
        raise _refused(path, set(named) - allowed)
    try:
        with _LOAD_LOCK, torch.serialization.safe_globals(list(allowed_globals)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not the user's concern
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text suggests turning the protection off; say what was found instead.
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc)) or _foreign_globals(path)
        if names:
            raise _refused(path, names) from None
        raise _unreadable(path, exc) from None
    except Exception as exc:
        raise _unreadable(path, exc) from None
    for key in unwrap:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointMismatch(f"{path.name} holds a {type(obj).__name__}, not a state dict")
    return dict(obj)


def _foreign_globals(path: Path, limit: int = 64 << 20) -> list[str]:
    """Names of non-torch Python objects a plain pickle file refers to, read from its opcodes (nothing runs).

    For files ``torch.load`` stops reading before it reaches an object (e.g. a pickle written
    with a newer protocol), so the refusal can still name what the file wanted to build.
    """
    import pickletools

    data = path.read_bytes()[:limit]
    names, strings, memo = [], [], {}
    pos = 0
    while pos < len(data):
        try:
            for op, arg, at in pickletools.genops(data[pos:]):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(arg)
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                    memo[arg] = strings[-1]
                elif op.name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
                    strings.append(memo[arg])
                elif op.name == "GLOBAL":
                    names.append(arg.replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
                if op.name == "STOP":
                    pos += at + 1
                    break
            else:
                break
        except Exception:  # raw tensor bytes after the pickles, or not a pickle at all
            break
    own = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.frozenset", "_codecs.encode")
    return sorted({n for n in names if not n.startswith(own)})


def _unreadable(path: Path, exc: Exception) -> CheckpointMismatch:
    # torch's texts range from C++ assertion dumps to advice on loading unsafely: name the kind only.
    return CheckpointMismatch(
        f"{path.name} is not a readable torch checkpoint: it is empty, cut short or not in torch's file format "
        f"({type(exc).__name__})"
    )


def strip_prefixes(prefixes: tuple[str, ...]) -> Callable[[dict], dict]:
    """Key filter for ``load_strict``: remove the first of ``prefixes`` that every key carries.

    Files without the prefix pass unchanged (e.g. DDP's ``module.``: present in files
    saved from a wrapped model, absent otherwise).
    """

    def key_filter(sd: dict) -> dict:
        for p in prefixes:
            if sd and all(k.startswith(p) for k in sd):
                return {k[len(p):]: v for k, v in sd.items()}
        return sd

    return key_filter


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
