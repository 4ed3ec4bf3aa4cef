"""Reading and writing files: videos (``studio.io.video``), track files, track readers for drawing, masks."""
