"""The Gradio front end of the studio (the only package that imports gradio).

``build_demo()`` composes the tabs in ``studio.ui.app.TABS``; compute lives in
``studio.service`` and below.
"""

from studio.ui.app import build_demo, launch_kwargs

__all__ = ["build_demo", "launch_kwargs"]
