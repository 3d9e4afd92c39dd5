"""Several images per sample through the data path: readers, frame sampling, encoding, collation, feature
cache, `gitllm data check`, and training on frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data_fixtures import b64, clip_processor, encoded, m3it_row, photo, tokenizer, write_jsonl
from test_data_cli import check

from gitllm.data import BadRowError, Collator, Encoder, RowPolicy, Sample, read
from gitllm.data.frames import stack_frames
from gitllm.data.readers.m3it import resolve_tasks
from gitllm.data.video import VideoFrame, sample_indices, video_frames
from gitllm.train import FeatureCache, ImageKeys, encoder_identity
from gitllm.train.data import FeatureDataset
from tiny_models import tiny_model, tiny_processor

SHADES = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def _frame_folder(root: Path, n: int) -> Path:
    """n solid frames named frame_1.png .. frame_n.png (natural order differs from name order past 9)."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.new("RGB", (40, 40), SHADES[k % len(SHADES)]).save(root / f"frame_{k + 1}.png")
    return root


def test_sample_indices_spread_evenly() -> None:
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(8, 4) == [1, 3, 5, 7]
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    with pytest.raises(ValueError, match="frame count must be >= 1"):
        sample_indices(5, 0)


def test_stack_frames_pads_after_each_rows_frames() -> None:
    a, b = torch.ones(2, 3, 4, 4), torch.full((1, 3, 4, 4), 2.0)
    stacked, mask = stack_frames([a, [b[0]]])
    assert stacked.shape == (2, 2, 3, 4, 4) and mask.tolist() == [[1, 1], [1, 0]]
    assert torch.equal(stacked[1, 0], b[0]) and not stacked[1, 1].any()
    with pytest.raises(ValueError, match="empty frame list"):
        stack_frames([a, torch.ones(0, 3, 4, 4)])
    with pytest.raises(ValueError, match="frames of different sizes"):
        stack_frames([[torch.ones(3, 4, 4), torch.ones(3, 4, 6)]])


def test_encoder_gives_frames_and_samples_them_evenly() -> None:
    images = [Image.new("RGB", (40, 40), shade) for shade in SHADES]
    sample = Sample("t", "0", images, inputs="what colour?", outputs="red")
    encoder = Encoder(tokenizer("llama"), clip_processor())
    one = encoder(Sample("t", "1", images[:1], inputs="what colour?", outputs="red"))["pixel_values"]
    assert one.shape == (3, 32, 32)
    frames = encoder(sample)["pixel_values"]
    assert frames.shape == (6, 3, 32, 32) and torch.equal(frames[0], one)
    picked = Encoder(tokenizer("llama"), clip_processor(), max_frames=3)(sample)["pixel_values"]
    assert torch.equal(picked, frames[[1, 3, 5]])
    uncropped = clip_processor()
    uncropped.do_center_crop = False
    mixed = Sample("t", "2", [images[0], Image.new("RGB", (40, 80))], inputs="q", outputs="a")
    with pytest.raises(BadRowError, match="frame_sizes"):
        Encoder(tokenizer("llama"), uncropped)(mixed)


@pytest.mark.parametrize("key,single", [("pixel_values", (3, 8, 8)), ("vision_features", (5, 4))])
def test_collator_pads_frames_and_keeps_single_images_4d(key: str, single: tuple[int, ...]) -> None:
    def row(frames: int | None, length: int) -> dict[str, torch.Tensor]:
        shape = single if frames is None else (frames, *single)
        return {"input_ids": torch.arange(length) + 3, key: torch.randn(shape)}

    collate = Collator(pad_token_id=0)
    plain = collate([row(None, 3), row(None, 4)])
    assert plain[key].shape == (2, *single) and "frame_mask" not in plain
    rows = [row(None, 3), row(3, 4), row(2, 2)]
    batch = collate(rows)
    assert batch[key].shape == (3, 3, *single)
    assert batch["frame_mask"].tolist() == [[1, 0, 0], [1, 1, 1], [1, 1, 0]]
    assert torch.equal(batch[key][0, 0], rows[0][key]) and torch.equal(batch[key][2, :2], rows[2][key])


def test_m3it_video_rows_keep_every_frame(tmp_path: Path) -> None:
    frames = [b64(encoded(Image.new("RGB", (48, 48), shade))) for shade in SHADES[:4]]
    path = write_jsonl(tmp_path / "msrvtt-qa" / "train.jsonl",
                       [m3it_row(image_base64_str=frames, inputs="what happens?", outputs="a cat runs")])
    (sample,) = read(str(path))
    assert len(sample.images) == 4 and sample.task == "msrvtt-qa"
    pixels = Encoder(tokenizer("llama"), clip_processor())(sample)["pixel_values"]
    assert pixels.shape == (4, 3, 32, 32)
    assert resolve_tasks("video") == ("ss", "ivqa", "msvd-qa", "activitynet-qa", "msrvtt", "msrvtt-qa")


def test_llava_and_table_rows_with_several_images_or_a_frame_folder(tmp_path: Path) -> None:
    for name in ("chelsea.png", "astronaut.png"):
        photo(name).save(tmp_path / name)
    _frame_folder(tmp_path / "clip", 12)
    llava = tmp_path / "llava.json"
    llava.write_text(json.dumps([
        {"id": "a", "image": ["chelsea.png", "astronaut.png"],
         "conversations": [{"from": "human", "value": "<image>\n<image>\nWhich came first?"},
                           {"from": "gpt", "value": "The cat."}]},
        {"id": "b", "video": "clip", "conversations": [{"from": "human", "value": "<image> colour?"},
                                                         {"from": "gpt", "value": "red"}]},
    ]))
    first, video = read(str(llava))
    assert [Path(p).name for p in first.images] == ["chelsea.png", "astronaut.png"]
    assert first.conversation[0].text == "Which came first?"
    assert [Path(p).name for p in video.images] == [f"frame_{k}.png" for k in range(1, 13)]
    assert [Path(p).name for p in video.frames(4)] == ["frame_2.png", "frame_5.png", "frame_8.png", "frame_11.png"]

    table = write_jsonl(tmp_path / "rows.jsonl", [
        {"image": ["chelsea.png", "astronaut.png"], "question": "same animal?", "answer": "no"},
        {"video": "clip", "question": "colour?", "answer": "red"},
        {"video": "missing", "question": "colour?", "answer": "red"},
        {"image": ["chelsea.png", 3], "question": "q", "answer": "a"},
    ])
    policy = RowPolicy(skip_bad=True)
    rows = list(read(str(table), policy=policy))
    assert [len(s.images) for s in rows] == [2, 12]
    assert policy.rejected == {"image_not_found": 1, "missing_field": 1}


def test_empty_frame_folder_and_unknown_video_are_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="no frame images"):
        video_frames(tmp_path / "empty")
    with pytest.raises(Exception, match="neither a folder of frames nor a video file"):
        (tmp_path / "notes.txt").write_text("hi")
        video_frames(tmp_path / "notes.txt")


def test_video_files_decode_through_pyav(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for k in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * k, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    frames = video_frames(path)
    assert len(frames) == 6 and frames[3] == VideoFrame(str(path), 3)
    assert abs(int(np.asarray(frames[3].decode()).mean()) - 120) < 10


def test_feature_cache_stores_each_frame_once(tmp_path: Path) -> None:
    model, processor = tiny_model(), tiny_processor()
    shades = [Image.new("RGB", (40, 40), shade) for shade in SHADES[:3]]
    samples = [Sample("t", "0", shades, inputs="w5", outputs="w6"),
               Sample("t", "1", shades[1:], inputs="w5", outputs="w7"),
               Sample("t", "2", shades[:1], inputs="w5", outputs="w8")]
    encoder = Encoder(processor.tokenizer, processor.image_processor)
    cache = FeatureCache(encoder_identity(model, processor.image_processor), tmp_path)
    keys = cache.fill_samples(samples, model, encoder.pixels, ImageKeys())
    assert len(cache) == 3 and keys[1] == keys[0][1:] and keys[2] == keys[0][:1]
    dataset = FeatureDataset(samples, encoder, cache, keys)
    assert dataset[0]["vision_features"].shape == (3, 17, 24) and dataset[2]["vision_features"].shape == (17, 24)
    with torch.no_grad():
        fresh = model.encode_images(encoder(samples[0])["pixel_values"])
    torch.testing.assert_close(dataset[0]["vision_features"].float(), fresh, atol=2e-3, rtol=2e-3)
    assert [len(k) for k in cache.fill_samples(samples, model, encoder.pixels, ImageKeys(2))] == [2, 2, 1]


def test_data_check_counts_frames(tmp_path: Path, capsys) -> None:
    photo("chelsea.png").save(tmp_path / "cat.png")
    _frame_folder(tmp_path / "clip", 5)
    table = write_jsonl(tmp_path / "rows.jsonl", [
        {"image": "cat.png", "question": "q", "answer": "a"},
        {"image": ["cat.png", "cat.png"], "question": "q", "answer": "a"},
        {"video": "clip", "question": "q", "answer": "a"},
    ])
    assert check(str(table)) == 0
    assert "frames: 8 in usable rows (images per row x rows: 1 x 1, 2 x 1, 5 x 1)" in capsys.readouterr().out
    assert check(str(table), "--max-frames", "2") == 0
    assert "frames: 5 in usable rows (images per row x rows: 1 x 1, 2 x 2)" in capsys.readouterr().out
