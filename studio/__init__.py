"""Tracking Studio: track points and regions through videos with any tracker of the registry."""

from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.results import InputError, TrackResult

__all__ = ["create_tracker", "list_trackers", "tracker_info", "weight_status", "InputError", "TrackResult"]
__version__ = "0.1.0"
