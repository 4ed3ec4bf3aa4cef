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
