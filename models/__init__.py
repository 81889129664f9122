"""The ProPainter engine: torch, numpy and OpenCV only; no Qt, no files."""
