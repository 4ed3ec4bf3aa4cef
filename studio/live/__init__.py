"""Live tracking of a camera stream: ``LiveSession`` (frames in, drawn frames out, files on stop).

The Live tab (``studio.ui.tab_live``) holds one session per browser session; the
tracker behind it is any online model (``studio.online.open_online``).
"""

from studio.live.session import LiveOutcome, LiveSession, LiveStats

__all__ = ["LiveOutcome", "LiveSession", "LiveStats"]
