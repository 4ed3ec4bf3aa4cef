"""What a batch reads: INPUTS (files, folders, globs) -> videos, and where each one's outputs go.

* a **file** is taken as it is (a file that is not a video fails as an item, it does
  not stop the batch); its outputs go to the top of the output folder;
* a **folder** is searched recursively for video files (``VIDEO_SUFFIXES``);
  outputs mirror its tree;
* a **glob** (``'data/**/*.mp4'``, quoted so the shell leaves it) matches videos;
  outputs mirror the tree below the glob's fixed part (``data/``). Folders it
  matches are searched like folders.

Hidden files and folders (names starting with ``.``) and anything inside the
output folder are left out, so a batch never reads its own renders.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePath

from studio.results import InputError

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp",
)


@dataclass(frozen=True)
class VideoInput:
    """One video of a batch.

    Attributes:
      path: the file, absolute.
      rel: its path below the input it came from (the file name for a file input); outputs mirror it.
    """

    path: Path
    rel: PurePath

    def output(self, out_dir: Path, suffix: str) -> Path:
        """The output beside this video's mirror in ``out_dir``: ``rel`` with its suffix replaced."""
        return out_dir / self.rel.parent / (self.rel.stem + suffix)


def _is_video(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_SUFFIXES


def _visible(rel: PurePath) -> bool:
    return not any(part.startswith(".") for part in rel.parts)


def _inside(p: Path, folder: Path | None) -> bool:
    return folder is not None and (p == folder or folder in p.parents)


def _folder_videos(folder: Path, base: Path, exclude: Path | None) -> list[VideoInput]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        root_p = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside((root_p / d).resolve(), exclude))
        for name in sorted(files):
            p = root_p / name
            if not name.startswith(".") and _is_video(p) and p.is_file():
                found.append(VideoInput(p.resolve(), p.relative_to(base)))
    return found


def _glob_base(pattern: str) -> Path:
    """The leading part of a glob without wildcards (``data/clips/**/*.mp4`` -> ``data/clips``)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(inputs: list[str], exclude: str | os.PathLike | None = None) -> list[VideoInput]:
    """The videos named by ``inputs``, in the order given (each folder or glob sorted), each once.

    Args:
      inputs: files, folders and glob patterns.
      exclude: a folder whose contents are never taken (the batch's output folder).

    Raises:
      InputError: an input that is neither a file, a folder nor a glob matching videos; no videos at all;
        two videos whose outputs would land on the same path.
    """
    excl = Path(exclude).resolve() if exclude is not None else None
    videos: list[VideoInput] = []
    for text in inputs:
        p = Path(text).expanduser()
        if p.is_file():
            videos.append(VideoInput(p.resolve(), PurePath(p.name)))
        elif p.is_dir():
            found = _folder_videos(p, p, excl)
            if not found:
                raise InputError(f"folder {text!r} holds no video files ({', '.join(VIDEO_SUFFIXES)})")
            videos.extend(found)
        elif glob.has_magic(text):
            base = _glob_base(str(p))
            found = []
            for m in sorted(glob.glob(str(p), recursive=True)):
                mp = Path(m)
                rel = mp.relative_to(base)
                if not _visible(rel) or _inside(mp.resolve(), excl):
                    continue
                if mp.is_dir():
                    found.extend(_folder_videos(mp, base, excl))
                elif _is_video(mp):
                    found.append(VideoInput(mp.resolve(), rel))
            if not found:
                raise InputError(f"pattern {text!r} matches no video files")
            videos.extend(found)
        else:
            raise InputError(f"no such file or folder: {text!r}")
    seen: set[Path] = set()
    unique = []
    for v in videos:
        if v.path not in seen and not _inside(v.path, excl):
            seen.add(v.path)
            unique.append(v)
    if not unique:
        raise InputError("no videos to track")
    _check_collisions(unique)
    return unique


def _check_collisions(videos: list[VideoInput]) -> None:
    by_target: dict[PurePath, list[VideoInput]] = defaultdict(list)
    for v in videos:
        by_target[v.rel.with_suffix("")].append(v)
    for target, clash in by_target.items():
        if len(clash) > 1:
            a, b = clash[0].path, clash[1].path
            raise InputError(
                f"{a} and {b} would both write {target}.*: give their parent folder, "
                "or a glob that keeps them apart, or run them into separate --out folders"
            )


def labelme_index(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """``{file stem: [json files]}`` for every ``.json`` file under ``folder`` (recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--labelme-dir {str(folder)!r} is not a folder")
    index: dict[str, list[Path]] = defaultdict(list)
    for p in sorted(folder.rglob("*.json")):
        if p.is_file() and _visible(p.relative_to(folder)):
            index[p.stem].append(p.resolve())
    return index


def find_labelme(video: VideoInput, folder: str | os.PathLike, index: dict[str, list[Path]]) -> Path:
    """The labelme file of ``video``: ``folder/<rel>.json`` (mirroring the inputs), else the one ``<stem>.json``.

    Raises:
      InputError: no such file, or several with that stem and none at the mirrored place.
    """
    mirrored = Path(folder) / video.rel.with_suffix(".json")
    if mirrored.is_file():
        return mirrored.resolve()
    matches = index.get(video.rel.stem, [])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"no labelme file {video.rel.stem}.json under {folder}")
    listed = ", ".join(str(m) for m in matches[:4])
    raise InputError(f"several labelme files are named {video.rel.stem}.json under {folder} ({listed}); "
                     f"put the one for this video at {mirrored}")
