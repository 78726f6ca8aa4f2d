"""Frame sources for the samplers: anything with num_frames, width, height and read(indices)."""

from __future__ import annotations

import torch


class ArrayVideo:
    """A video already decoded in memory, (T, H, W, C) uint8 (tests, and the frame cache's view)."""

    def __init__(self, frames: torch.Tensor):
        if frames.ndim != 4 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be uint8 (T, H, W, C), got {frames.dtype} {frames.shape}"
            )
        self.frames = frames

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def height(self) -> int:
        return self.frames.shape[1]

    @property
    def width(self) -> int:
        return self.frames.shape[2]

    def read(self, indices: list[int]) -> torch.Tensor:
        return self.frames[torch.as_tensor(indices, dtype=torch.long)]
