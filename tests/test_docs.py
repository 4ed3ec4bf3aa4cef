"""The README stays true to the code: its commands, its model table, its CI."""

import re

from conftest import ROOT
from studio.registry import list_trackers


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_every_registered_model_is_in_the_readme_table():
    rows = re.findall(r"^\| `([\w.-]+)` \|", _readme(), flags=re.M)
    assert set(list_trackers()) <= set(rows), set(list_trackers()) - set(rows)


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
    """``{repo: {file: {revisions}}}`` of every checkpoint the registry loads (read now, so new entries count)."""
    from studio.registry import tracker_info

    out: dict[str, dict[str, set[str]]] = {}
    for name in list_trackers():
        ck = tracker_info(name).checkpoint
        if getattr(ck, "repo_id", None):  # files people bring themselves are not on the hub
            out.setdefault(ck.repo_id, {}).setdefault(ck.filename, set()).add(ck.revision)
    return out


def test_front_matter_models_and_preloads_are_the_registrys():
    """The Space card claims only models the registry loads, and preloads exactly the files (and revisions)
    the registry will ask the hub for: a preload of another file or revision would be downloaded for nothing."""
    fm = _front_matter()
    hub = _hub_files()
    assert fm["models"] and set(fm["models"]) <= set(hub), set(fm["models"]) - set(hub)
    for line in fm["preload_from_hub"]:
        repo, files, *revision = line.split()
        assert repo in fm["models"] and repo in hub, line
        for f in files.split(","):
            assert f in hub[repo], f"{repo} {f}: not a checkpoint of any registry entry"
            # no revision in the preload line means main, which the registry must then use too
            want = revision[0] if revision else "main"
            assert hub[repo][f] == {want}, f"{repo} {f}: preloaded at {want}, the registry asks for {hub[repo][f]}"


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
