"""Clip sampling: where the clips of a video are cut, their augmentation and pretext labels."""
