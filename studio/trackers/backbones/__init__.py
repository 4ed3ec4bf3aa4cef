"""Vision-transformer backbones shared by trackers (DINOv2, DINOv3), in our own PyTorch code.

Each module keeps the key names of the published weights it loads, so the official
files load strictly; nothing here imports ``transformers``.
"""
