"""Tracking Studio web app: ``python app.py`` (also the Hugging Face Space entry point).

``demo`` is built at import (Gradio's reloader and Spaces look for it); the server
starts only under ``__main__``. Host and port come from ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860); ``STUDIO_*`` variables set the
limits (see ``studio/service/``).
"""

import studio.service  # noqa: F401  first: it imports `spaces`, which must precede CUDA initialisation
from studio.ui import build_demo, launch_kwargs

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
