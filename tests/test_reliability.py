"""The reliability suite: one case per kind of bad input or fault, each with a clean outcome.

A clean outcome is a ValueError whose message says what is wrong (and where), or a row skipped and counted
under `skip_bad`, or the input handled correctly; never a traceback from deep code, never silent wrong output.
Tables below are keyed by kind; `kinds()` counts them with every `test_fault_*` test under tests/ (run this
file as a script to print the count). Add a case for every new bug.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gitllm.data import BadRowError, ImageError, RowPolicy, load_image, read
from gitllm.data.pixels import PixelTransform
from gitllm.data.schema import Base64Image

TESTS = Path(__file__).resolve().parent
MIN_KINDS = 70


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Usable:
    """Read correctly: `rows` usable samples, nothing rejected."""

    rows: int


@dataclass(frozen=True)
class Skipped:
    """Without skip_bad: BadRowError(reason); with it: `kept` usable rows and `reason` counted."""

    reason: str
    kept: int


@dataclass(frozen=True)
class Refused:
    """A ValueError matching `match` (with or without skip_bad); no exception of another type."""

    match: str


# ---------------------------------------------------------------- data files

GOOD = {"image": "ok.png", "question": "what is it?", "answer": "a cat"}
TURNS = [{"from": "human", "value": "<image>what is it?"}, {"from": "gpt", "value": "a cat"}]
LLAVA_GOOD = {"id": "g", "image": "ok.png", "conversations": TURNS}
BINARY = bytes(range(256)) * 8


def png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def photo(size: tuple[int, int] = (48, 40), seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def lines(*rows: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def m3it(**fields: object) -> dict:
    row = {"instruction": "Caption it.", "inputs": "", "outputs": "a cat",
           "image_base64_str": [base64.b64encode(png(photo())).decode()]}
    return row | fields


def parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


# kind -> (file name, content (text, bytes or {name: content} for a folder), read options, outcome).
# Every file sits in a folder that also holds a good `ok.png`.
DATA_FILES: dict[str, tuple[str, Any, dict[str, str], Usable | Skipped | Refused]] = {
    "jsonl-truncated-last-line": ("t.jsonl", lines(GOOD, '{"image": "ok.png", "quest'), {}, Skipped("bad_json", 1)),
    "jsonl-zero-bytes": ("t.jsonl", "", {}, Refused("no rows")),
    "jsonl-blank-lines-only": ("t.jsonl", "\n  \n\n", {}, Refused("no rows")),
    "jsonl-binary-file": ("t.jsonl", BINARY, {"format": "jsonl"}, Skipped("bad_json", 0)),
    "jsonl-row-not-an-object": ("t.jsonl", lines(GOOD, [1, 2]), {}, Skipped("bad_json", 1)),
    "jsonl-utf8-bom": ("t.jsonl", "\ufeff" + lines(GOOD), {}, Usable(1)),
    "jsonl-crlf-line-ends": ("t.jsonl", lines(GOOD, GOOD).replace("\n", "\r\n"), {}, Usable(2)),
    "jsonl-question-not-a-string": ("t.jsonl", lines(GOOD, GOOD | {"question": 5}), {}, Skipped("missing_field", 1)),
    "jsonl-answer-not-a-string": ("t.jsonl", lines(GOOD, GOOD | {"answer": ["a"]}), {}, Skipped("missing_field", 1)),
    "jsonl-instruction-not-a-string": ("t.jsonl", lines(GOOD | {"instruction": {"a": 1}}, GOOD), {},
                                       Skipped("missing_field", 1)),
    "jsonl-image-not-a-string": ("t.jsonl", lines(GOOD | {"image": 7}, GOOD), {}, Skipped("missing_field", 1)),
    "jsonl-no-image-field": ("t.jsonl", lines({"question": "q", "answer": "a"}, GOOD), {},
                             Skipped("missing_field", 1)),
    "jsonl-empty-answer": ("t.jsonl", lines(GOOD | {"answer": "  "}, GOOD), {}, Skipped("empty_answer", 1)),
    "jsonl-image-file-missing": ("t.jsonl", lines(GOOD | {"image": "gone.png"}, GOOD), {},
                                 Skipped("image_not_found", 1)),
    "jsonl-fake-png": ("d", {"t.jsonl": lines(GOOD | {"image": "fake.png"}, GOOD), "fake.png": "not a png"},
                       {}, Skipped("not_an_image", 1)),
    "jsonl-zero-byte-png": ("d", {"t.jsonl": lines(GOOD | {"image": "zero.png"}, GOOD), "zero.png": b""},
                            {}, Skipped("empty_image", 1)),
    "jsonl-truncated-png": ("d", {"t.jsonl": lines(GOOD | {"image": "cut.png"}, GOOD),
                                  "cut.png": png(photo((64, 64)))[:300]}, {}, Skipped("truncated_image", 1)),
    "jsonl-extreme-aspect-png": ("d", {"t.jsonl": lines(GOOD | {"image": "wide.png"}, GOOD),
                                       "wide.png": png(Image.new("RGB", (8192, 1)))}, {},
                                 Skipped("bad_aspect_ratio", 1)),
    "csv-zero-bytes": ("t.csv", "", {}, Refused("no rows")),
    "csv-header-only": ("t.csv", "image,caption\n", {}, Refused("no rows")),
    "csv-binary-file": ("t.csv", BINARY, {}, Skipped("bad_file", 0)),
    "csv-excel-utf8-bom": ("t.csv", "\ufeffimage,caption\nok.png,a cat\n", {}, Usable(1)),
    "csv-missing-column": ("t.csv", "image,caption\nok.png\nok.png,a cat\n", {}, Skipped("missing_field", 1)),
    "json-truncated": ("t.json", json.dumps([LLAVA_GOOD, LLAVA_GOOD])[:-40], {}, Skipped("bad_json", 1)),
    "json-zero-bytes": ("t.json", "", {}, Refused("no rows")),
    "json-object-not-array": ("t.json", json.dumps(LLAVA_GOOD), {}, Skipped("bad_file", 0)),
    "json-binary-file": ("t.json", BINARY, {}, Skipped("bad_file", 0)),
    "llava-image-list-of-numbers": ("t.json", json.dumps([LLAVA_GOOD | {"image": [1, 2]}, LLAVA_GOOD]), {},
                                    Skipped("missing_field", 1)),
    "llava-second-image-missing": ("t.json", json.dumps([LLAVA_GOOD | {"image": ["ok.png", "gone.png"]},
                                                         LLAVA_GOOD]), {}, Skipped("image_not_found", 1)),
    "llava-conversations-not-a-list": ("t.json", json.dumps([LLAVA_GOOD | {"conversations": "hi"}, LLAVA_GOOD]),
                                       {}, Skipped("missing_field", 1)),
    "llava-turn-not-an-object": ("t.json", json.dumps([LLAVA_GOOD | {"conversations": ["hi"]}, LLAVA_GOOD]), {},
                                 Skipped("missing_field", 1)),
    "llava-unknown-speaker": ("t.json", json.dumps([LLAVA_GOOD | {"conversations": [{"from": "robot", "value": "x"}]},
                                                    LLAVA_GOOD]), {}, Skipped("bad_conversation", 1)),
    "llava-turns-not-alternating": ("t.json", json.dumps([LLAVA_GOOD | {"conversations": [TURNS[0], TURNS[0]]},
                                                          LLAVA_GOOD]), {}, Skipped("bad_conversation", 1)),
    "llava-turn-text-not-a-string": ("t.json", json.dumps([LLAVA_GOOD | {"conversations": [
        {"from": "human", "value": 3}, TURNS[1]]}, LLAVA_GOOD]), {}, Skipped("missing_field", 1)),
    "m3it-bad-base64": ("t.jsonl", lines(m3it(), m3it(image_base64_str=["not base64!"])), {},
                        Skipped("bad_base64", 1)),
    "m3it-base64-not-strings": ("t.jsonl", lines(m3it(), m3it(image_base64_str=[1])), {},
                                Skipped("missing_field", 1)),
    "m3it-base64-empty": ("t.jsonl", lines(m3it(), m3it(image_base64_str=[""])), {}, Skipped("empty_image", 1)),
    "m3it-base64-of-text": ("t.jsonl", lines(m3it(), m3it(image_base64_str=[base64.b64encode(b"hi").decode()])),
                            {}, Skipped("not_an_image", 1)),
    "parquet-corrupt": ("t.parquet", b"PAR1" + BINARY + b"PAR1", {}, Skipped("bad_file", 0)),
    "parquet-zero-bytes": ("t.parquet", b"", {}, Skipped("bad_file", 0)),
    "parquet-image-struct-empty": ("t.parquet", parquet([
        {"instruction": "i", "inputs": "", "outputs": "o", "image": {"bytes": png(photo()), "path": None}},
        {"instruction": "i", "inputs": "", "outputs": "o", "image": {"bytes": None, "path": None}}]), {},
        Skipped("missing_field", 1)),
    "folder-fake-png": ("d", {"a.png": "text", "a.txt": "a cap", "b.png": png(photo()), "b.txt": "b cap"}, {},
                        Skipped("not_an_image", 1)),
    "folder-image-without-caption": ("d", {"a.png": png(photo()), "b.png": png(photo()), "b.txt": "b cap"}, {},
                                     Skipped("missing_field", 1)),
    "folder-with-nothing-readable": ("d", {"notes.md": "hello"}, {}, Refused("cannot detect the format")),
    "path-does-not-exist": ("gone.jsonl", None, {}, Refused("no such file")),
    "unknown-format-name": ("t.jsonl", lines(GOOD), {"format": "tfrecord"}, Refused("unknown data format")),
}


def write_case(root: Path, name: str, content: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ok.png").write_bytes(png(photo()))
    path = root / name
    if isinstance(content, dict):
        path.mkdir()
        for file, data in content.items():
            (path / file).write_bytes(data if isinstance(data, bytes) else data.encode())
        tables = [f for f in content if f.endswith(".jsonl")]
        if tables:
            (path / "ok.png").write_bytes(png(photo()))
            return path / tables[0]
    elif isinstance(content, (str, bytes)):
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def usable_rows(path: Path, skip_bad: bool, **options: Any) -> tuple[int, RowPolicy]:
    """Rows that pass the training path's checks (fields, answer, image decode), as `gitllm data check` does."""
    policy = RowPolicy(skip_bad=skip_bad)

    def check(sample: Any) -> bool:
        sample.require_answer()
        sample.load_image()
        return True

    return sum(policy.guard(check, s) is not None for s in read(str(path), policy=policy, **options)), policy


@pytest.mark.parametrize("kind", list(DATA_FILES))
def test_data_file(tmp_path: Path, kind: str) -> None:
    name, content, options, outcome = DATA_FILES[kind]
    path = write_case(tmp_path, name, content)
    if isinstance(outcome, Refused):
        for skip_bad in (False, True):
            with pytest.raises(ValueError, match=outcome.match):
                usable_rows(path, skip_bad, **options)
    elif isinstance(outcome, Usable):
        assert usable_rows(path, False, **options)[0] == outcome.rows
    else:
        with pytest.raises(BadRowError) as caught:
            usable_rows(path, False, **options)
        assert caught.value.reason == outcome.reason and str(path.name) in str(caught.value)
        kept, policy = usable_rows(path, True, **options)
        assert kept == outcome.kept and policy.rejected[outcome.reason] >= 1, policy.summary()


def test_fault_data_check_cli_on_empty_and_missing_files(tmp_path: Path, capsys) -> None:
    """`gitllm data check`: no rows and a missing path are errors, never 'rows read: 0' with exit 0."""
    from gitllm.data.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    (tmp_path / "empty.jsonl").write_text("")
    for source, message in ((tmp_path / "empty.jsonl", "no rows"), (tmp_path / "gone.csv", "no such file")):
        args = parser.parse_args(["data", "check", str(source), "--skip-bad"])
        with pytest.raises(ValueError, match=message):
            args.func(args)
    (tmp_path / "bin.jsonl").write_bytes(BINARY)
    args = parser.parse_args(["data", "check", str(tmp_path / "bin.jsonl"), "--skip-bad", "--format", "jsonl"])
    assert args.func(args) == 1 and "no usable rows" in capsys.readouterr().err


# ---------------------------------------------------------------- images


def crafted_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb) over a tiny body."""
    data = png(Image.new("L", (1, 1)))
    ihdr = data.index(b"IHDR")
    fields = width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[ihdr + 12 : ihdr + 17]
    crc = zlib.crc32(b"IHDR" + fields).to_bytes(4, "big")
    return data[: ihdr + 4] + fields + crc + data[ihdr + 21 :]


def encoded(picture: Image.Image, format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=format, **options)
    return out.getvalue()


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    return encoded(photo((60, 30)), "JPEG", exif=exif)


def palette_with_transparency() -> bytes:
    picture = Image.new("P", (8, 8), 0)
    picture.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return encoded(picture, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("P", (10, 10), i) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


# kind -> (source builder (tmp_path -> load_image source), expected (width, height) or an ImageError reason)
IMAGES: dict[str, tuple[Callable[[Path], Any], tuple[int, int] | str]] = {
    "cmyk-jpeg": (lambda _: encoded(photo().convert("CMYK"), "JPEG"), (48, 40)),
    "16-bit-greyscale-png": (lambda _: png(Image.fromarray(np.full((5, 7), 40000, np.uint16))), (7, 5)),
    "32-bit-int-greyscale": (lambda _: Image.fromarray(np.full((5, 7), 1000, np.int32)), (7, 5)),
    "float-greyscale-tiff": (lambda _: encoded(Image.fromarray(np.full((5, 7), 0.5, np.float32)), "TIFF"), (7, 5)),
    "palette-png-with-transparency": (lambda _: palette_with_transparency(), (8, 8)),
    "greyscale-alpha-png": (lambda _: png(Image.new("LA", (6, 4), (10, 0))), (6, 4)),
    "1-bit-png": (lambda _: png(Image.new("1", (9, 3), 1)), (9, 3)),
    "exif-rotated-jpeg": (lambda _: rotated_jpeg(), (30, 60)),
    "animated-gif": (lambda _: animated_gif(), (10, 10)),
    "webp": (lambda _: encoded(photo(), "WEBP"), (48, 40)),
    "one-pixel": (lambda _: png(Image.new("RGB", (1, 1))), (1, 1)),
    "over-max-side-downscaled": (lambda _: png(Image.new("RGB", (5000, 100))), (4096, 82)),
    "huge-decompression-bomb-header": (lambda _: crafted_png_header(12000, 12000), "image_too_large"),
    "extreme-aspect-wide-8192x1": (lambda _: png(Image.new("RGB", (8192, 1))), "bad_aspect_ratio"),
    "extreme-aspect-tall-1x8192": (lambda _: png(Image.new("RGB", (1, 8192))), "bad_aspect_ratio"),
    "zero-size-pil-image": (lambda _: Image.new("RGB", (0, 0)), "bad_aspect_ratio"),
    "truncated-png": (lambda _: png(photo((64, 64)))[:300], "truncated_image"),
    "truncated-jpeg": (lambda _: encoded(photo((256, 256)), "JPEG")[:600], "truncated_image"),
    "zero-bytes": (lambda _: b"", "empty_image"),
    "text-not-an-image": (lambda _: b"hello, I am not a picture", "not_an_image"),
    "svg-not-supported": (lambda _: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not_an_image"),
    "missing-file": (lambda root: root / "gone.png", "image_not_found"),
    "folder-instead-of-file": (lambda root: root, "image_not_found"),
    "zero-byte-file": (lambda root: (root / "z.png").write_bytes(b"") or root / "z.png", "empty_image"),
    "bad-base64": (lambda _: Base64Image("%%% not base64 %%%").decode(), "bad_base64"),
}


@pytest.mark.parametrize("kind", list(IMAGES))
def test_image(tmp_path: Path, kind: str) -> None:
    """Every kind decodes to RGB that the pixel pipeline takes, or raises ImageError with its reason."""
    build, expected = IMAGES[kind]
    if isinstance(expected, str):
        with pytest.raises(ImageError) as caught:
            load_image(build(tmp_path))
        assert caught.value.reason == expected
        return
    picture = load_image(build(tmp_path))
    assert picture.mode == "RGB" and picture.size == expected
    from test_data_fixtures import clip_processor

    assert PixelTransform.from_processor(clip_processor())(picture).shape == (3, 32, 32)


def test_fault_image_modes_keep_their_content() -> None:
    """Not silently wrong: 16-bit mid-grey stays mid-grey, transparency becomes white, CMYK keeps colour."""
    grey = load_image(png(Image.fromarray(np.full((2, 2), 32768, np.uint16))))
    assert abs(int(np.asarray(grey)[0, 0, 0]) - 128) <= 1
    assert np.asarray(load_image(palette_with_transparency()))[0, 0].tolist() == [255, 255, 255]
    red = load_image(encoded(Image.new("RGB", (8, 8), (220, 20, 20)).convert("CMYK"), "JPEG"))
    r, g, b = np.asarray(red)[4, 4].tolist()
    assert r > 180 and g < 70 and b < 70


# ---------------------------------------------------------------- configs

CONFIGS: dict[str, tuple[list[str], str]] = {  # kind -> (overrides, the key the error names)
    "max-steps-negative": (["max_steps=-5"], "max_steps"),
    "max-steps-zero": (["max_steps=0"], "max_steps"),
    "warmup-ratio-above-one": (["optim.warmup_ratio=5"], "optim.warmup_ratio"),
    "save-total-limit-negative": (["save_total_limit=-1"], "save_total_limit"),
    "max-length-zero": (["data.max_length=0"], "data.max_length"),
    "image-size-negative": (["model.image_size=-4"], "model.image_size"),
    "lr-nan": (["optim.lr=.nan"], "optim.lr"),
    "lr-infinite": (["optim.lr=.inf"], "optim.lr"),
    "lr-nan-as-text": (["optim.lr=nan"], "optim.lr"),
    "lr-negative": (["optim.lr=-1e-4"], "optim.lr"),
    "group-lr-nan": (["optim.group_lr={proj: .nan}"], "optim.group_lr.proj"),
    "group-lr-zero": (["optim.group_lr={proj: 0}"], "optim.group_lr.proj"),
    "temporal-lr-nan": (["model.num_image_with_embedding=4", "optim.temporal_lr=.nan"], "optim.temporal_lr"),
    "temporal-lr-without-frames": (["optim.temporal_lr=1e-2"], "optim.temporal_lr"),
    "epochs-nan": (["epochs=.nan"], "epochs"),
    "weight-decay-negative": (["optim.weight_decay=-0.1"], "optim.weight_decay"),
    "max-grad-norm-infinite": (["optim.max_grad_norm=.inf"], "optim.max_grad_norm"),
    "lora-dropout-one": (["lora.dropout=1.0"], "lora.dropout"),
    "eval-steps-negative": (["eval_steps=-1"], "eval_steps"),
    "val-size-zero-without-val": (["data.val_size=0"], "data.val_size"),
    "max-train-samples-zero": (["data.max_train_samples=0"], "data.max_train_samples"),
    "num-workers-negative": (["num_workers=-2"], "num_workers"),
    "eval-batch-size-zero": (["eval_batch_size=0"], "eval_batch_size"),
    "override-value-not-yaml": (["optim.lr=[1"], "optim.lr"),
}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_config(kind: str) -> None:
    from gitllm.train import load_config

    overrides, key = CONFIGS[kind]
    with pytest.raises(ValueError) as caught:
        load_config({}, overrides)
    assert key in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


CONFIG_FILES: dict[str, tuple[bytes, str]] = {  # kind -> (file content, what the message names)
    "yaml-syntax-error": (b"groups: [proj\nbatch_size: 4\n", "c.yaml' is not valid YAML"),
    "yaml-not-a-mapping": (b"- 1\n- 2\n", "c.yaml' must hold a mapping"),
    "yaml-binary-file": (BINARY, "c.yaml' is not valid YAML"),
    "yaml-base-file-missing": (b"base: nowhere.yaml\n", "nowhere.yaml' does not exist"),
}


@pytest.mark.parametrize("kind", list(CONFIG_FILES))
def test_config_file(tmp_path: Path, kind: str) -> None:
    from gitllm.train import load_config

    content, message = CONFIG_FILES[kind]
    (tmp_path / "c.yaml").write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        load_config(tmp_path / "c.yaml")
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- API bodies (no model needed)


def data_url(data: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(data).decode()}"


def body(url: str = "", question: str = "w1", **extra: Any) -> dict:
    content = [{"type": "image_url", "image_url": {"url": url or data_url(png(photo()))}},
               {"type": "text", "text": question}]
    return {"messages": [{"role": "user", "content": content}], **extra}


API_BODIES: dict[str, tuple[Any, int, str]] = {  # kind -> (request body, HTTP status, message part)
    "body-not-an-object": ([1, 2], 400, "valid dictionary"),
    "messages-empty": ({"messages": []}, 400, "at least 1 item"),
    "message-unknown-role": ({"messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
    "content-part-unknown": ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 400, "does not match any of the expected tags"),
    "too-many-images": ({"messages": [{"role": "user", "content": body()["messages"][0]["content"] * 9}]}, 400,
                        "9 images in one conversation; this server takes at most 8"),
    "remote-image-url": (body("https://example.com/a.png"), 400, "data: URL"),
    "image-not-base64": (body("data:image/png;base64,@@@@"), 400, "not valid base64"),
    "image-not-an-image": (body(data_url(b"plain text")), 400, "not a recognised image"),
    "image-extreme-aspect": (body(data_url(png(Image.new("RGB", (8192, 1))))), 400, "8192x1"),
    "image-over-pixel-limit": (body(data_url(crafted_png_header(12000, 12000))), 413, "over the limit"),
    "max-tokens-not-a-number": (body(max_tokens="ten"), 400, "max_tokens: Input should be a valid integer"),
    "temperature-out-of-range": (body(temperature=9), 400, "temperature"),
    "n-above-one": (body(n=2), 400, "n: Input should be less than or equal to 1"),
    "question-empty": (body(question="  "), 400, "empty"),
}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server (FastAPI) on a tiny saved model; yields its base URL."""
    from gitllm.play import load_model
    from gitllm.play.server import Playground
    from test_play_helpers import running_server, save_tiny

    playground = Playground(*load_model(save_tiny(tmp_path_factory.mktemp("api"))), model_name="tiny")
    with running_server(playground) as url:
        yield url


@pytest.mark.parametrize("kind", list(API_BODIES))
def test_api_body(kind: str, api_server: str) -> None:
    from test_serve import post

    request, status, message = API_BODIES[kind]
    got, data = post(api_server + "/v1/chat/completions", request)
    error = json.loads(data)["error"]["message"]
    assert got == status and message in error, (got, error)


# ---------------------------------------------------------------- Python API arguments (no model needed)


def encoder(**options: Any) -> Any:
    from gitllm.data import Encoder
    from test_data_fixtures import clip_processor, tokenizer

    return Encoder(tokenizer("gpt2"), clip_processor(), **options)


def play_ask(**options: Any) -> Any:
    from gitllm.play import ask

    defaults = {"images": [photo()], "questions": ["w1"], "template": "git-llm", "instruction": ""}
    return ask(None, None, **defaults | options)  # type: ignore[arg-type]


def sample(**fields: Any) -> Any:
    from gitllm.data import Sample

    return Sample(**{"source": "api", "row_id": "0", "images": [photo()], "inputs": "q", "outputs": "a"} | fields)


def function(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)


PYTHON_API: dict[str, tuple[Callable[[Path], Any], str]] = {  # kind -> (call, message part of its ValueError)
    "encoder-unknown-template": (lambda _: encoder(template="alpaca"), "unknown template 'alpaca'"),
    "encoder-unknown-label-mode": (lambda _: encoder(label_mode="some"), "label_mode must be"),
    "ask-more-questions-than-images": (lambda _: play_ask(questions=["w1", "w2"]), "1 images but 2 questions"),
    "ask-batch-size-zero": (lambda _: play_ask(batch_size=0), "batch size must be >= 1"),
    "ask-empty-question": (lambda _: play_ask(questions=["  "]), "the question is empty"),
    "ask-bad-generation-setting": (lambda _: play_ask(max_new_tokens=0), "max_new_tokens must be"),
    "sample-text-not-a-string": (lambda _: sample(inputs=5), "inputs is int, not text"),
    "sample-without-images": (lambda _: sample(images=[]), "no image"),
    "sample-image-of-unknown-type": (lambda _: sample(images=[3.5]), "image 1 is float"),
    "eval-limit-zero": (lambda _: function("gitllm.eval.evaluate", "load_samples")("easyvqa:test", limit=0),
                        "limit must be"),
    "group-by-length-batch-zero": (lambda _: list(function("gitllm.data.sampler", "group_by_length")([1], int, 0)),
                                   "batch_size and window_batches must be >= 1"),
    "load-run-from-a-plain-folder": (lambda root: function("gitllm.train.merge", "load_run")(root),
                                     "is not a gitllm run folder"),
}


@pytest.mark.parametrize("kind", list(PYTHON_API))
def test_python_api(tmp_path: Path, kind: str) -> None:
    call, message = PYTHON_API[kind]
    with pytest.raises(ValueError, match=re.escape(message)):
        call(tmp_path)


# ---------------------------------------------------------------- CLI arguments


def cli(*argv: str) -> int:
    """Run a sub-command's function (what `gitllm` runs after parsing), letting its exceptions through."""
    from gitllm.cli import build_parser

    args = build_parser().parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from test_play_helpers import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny"))


def question_rows(root: Path, n: int, bad: dict[int, dict] | None = None) -> Path:
    for i in range(n):
        photo(seed=i).save(root / f"{i}.png")
    rows = [{"image": f"{i}.png", "question": "w1 w2", "id": i} | (bad or {}).get(i, {}) for i in range(n)]
    (root / "rows.jsonl").write_text(lines(*rows))
    return root / "rows.jsonl"


# kind -> (argv builder (tmp_path, tiny model folder) -> argv, message of the ValueError)
CLI_REFUSALS: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    "ask-batch-size-zero": (lambda root, model: ["ask", "--model", str(model), "--input", str(question_rows(root, 2)),
                                                 "--batch-size", "0"], "argument --batch-size: must be at least 1"),
    "ask-out-exists": (lambda root, model: ["ask", "--model", str(model), "--input", str(question_rows(root, 2)),
                                            "--out", str(write_case(root, "old.jsonl", "{}\n"))], "pass --overwrite"),
    "ask-row-has-answer-field": (lambda root, model: ["ask", "--model", str(model), "--input",
                                                      str(question_rows(root, 2, {1: {"answer": "ref"}}))],
                                 "already has an 'answer' field"),
    "ask-bad-row-without-skip-bad": (lambda root, model: ["ask", "--model", str(model), "--input",
                                                          str(question_rows(root, 2, {1: {"question": 3}}))],
                                     "row 2: missing_field"),
    "ask-image-extreme-aspect": (lambda root, model: ["ask", "--model", str(model), "--image",
                                                      str(write_case(root, "w.png", png(Image.new("RGB", (8192, 1))))),
                                                      "w1"], "bad_aspect_ratio"),
    "eval-limit-negative": (lambda root, model: ["eval", "--model", str(model), "--data", "easyvqa:test",
                                                 "--limit", "-3"], "'-3' is not a positive number of samples"),
    "merge-into-the-run-folder": (lambda root, model: ["merge", str(fake_run(root)), str(root / "run")],
                                  "holds a training run"),
    "merge-into-non-empty-folder": (lambda root, model: ["merge", str(fake_run(root)), str(model)], "not empty"),
    "data-check-missing-path": (lambda root, model: ["data", "check", str(root / "gone.jsonl")], "no such file"),
    "data-check-unknown-format-option": (lambda root, model: ["data", "check", "easyvqa:nope"], "split"),
}


def fake_run(root: Path) -> Path:
    (root / "run").mkdir(exist_ok=True)
    (root / "run" / "train_config.yaml").write_text("{}\n")
    return root / "run"


@pytest.mark.parametrize("kind", list(CLI_REFUSALS))
def test_cli_refusal(tmp_path: Path, tiny_folder: Path, kind: str, capsys) -> None:
    """A ValueError from the command, or an argparse usage error (exit 2), saying what is wrong."""
    build, message = CLI_REFUSALS[kind]
    argv = build(tmp_path, tiny_folder)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises((ValueError, SystemExit)) as caught:
        cli(*argv)
    usage = isinstance(caught.value, SystemExit)
    assert not usage or caught.value.code == 2
    assert message in (capsys.readouterr().err if usage else str(caught.value))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written


def test_fault_ask_batch_bad_row_keeps_the_old_output(tmp_path: Path, tiny_folder: Path) -> None:
    """A row that fails partway (image 9 of 10 unreadable) leaves an existing --out untouched."""
    rows = question_rows(tmp_path, 10)
    (tmp_path / "8.png").write_text("no longer a png")
    out = tmp_path / "answers.jsonl"
    out.write_text("previous answers\n")
    with pytest.raises(BadRowError, match="not_an_image"):
        cli("ask", "--model", str(tiny_folder), "--input", str(rows), "--out", str(out), "--overwrite",
            "--batch-size", "4", "--max-new-tokens", "2")
    assert out.read_text() == "previous answers\n" and sorted(p.name for p in tmp_path.glob("*answers*")) == [
        "answers.jsonl"]


def test_fault_ask_skip_bad_skips_and_counts(tmp_path: Path, tiny_folder: Path, capsys) -> None:
    """A folder with one fake .png: --skip-bad answers the others and says how many it skipped."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        photo(seed=i).save(folder / f"{i}.png")
    (folder / "fake.png").write_text("not an image")
    out = tmp_path / "answers.jsonl"
    assert cli("ask", "--model", str(tiny_folder), "--input", str(folder), "w1 w2", "--out", str(out),
               "--skip-bad", "--max-new-tokens", "2") == 0
    answered = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(a["image"]).name for a in answered] == ["0.png", "1.png", "2.png"]
    assert "skipped 1 bad rows" in capsys.readouterr().err


def test_fault_ask_answer_key_keeps_reference_answers(tmp_path: Path, tiny_folder: Path) -> None:
    rows = question_rows(tmp_path, 2, {0: {"answer": "ref0"}, 1: {"answer": "ref1"}})
    out = tmp_path / "answers.jsonl"
    assert cli("ask", "--model", str(tiny_folder), "--input", str(rows), "--out", str(out), "--answer-key",
               "prediction", "--max-new-tokens", "2") == 0
    answered = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["answer"] for a in answered] == ["ref0", "ref1"] and all("prediction" in a for a in answered)


def test_fault_chat_extreme_aspect_image_keeps_the_session(tmp_path: Path, tiny_folder: Path) -> None:
    from gitllm.play.chat import ChatSession, run_chat

    (tmp_path / "wide.png").write_bytes(png(Image.new("RGB", (8192, 1))))
    out = io.StringIO()
    commands = iter([f"/image {tmp_path / 'wide.png'}", "/reset", "/quit"])
    session = ChatSession(None, None, "git-llm", "")  # type: ignore[arg-type]
    run_chat(session, read=lambda _: next(commands), out=out)
    assert "bad_aspect_ratio" in out.getvalue() and "history cleared" in out.getvalue()


# ---------------------------------------------------------------- training faults


def train_table(root: Path, bad: dict[int, dict]) -> dict[str, Any]:
    from test_train_support import tiny_config

    config = tiny_config(root)
    table = Path(config["data"]["train"][0])
    rows = [json.loads(line) | bad.get(i, {}) for i, line in enumerate(table.read_text().splitlines())]
    table.write_text(lines(*rows))
    return config


@pytest.mark.parametrize("cache", ["auto", "off"])
def test_fault_training_skip_bad_drops_undecodable_and_too_long_rows(tmp_path: Path, cache: str, capsys) -> None:
    from gitllm.train import train

    (tmp_path / "fake.png").write_text("not an image")
    config = train_table(tmp_path, {3: {"image": "fake.png"}, 5: {"answer": "w1 " * 80}})
    config["data"] |= {"skip_bad": True, "max_length": 64}
    result = train(config | {"feature_cache": cache, "max_steps": 2})
    err = capsys.readouterr().err
    assert result.steps == 2 and "not_an_image: 1" in err and "too_long: 1" in err
    if cache == "auto":  # without skip_bad the bad row stops the cache fill, naming itself
        config["data"]["skip_bad"] = False
        with pytest.raises(BadRowError, match="row 4: not_an_image"):
            train(config | {"feature_cache": cache, "max_steps": 2, "output_dir": str(tmp_path / "strict")})


def test_fault_training_missing_image_names_its_row(tmp_path: Path) -> None:
    """Without skip_bad, a missing image stops the feature-cache fill with the row named (not an OSError)."""
    from gitllm.train import train

    config = train_table(tmp_path, {2: {"image": "gone.png"}})
    with pytest.raises(BadRowError, match=r"data.jsonl row 3: image_not_found: no such file: .*gone.png"):
        train(config)


def test_fault_training_with_only_bad_rows_is_a_clear_error(tmp_path: Path) -> None:
    from gitllm.train import train

    config = train_table(tmp_path, {i: {"answer": ""} for i in range(24)})
    config["data"]["skip_bad"] = True
    with pytest.raises(ValueError, match="no usable training rows"):
        train(config)


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_train_support import tiny_config
    from transformers import TrainerCallback
    import gitllm.infer.features as features
    from gitllm.train import train

    config = tiny_config(__import__("pathlib").Path({root!r}), **{overrides!r})
    if {at_step}:
        class Kill(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == {at_step}:
                    os.kill(os.getpid(), signal.SIGKILL)
        train(config, callbacks=[Kill()])
    else:  # die inside the second shard of the feature-cache fill, its features half written, keys not
        features.SHARD_ROWS, shards, add = 8, [], features.FeatureCache.add
        def dying_add(self, keys, array):
            shards.append(keys)
            if len(shards) == 2:
                with open(self.dir / "shard-killed.tmp.npy", "wb") as out:
                    out.write(array.tobytes()[: array.nbytes // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            add(self, keys, array)
        features.FeatureCache.add = dying_add
        train(config)
""")


def killed(root: Path, overrides: dict[str, Any], at_step: int = 0) -> None:
    """Run a training in a child process that SIGKILLs itself (at `at_step`, or during the cache fill)."""
    script = KILL_SCRIPT.format(tests=str(TESTS), root=str(root), overrides=overrides, at_step=at_step)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]


def losses(run: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if "loss" in r]


def test_fault_sigkill_during_training_then_resume(tmp_path: Path) -> None:
    """kill -9 after step 3 (checkpoint at 2), then `resume: auto`: the loss curve of an uninterrupted run."""
    from gitllm.train import train
    from test_train_support import tiny_config

    common = {"max_steps": 5, "save_steps": 2, "optim": {"lr": 1e-2, "scheduler": "linear", "warmup_ratio": 0.2}}
    straight = train(tiny_config(tmp_path, output_dir=str(tmp_path / "straight"), **common)).output_dir
    killed(tmp_path, {"output_dir": str(tmp_path / "killed"), **common}, at_step=3)
    assert (tmp_path / "killed" / "checkpoint-2").is_dir() and not (tmp_path / "killed" / "final").exists()
    resumed = train(tiny_config(tmp_path, output_dir=str(tmp_path / "killed"), **common)).output_dir
    expected, got = losses(straight), losses(resumed)
    assert [s for s, _ in got] == list(range(1, 6)) == [s for s, _ in expected]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-5)


def test_fault_sigkill_during_feature_cache_fill_then_rerun(tmp_path: Path) -> None:
    """kill -9 while the cache fill writes its second shard: the rerun trains on fresh features only."""
    from gitllm.train import train
    from gitllm.infer.features import FeatureCache
    from test_train_support import tiny_config

    cache = tmp_path / "killed-cache"
    killed(tmp_path, {"output_dir": str(tmp_path / "killed"), "cache_dir": str(cache)})
    [identity] = [p.name for p in cache.iterdir()]
    assert len(FeatureCache(identity, cache)) == 8  # only the first shard committed
    straight = train(tiny_config(tmp_path, output_dir=str(tmp_path / "straight"))).output_dir
    rerun = train(tiny_config(tmp_path, output_dir=str(tmp_path / "killed"), cache_dir=str(cache))).output_dir
    assert len(FeatureCache(identity, cache)) == 24  # 20 train + 4 val images, each once
    np.testing.assert_allclose([v for _, v in losses(rerun)], [v for _, v in losses(straight)], rtol=1e-5)


# ---------------------------------------------------------------- the count


def kinds() -> list[str]:
    """Every kind the suite covers: this module's table entries and every `test_fault_*` test under tests/."""
    tables = {"data": DATA_FILES, "image": IMAGES, "config": CONFIGS, "config-file": CONFIG_FILES,
              "api": API_BODIES, "python-api": PYTHON_API, "cli": CLI_REFUSALS}
    found = [f"{table}:{kind}" for table, cases in tables.items() for kind in cases]
    for path in sorted(TESTS.glob("test_*.py")):
        found += [f"fault:{name}" for name in re.findall(r"^def (test_fault_\w+)", path.read_text(), re.M)]
    return found


def test_the_suite_counts_at_least_70_kinds() -> None:
    found = kinds()
    assert len(found) == len(set(found)) and len(found) >= MIN_KINDS, len(found)


if __name__ == "__main__":
    print(f"{len(kinds())} kinds of bad input and faults")
