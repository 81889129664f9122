"""The project model: clip, range, per-frame masks, settings; undo commands; save/load."""
