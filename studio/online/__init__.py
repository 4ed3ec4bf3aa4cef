"""Causal trackers behind one interface: feed frames as they come, get tracks as they settle.

``open_online(name)`` builds any registry model marked ``online`` and wraps it in an
``OnlineTracker``::

    tracker = open_online("lk")
    tracker.start(queries, (H, W))          # [N, 3] (t, x, y) input pixels; t may lie ahead
    for frames in source:                   # uint8 [k, H, W, 3]
        tracks, visible = tracker.step(frames)   # [k, N, 2] (x, y), [k, N] for these frames
    tracks, visible = tracker.finish()      # [T, N, 2], [T, N] for the whole stream

Used by ``python -m studio track --stream`` (``studio.online.stream``) and the Live tab.
"""

from studio.online.tracker import NotOnline, OnlineTracker, online_names, open_online

__all__ = ["NotOnline", "OnlineTracker", "online_names", "open_online"]
