"""The README stays true to the code: its commands, its model table, its CI."""

import re

from conftest import ROOT
from studio.hub import HubFile
from studio.registry import list_trackers, tracker_info


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_every_registered_model_is_in_the_readme_table():
    rows = re.findall(r"^\| `([\w.-]+)` \|", _readme(), flags=re.M)
    assert set(list_trackers()) <= set(rows), set(list_trackers()) - set(rows)


def test_space_front_matter_lists_the_registry_hub_files_at_their_pinned_revisions():
    front = _readme().split("---", 2)[1]
    models = re.findall(r"^  - (\S+)$", front.split("\nmodels:", 1)[1].split("\npreload_from_hub:", 1)[0], re.M)
    preload = re.findall(r"^  - (.+)$", front.split("\npreload_from_hub:", 1)[1].split("\ntags:", 1)[0], re.M)
    pinned = {}
    for name in list_trackers():
        for file in tracker_info(name).files:  # the checkpoint and any extra files (e.g. a backbone)
            if isinstance(file, HubFile):  # files published elsewhere (UserFile) are not the hub's to pre-cache
                pinned[(file.repo_id, file.filename)] = file.revision
    assert {repo for repo, _ in pinned} <= set(models)
    assert preload
    for line in preload:
        repo, files, *rev = line.split()
        for f in files.split(","):
            assert (repo, f) in pinned, line  # a file some registry entry loads
            if pinned[(repo, f)] != "main":
                assert rev == [pinned[(repo, f)]], line  # at the revision the registry pins


def test_ci_runs_exactly_the_readme_test_command():
    readme = _readme()
    block = readme.split("## Run the tests", 1)[1].split("```bash", 1)[1].split("```", 1)[0].strip()
    test_cmd = block.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd == "python -m pytest -q"
    assert ci[-1].strip() == test_cmd


def test_requirements_pin_a_torch_range_the_local_wheel_satisfies_and_no_torchvision():
    req = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch>=2\.\d+,<2\.14$", req, flags=re.M)
    assert "torchvision" not in req.replace("No torchvision", "")
    for name in ["gradio", "mediapy", "av", "numpy", "matplotlib", "pillow", "huggingface-hub", "spaces",
                 "opencv-python-headless"]:
        assert re.search(rf"^{re.escape(name)}\b", req, flags=re.M), name


def _front_matter() -> dict:
    import yaml

    text = _readme()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def _hub_files() -> dict[str, dict[str, set[str]]]:
    """``{repo: {file: {revisions}}}`` of every hub file the registry loads: each entry's checkpoint and its
    extra files (backbones). Read now, so an entry added to the registry counts without touching this test."""
    from studio.registry import tracker_info

    out: dict[str, dict[str, set[str]]] = {}
    for name in list_trackers():
        for f in tracker_info(name).files:
            if getattr(f, "repo_id", None):  # files people bring themselves are not on the hub
                out.setdefault(f.repo_id, {}).setdefault(f.filename, set()).add(f.revision)
    return out


def test_front_matter_models_and_preloads_are_the_registrys():
    """The Space card lists exactly the hub repos the registry loads from (none it does not have, none it
    leaves out), and preloads only files the registry will ask the hub for, at the revision it asks for: a
    preload of another file or revision would be downloaded for nothing."""
    fm = _front_matter()
    hub = _hub_files()
    models = fm["models"]
    assert len(models) == len(set(models)), "a repo listed twice"
    assert set(models) == set(hub), (
        f"card lists repos the registry does not load: {sorted(set(models) - set(hub))}; "
        f"registry repos missing from the card: {sorted(set(hub) - set(models))}"
    )
    assert fm["preload_from_hub"]
    for line in fm["preload_from_hub"]:
        repo, files, *revision = line.split()
        assert repo in hub, line
        for f in files.split(","):
            assert f in hub[repo], f"{repo} {f}: not a file of any registry entry"
            # no revision in the preload line means main, which the registry must then use too
            want = revision[0] if revision else "main"
            assert hub[repo][f] == {want}, f"{repo} {f}: preloaded at {want}, the registry asks for {hub[repo][f]}"


def test_readme_calls_revisions_pinned_only_when_all_are():
    """'pinned revision' is a claim about every hub file; entries that follow ``main`` make it false."""
    follows_main = sorted(
        f"{repo}/{f}" for repo, files in _hub_files().items() for f, revs in files.items() if "main" in revs
    )
    if follows_main:
        text = re.sub(r"\s+", " ", _readme())
        claims = re.findall(r"[^.]*\bpinned (?:revision|downloads?|checkpoints?)\b[^.]*", text, flags=re.I)
        assert not claims, f"README says pinned, but {follows_main} follow main: {claims}"


def test_short_description_names_only_registry_families():
    """Model families the card's one-line description names must be in the registry (names or titles)."""
    from studio.registry import tracker_info

    families = ("CoTracker", "BootsTAPIR", "TAPIR", "TAPNext", "Track-On", "GMRW", "DOT", "RAFT", "LK",
                "LocoTrack", "AllTracker", "PIPs")
    known = " ".join(f"{n} {tracker_info(n).title}" for n in list_trackers()).lower()
    known = known.replace("lucas-kanade", "lk")
    description = _front_matter()["short_description"]
    assert len(description) <= 60  # the hub's limit
    named = [f for f in families if re.search(rf"\b{re.escape(f)}\b", description)]
    assert named, description
    for family in named:
        assert family.lower() in known, f"the card names {family}, which the registry does not have"


def test_front_matter_sdk_and_app_file_are_the_projects():
    """The Space builds with the Gradio the requirements pin and starts the app file that exists."""
    fm = _front_matter()
    req = (ROOT / "requirements.txt").read_text()
    pinned = re.search(r"^gradio==([\w.]+)\s*$", req, flags=re.M)
    assert fm["sdk"] == "gradio" and pinned and str(fm["sdk_version"]) == pinned.group(1)
    assert (ROOT / fm["app_file"]).is_file()
