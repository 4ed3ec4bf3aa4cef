"""The "Models" tab: the registry as a table, with where each model's weights are and their state here,
and the upload of a checkpoint the user brings.

Its headless twins are the ``/models`` endpoint (``build_api``), which returns the
same rows as JSON, and ``/add_checkpoint``, which checks and keeps a file as the upload does.
"""

import gradio as gr

from studio.registry import list_trackers, tracker_info, weight_status, where_to_get
from studio.service import TrackingService, on_zero_gpu
from studio.service.catalog import checkpoint_uploads_allowed
from studio.ui.common import USER_ERRORS, message_of, user_errors

COLUMNS = [
    ("name", "name"),
    ("kind", "kind"),
    ("online", "online"),
    ("input_resolution", "input resolution"),
    ("license", "license"),
    ("paper", "paper"),
    ("checkpoint", "checkpoint (hub repo/file@revision, or a file you bring)"),
    ("status", "status here"),
]
"""``(row key, column header)`` of the table, in order."""

PRECACHE_NOTE = """\
### Weights: status and pre-caching

* **built-in**: needs no weights (runs anywhere, CPU).
* **local file**: the official file is in the checkpoint folder (`STUDIO_CHECKPOINT_DIR`, or an upload below).
* **cached**: the pinned checkpoint is in the local Hugging Face cache; the model loads without network.
* **downloadable**: not cached yet; it is downloaded (once) from the Hugging Face Hub the first time you track with it.
* **unavailable**: not cached, and `HF_HUB_OFFLINE` is set or the hub cannot be reached, so it cannot be loaded here;
  or one of its files is in a **gated** repository (marked "(gated)", e.g. the DINOv3 backbone of `track_on2` and
  `track_on_r`) and no token is set: accept the model's licence on its hub page while logged in, then set `HF_TOKEN`
  (or run `hf auth login`).
* **needs a file**: the checkpoint is published outside the hub; bring it (where to get it: below).

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
    """``hf download`` lines for every pinned hub file of the models not cached here yet (one per file; gated
    repositories say what to do first)."""
    lines, seen = [], set()
    for r in service.models_table():
        if r["status"] == "cached":
            continue
        for f in r["files"]:
            key = (f["repo_id"], f["filename"], f["revision"])
            if not f["repo_id"] or key in seen:
                continue
            seen.add(key)
            note = (f" (gated: accept the licence on https://huggingface.co/{f['repo_id']} and set HF_TOKEN first)"
                    if f["gated"] else "")
            lines.append(f"hf download {f['repo_id']} {f['filename']} --revision {f['revision']}  # {r['name']}{note}")
    return "\n".join(lines) or "# every checkpoint is already cached here"


def upload_models() -> list[str]:
    """Registry names that take a checkpoint, models that need a file first."""
    names = [n for n in list_trackers() if tracker_info(n).checkpoint is not None]
    return sorted(names, key=lambda n: weight_status(n) != "needs a file")


def where_text(name: str | None) -> str:
    """Markdown: the chosen model's file, its status here and where to get it."""
    if not name:
        return ""
    file = tracker_info(name).checkpoint
    return f"**{name}** needs `{file.filename}` · status here: **{weight_status(name)}**. {where_to_get(name)}"


def files_to_bring() -> str:
    """Markdown list of the models whose files are published outside the hub and not here yet."""
    lines = [f"* `{n}`: {where_to_get(n)}" for n in list_trackers() if weight_status(n) == "needs a file"]
    return ("**Needs a file:**\n" + "\n".join(lines)) if lines else ""


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
    upload = _build_upload(service, table, note)
    return {"table": table, "refresh": refresh, **upload}


def _build_upload(service: TrackingService, table: gr.Dataframe, note: gr.Markdown) -> dict:
    """The "bring your own checkpoint" box under the table."""
    allowed = checkpoint_uploads_allowed()
    names = upload_models()
    gr.Markdown(
        "### Bring your own checkpoint\n"
        "Any model can use a file you bring. It is loaded strictly into the model first (on the CPU, without "
        "running anything stored in it): a file that does not fit is refused with the key differences and is not "
        "kept. A file that fits is kept in the checkpoint folder under its official name (it serves every request "
        "to this server) and the model loads it on its next use. "
        + ("" if allowed else "**Uploads are switched off on this server** (`STUDIO_CHECKPOINT_UPLOAD=0`).")
    )
    with gr.Row():
        model = gr.Dropdown(choices=names, value=names[0] if names else None, label="model",
                            elem_id="checkpoint-model", scale=1)
        file = gr.File(label="checkpoint file (.pth, .pt or .safetensors)", type="filepath",
                       file_types=[".pth", ".pt", ".safetensors"], elem_id="checkpoint-file", scale=2,
                       interactive=allowed)
    where = gr.Markdown(where_text(model.value), elem_id="checkpoint-where")
    keep = gr.Button("Check and keep", variant="primary", elem_id="checkpoint-keep", interactive=allowed)
    result = gr.Markdown(elem_id="checkpoint-result")

    @user_errors
    def on_keep(name, path):
        # The refusal stays on the page (it lists the key differences), not only in a passing toast.
        try:
            text = "Kept: " + service.add_checkpoint(name, path)
        except USER_ERRORS as exc:
            text = "**Refused, nothing kept:** " + message_of(exc)
        return text, table_rows(service), _note(service), where_text(name), None

    model.change(where_text, inputs=model, outputs=where, queue=False, api_visibility="undocumented")
    keep.click(on_keep, inputs=[model, file], outputs=[result, table, note, where, file],
               api_visibility="undocumented")
    return {"upload_model": model, "upload_file": file, "upload_keep": keep, "upload_result": result}


def _note(service: TrackingService) -> str:
    bring = files_to_bring()
    return PRECACHE_NOTE.replace("{commands}", precache_commands(service)) + (f"\n{bring}\n" if bring else "")


def build_api(service: TrackingService) -> None:
    """The headless ``/models`` endpoint: the registry rows as a JSON list of objects."""

    def models() -> list[dict]:
        """All registry models with kind, license, paper, pinned checkpoint and weight status here.

        Returns:
            one object per model: name, kind, title, online, input_resolution, license,
            paper, checkpoint, checkpoint_url, status (built-in/local file/cached/downloadable/unavailable/
            needs a file), where_to_get, notes.
        """
        return service.models_table()

    gr.api(user_errors(models), api_name="models", queue=False)

    with gr.Group(visible=False):
        name = gr.Textbox(label="model")
        file = gr.File(label="checkpoint", type="filepath")
        status = gr.Textbox(label="status")
        trigger = gr.Button("add_checkpoint", visible=False)

    @user_errors
    def add_checkpoint(model: str, checkpoint: str) -> str:
        """Check a checkpoint file strictly as a model's and keep it in the checkpoint folder.

        Args:
            model: registry name (e.g. "gmrw").
            checkpoint: the file (use gradio_client.handle_file).

        Returns:
            one sentence: where the file was kept and which models use it. A file that does not
            fit is an error naming the key differences, and nothing is kept.
        """
        return service.add_checkpoint(model, checkpoint)

    trigger.click(add_checkpoint, inputs=[name, file], outputs=status, api_name="add_checkpoint")
