"""The "Models" tab: the registry as a table, with where each model's weights are and their state here.

Its headless twin is the ``/models`` endpoint (``build_api``), which returns the
same rows as JSON.
"""

import gradio as gr

from studio.service import TrackingService, on_zero_gpu
from studio.ui.common import user_errors

COLUMNS = [
    ("name", "name"),
    ("kind", "kind"),
    ("online", "online"),
    ("input_resolution", "input resolution"),
    ("license", "license"),
    ("paper", "paper"),
    ("checkpoint", "checkpoint (hub repo/file@revision)"),
    ("status", "status here"),
]
"""``(row key, column header)`` of the table, in order."""

PRECACHE_NOTE = """\
### Weights: status and pre-caching

* **built-in**: needs no weights (runs anywhere, CPU).
* **cached**: the pinned checkpoint is in the local Hugging Face cache; the model loads without network.
* **downloadable**: not cached yet; it is downloaded (once) from the Hugging Face Hub the first time you track with it.
* **unavailable**: not cached, and `HF_HUB_OFFLINE` is set or the hub cannot be reached, so it cannot be loaded here;
  or one of its files is in a **gated** repository (marked "(gated)", e.g. the DINOv3 backbone of `track_on2` and
  `track_on_r`) and no token is set: accept the model's licence on its hub page while logged in, then set `HF_TOKEN`
  (or run `hf auth login`).

To pre-cache weights (e.g. before going offline, or in a Space build), download the pinned files into the
Hugging Face cache on a machine with network:

```bash
{commands}
# or, through the studio (downloads and builds one model):
python -c "from studio.registry import create_tracker; create_tracker('<name>')"
```

`HF_HOME` / `HF_HUB_CACHE` choose the cache folder; on a Hugging Face Space list the files under
`preload_from_hub:` in the README front matter so they are cached at build time.
Models stay loaded between requests (a small LRU cache, `STUDIO_MODEL_CACHE` models).
"""


def precache_commands(service: TrackingService) -> str:
    """``hf download`` lines for every pinned file of the models not cached here yet (one per file; gated
    repositories say what to do first)."""
    lines, seen = [], set()
    for r in service.models_table():
        if r["status"] == "cached":
            continue
        for f in r["files"]:
            key = (f["repo_id"], f["filename"], f["revision"])
            if key in seen:
                continue
            seen.add(key)
            note = (f" (gated: accept the licence on https://huggingface.co/{f['repo_id']} and set HF_TOKEN first)"
                    if f["gated"] else "")
            lines.append(f"hf download {f['repo_id']} {f['filename']} --revision {f['revision']}  # {r['name']}{note}")
    return "\n".join(lines) or "# every checkpoint is already cached here"


def table_rows(service: TrackingService) -> list[list[str]]:
    """The registry as rows of strings in ``COLUMNS`` order."""
    rows = []
    for r in service.models_table():
        rows.append([("yes" if r[k] else "no") if k == "online" else str(r[k]) for k, _ in COLUMNS])
    return rows


def runtime_line(service: TrackingService) -> str:
    """Markdown line: device and per-request limits."""
    where = "ZeroGPU (a GPU is reserved per Track request)" if on_zero_gpu() else str(service.device)
    return (
        f"Neural models run on **{where}** (`STUDIO_FORCE_CPU=1` forces CPU). "
        f"Limits per request: {service.limits.describe()}; longer or larger videos are cut or shrunk with a notice."
    )


def build_models(service: TrackingService) -> dict:
    """Build the Models tab inside the current context.

    Returns:
      ``{"table": gr.Dataframe, "refresh": gr.Button}``.
    """
    gr.Markdown(
        "Every model the studio knows, from its registry. Point trackers and dense models appear in the Track and "
        "Benchmark menus, dense models in the Dense tab; flow models serve the dense pipeline."
    )
    table = gr.Dataframe(
        value=table_rows(service),
        headers=[h for _, h in COLUMNS],
        interactive=False,
        wrap=True,
        elem_id="models-table",
        max_height=1200,
        column_widths=["11%", "7%", "7%", "9%", "12%", "24%", "20%", "10%"],
    )
    with gr.Row():
        refresh = gr.Button("Refresh status", size="sm", scale=0)
        gr.Markdown(runtime_line(service))
    note = gr.Markdown(_note(service))

    @user_errors
    def on_refresh():
        return table_rows(service), _note(service)

    refresh.click(on_refresh, outputs=[table, note], queue=False, api_visibility="undocumented")
    return {"table": table, "refresh": refresh}


def _note(service: TrackingService) -> str:
    return PRECACHE_NOTE.replace("{commands}", precache_commands(service))


def build_api(service: TrackingService) -> None:
    """The headless ``/models`` endpoint: the registry rows as a JSON list of objects."""

    def models() -> list[dict]:
        """All registry models with kind, license, paper, pinned checkpoint and weight status here.

        Returns:
            one object per model: name, kind, title, online, input_resolution, license,
            paper, checkpoint, checkpoint_url, status (built-in/cached/downloadable/unavailable), notes.
        """
        return service.models_table()

    gr.api(user_errors(models), api_name="models", queue=False)
