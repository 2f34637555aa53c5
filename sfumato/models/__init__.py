"""Models: find, hash, identify and load checkpoints; the family table; bundled configs."""
