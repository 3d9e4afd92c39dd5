"""Videos as frame lists: even frame sampling, folders of frame images, and video files through PyAV.

Video files need the optional extra `video` (PyAV, `pip install 'gitllm[video]'`); folders of frames need
nothing more. A video becomes one frame per image of `Sample.images`, and `Sample.frames(max_frames)`
picks the frames the model reads with `sample_indices`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gitllm.data.images import IMAGE_SUFFIXES, ImageError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def sample_indices(total: int, count: int) -> list[int]:
    """`count` indices spread evenly over `total` frames (the middle of `count` equal segments), in order;
    all of them when total <= count."""
    if count < 1:
        raise ValueError(f"frame count must be >= 1, not {count}")
    if total <= count:
        return list(range(total))
    return [int((k + 0.5) * total / count) for k in range(count)]


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise ImportError("video files need PyAV: pip install 'gitllm[video]' (or store the video as a folder "
                          "of frame images)") from None
    return av


@dataclass(frozen=True)
class VideoFrame:
    """Frame `index` of the video file at `path`, decoded (PyAV) only when needed."""

    path: str
    index: int

    def decode(self) -> Image.Image:
        av = _import_av()
        with av.open(self.path) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k == self.index:
                    return frame.to_image()
        raise ImageError("truncated_image", f"video {self.path} ends before frame {self.index}")


def _natural_key(path: Path) -> list[Any]:
    """frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def video_frames(path: str | Path) -> list[Path | VideoFrame]:
    """Every frame of a video, in order: a folder of frame images (natural name order) or a video file.

    ImageError('image_not_found') for a missing video or an empty folder, ('not_an_image') for another file."""
    path = Path(path)
    if not path.exists():
        raise ImageError("image_not_found", f"no video folder or file {path}")
    if path.is_dir():
        frames = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
        if not frames:
            raise ImageError("image_not_found", f"no frame images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return list(frames)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ImageError("not_an_image", f"{path} is neither a folder of frames nor a video file {VIDEO_SUFFIXES}")
    av = _import_av()
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))
    return [VideoFrame(str(path), k) for k in range(total)]
