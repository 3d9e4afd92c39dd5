"""Readers: M3IT (jsonl, parquet, datasets streaming), LLaVA, easy-VQA, users' tables and folders."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import pytest
from test_data_fixtures import encoded, good_m3it, m3it_row, photo, write_jsonl

from gitllm.data import Base64Image, detect_format, read
from gitllm.data.readers.common import json_array_rows
from gitllm.data.readers.m3it import PRESETS, resolve_tasks


def test_m3it_jsonl_rows_become_samples(tmp_path: Path) -> None:
    path = good_m3it(tmp_path / "captioning" / "coco" / "train.jsonl")
    samples = list(read(str(path)))
    assert [s.row_id for s in samples] == ["coco:1", "coco:2", "coco:3"]
    first = samples[0]
    assert (first.instruction, first.inputs, first.outputs, first.task) == (
        "Write a short caption.", "", "A cat sits on a mat.", "coco")
    assert isinstance(first.images[0], Base64Image)
    assert first.image.mode == "RGB" and first.image.size == photo().size


def test_m3it_folder_selects_tasks_and_interleaves(tmp_path: Path) -> None:
    for task in ("coco", "vqa-v2", "coco-cn"):
        write_jsonl(tmp_path / "data" / task / "train.jsonl", [m3it_row(outputs=f"{task} {i}") for i in range(3)])
        write_jsonl(tmp_path / "data" / task / "test.jsonl", [m3it_row(outputs="held out")])
    mix = list(read(str(tmp_path / "data"), tasks="coco,vqa-v2", split="train"))
    assert [s.outputs for s in mix] == ["coco 0", "vqa-v2 0", "coco 1", "vqa-v2 1", "coco 2", "vqa-v2 2"]
    assert [s.task for s in read(str(tmp_path / "data"), tasks="coco-cn", split="test")] == ["coco-cn"]
    with pytest.raises(FileNotFoundError, match="'a-okvqa', 'clevr'"):  # a partial download is not silently used
        read(str(tmp_path / "data"), tasks="experiment3")


def test_experiment3_preset_is_the_seeds_mix() -> None:
    tasks = resolve_tasks("experiment3")
    assert tasks == PRESETS["experiment3"] and len(tasks) == 25
    assert not {"fm-iqa", "coco-cn", "flickr8k-cn", "chinese-food", "mmchat", "ss", "ivqa", "msvd-qa",
                "activitynet-qa", "msrvtt", "msrvtt-qa"} & set(tasks)
    assert resolve_tasks("coco, gqa") == ("coco", "gqa")


def test_m3it_parquet_image_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    jpeg = encoded(photo("coffee.png"))
    rows = [
        {"instruction": "Describe.", "inputs": "", "outputs": "coffee", "image": {"bytes": jpeg, "path": None}},
        {"instruction": "Describe.", "inputs": "", "outputs": "more coffee", "image": {"bytes": jpeg, "path": "x"}},
    ]
    (tmp_path / "coco").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "coco" / "train-00000-of-00001.parquet")
    assert detect_format(str(tmp_path)) == "m3it-parquet"
    samples = list(read(str(tmp_path), split="train", batch_rows=1))
    assert [(s.row_id, s.outputs) for s in samples] == [("coco:0", "coffee"), ("coco:1", "more coffee")]
    assert samples[1].image.size == photo("coffee.png").size


def test_m3it_datasets_streaming(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    configs = []
    for task in ("coco", "vqa-v2"):
        write_jsonl(tmp_path / task / "train.jsonl", [m3it_row(outputs=f"{task} answer")])
        configs.append(f"- config_name: {task}\n  data_files:\n  - split: train\n    path: {task}/train.jsonl\n")
    (tmp_path / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n")
    samples = list(read(f"hf:{tmp_path}", tasks="coco,vqa-v2"))
    assert [(s.task, s.row_id, s.outputs) for s in samples] == [
        ("coco", "coco:0", "coco answer"), ("vqa-v2", "vqa-v2:0", "vqa-v2 answer")]
    assert samples[0].image.mode == "RGB"


def llava_records() -> list[dict]:
    return [
        {"id": "a", "image": "cat.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat animal is this?"}, {"from": "gpt", "value": "A cat."},
            {"from": "human", "value": "What is it doing?"}, {"from": "gpt", "value": "Sitting."}]},
        {"id": "b", "image": "cat.jpg", "conversations": [
            {"from": "system", "value": "Be brief."}, {"from": "human", "value": "Colour?<image>"},
            {"from": "gpt", "value": "Brown."}]},
    ]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_llava_conversations(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "images").mkdir()
    photo().save(tmp_path / "images" / "cat.jpg")
    path = tmp_path / f"llava{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(llava_records(), indent=1))
    else:
        write_jsonl(path, llava_records())
    assert detect_format(str(path)) == "llava"
    a, b = read(str(path), image_folder=str(tmp_path / "images"))
    assert [(t.role, t.text) for t in a.conversation] == [
        ("user", "What animal is this?"), ("assistant", "A cat."), ("user", "What is it doing?"),
        ("assistant", "Sitting.")]
    assert (b.instruction, b.conversation[0].text) == ("Be brief.", "Colour?")
    assert a.row_id.endswith("(id a)") and a.image.size == photo().size


def test_json_array_streams_across_chunk_boundaries(tmp_path: Path) -> None:
    records = [{"i": i, "text": "x" * (i * 7)} for i in range(40)]
    (tmp_path / "a.json").write_text(json.dumps(records))
    assert [row for _, row in json_array_rows(tmp_path / "a.json", chunk_chars=16)] == records


@pytest.mark.parametrize("split", ["train", "test"])
def test_easy_vqa_slice(split: str) -> None:
    pytest.importorskip("easy_vqa")
    samples = [s for _, s in zip(range(5), read(f"easyvqa:{split}"))]
    assert len(samples) == 5 and all(s.task == "easy-vqa" and s.outputs for s in samples)
    assert samples[0].source == f"easyvqa:{split}" and samples[0].inputs.endswith("?")
    assert samples[0].image.size == (64, 64)


def test_user_csv_jsonl_and_folders(tmp_path: Path) -> None:
    photo().save(tmp_path / "cat.png")
    (tmp_path / "data.csv").write_text("image,question,answer\ncat.png,What is it?,a cat\n")
    write_jsonl(tmp_path / "data.jsonl", [{"image_path": "cat.png", "caption": "A cat on a mat."}])
    [qa] = read(str(tmp_path / "data.csv"))
    [cap] = read(str(tmp_path / "data.jsonl"))
    assert (qa.row_id, qa.instruction, qa.inputs, qa.outputs) == ("2", "", "What is it?", "a cat")
    assert (cap.instruction, cap.inputs, cap.outputs) == ("Describe the image.", "", "A cat on a mat.")
    assert qa.image.size == cap.image.size == photo().size
    (tmp_path / "cat.txt").write_text("A sidecar caption.\n")
    assert detect_format(str(tmp_path)) == "folder"
    [side] = read(str(tmp_path))
    assert (side.row_id, side.outputs) == ("cat.png", "A sidecar caption.")
    write_jsonl(tmp_path / "metadata.jsonl", [{"file_name": "cat.png", "text": "From metadata."}])
    assert [s.outputs for s in read(str(tmp_path))] == ["From metadata."]


def test_format_detection(tmp_path: Path) -> None:
    m3it = good_m3it(tmp_path / "m.jsonl")
    write_jsonl(tmp_path / "l.jsonl", llava_records())
    write_jsonl(tmp_path / "u.jsonl", [{"image": "x.png", "caption": "c"}])
    assert [detect_format(str(p)) for p in (m3it, tmp_path / "l.jsonl", tmp_path / "u.jsonl")] == [
        "m3it", "llava", "jsonl"]
    assert detect_format("easyvqa:test") == "easyvqa" and detect_format("hf:MMInstruction/M3IT") == "m3it-hub"
    with pytest.raises(ValueError, match="no such file"):
        detect_format(str(tmp_path / "what.xyz"))
    (tmp_path / "what.xyz").write_text("?")
    with pytest.raises(ValueError, match="cannot detect"):
        detect_format(str(tmp_path / "what.xyz"))


def test_readers_stream_without_keeping_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "coco" / "train.jsonl", [m3it_row()] * 50)
    samples = read(str(path))
    first = weakref.ref(next(samples))
    next(samples)
    gc.collect()
    assert first() is None  # a consumed row is not held by the reader
