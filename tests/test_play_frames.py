"""Several images per question in gitllm.play: ask (API and CLI), chat, JSONL batch rows, visual words."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from gitllm.play import GenerationSettings, ask, load_model
from gitllm.play.chat import ChatSession, run_chat
from gitllm.infer.generate import prompt_batch, question_sample
from gitllm.play.visual_words import frame_visual_words, nearest_tokens, visual_words
from test_play import run_cli
from test_play_helpers import image, one_torch_thread, running_server  # noqa: F401 (fixture)
from tiny_models import tiny_model, tiny_processor


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model with large temporal embeddings for 3 frames, saved with its processor, and 3 images."""
    folder = tmp_path_factory.mktemp("frames")
    model = tiny_model(seed=0, num_image_with_embedding=3)
    with torch.no_grad():
        for k, parameter in enumerate(model.img_temporal_embedding):
            parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(k)) * 3)
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    paths = []
    for i in range(3):
        image(i).save(folder / f"{i}.png")
        paths.append(folder / f"{i}.png")
    return folder, paths


def test_ask_batches_frames_and_single_images_as_they_answer_alone(saved) -> None:
    folder, paths = saved
    model, processor = load_model(folder)
    items = [[paths[0], paths[1]], paths[2], [paths[2], paths[0], paths[1]]]
    questions = ["w1 w2", "w3 w4 w5", "w6"]
    batched = ask(model, processor, items, questions, batch_size=3, max_new_tokens=6)
    alone = [ask(model, processor, [item], [q], max_new_tokens=6)[0] for item, q in zip(items, questions)]
    assert batched == alone
    batch = prompt_batch(processor, [question_sample(items[0], "w1 w2")], "git-llm")
    assert batch["pixel_values"].shape == (1, 2, 3, 32, 32) and batch["frame_mask"].tolist() == [[1, 1]]
    reference = processor(images=[[image(0), image(1)]])["pixel_values"]
    torch.testing.assert_close(batch["pixel_values"], reference, atol=0.05, rtol=0)


def test_ask_cli_takes_several_images(saved, capsys) -> None:
    folder, paths = saved
    model, processor = load_model(folder)
    assert run_cli("ask", "--model", str(folder), "--image", str(paths[0]), "--image", str(paths[1]), "w1 w2",
                   "--max-new-tokens", "6") == 0
    expected = ask(model, processor, [[paths[0], paths[1]]], ["w1 w2"], max_new_tokens=6)[0]
    assert capsys.readouterr().out.strip() == expected
    rows = folder / "rows.jsonl"
    rows.write_text(json.dumps({"image": ["0.png", "1.png"], "question": "w1 w2"}) + "\n")
    out = folder / "answers.jsonl"
    assert run_cli("ask", "--model", str(folder), "--input", str(rows), "--out", str(out), "--max-new-tokens",
                   "6") == 0
    assert json.loads(out.read_text())["answer"] == expected


def test_chat_adds_images_as_frames(saved) -> None:
    folder, paths = saved
    model, processor = load_model(folder)
    session = ChatSession(model, processor, settings=GenerationSettings(max_new_tokens=5))
    lines = iter([f"/image {paths[0]}", f"/add {paths[1]}", "w1 w2", "/quit"])
    out = io.StringIO()
    run_chat(session, lambda prompt: next(lines), out)
    assert "image 2: " in out.getvalue() and len(session.images) == 2
    expected = ask(model, processor, [[paths[0], paths[1]]], ["w1 w2"], max_new_tokens=5)[0]
    assert session.turns[-1].text == (expected or "...")


def test_visual_words_per_frame_carry_each_frames_temporal_embedding(saved, tmp_path) -> None:
    folder, paths = saved
    model, processor = load_model(folder)
    frames = frame_visual_words(model, processor, paths[:2], tmp_path / "words.png", sanity_tokens=0)
    assert len(frames) == 2 and (tmp_path / "words-frame0.png").is_file() and (tmp_path / "words-frame1.png").is_file()
    batch = processor(images=[[image(0), image(1)]])
    with torch.no_grad():
        tokens = model.image_embeddings(batch["pixel_values"])[0]  # (2 x 17, D): what the LLM reads
    vocab = model.get_input_embeddings().weight
    for k, words in enumerate(frames):
        assert words.token_ids == nearest_tokens(tokens[17 * k : 17 * (k + 1)], vocab).tolist()
    assert frames[1].token_ids != visual_words(model, processor, paths[1], sanity_tokens=0).token_ids


def test_evaluate_reads_videos_with_and_without_the_feature_cache(saved, tmp_path) -> None:
    from PIL import Image

    from gitllm.eval.evaluate import evaluate
    from gitllm.eval.gallery import frame_strip

    folder, _ = saved
    model, processor = load_model(folder)
    settings = GenerationSettings(max_new_tokens=3)
    plain = evaluate(model, processor, "shapesvideo:test", settings=settings, limit=4, progress=False,
                     out_dir=tmp_path / "plain")
    cached = evaluate(model, processor, "shapesvideo:test", settings=settings, limit=4, progress=False,
                      feature_cache=True, cache_dir=tmp_path / "cache")
    assert plain["samples"] == plain["vqa_count"] == 4 and abs(plain["loss"] - cached["loss"]) < 1e-2
    strip = frame_strip([Image.new("RGB", (64, 64))] * 3)
    assert strip.size == (3 * 64 + 2 * 4, 64)
    # the gallery shows each video once (two questions each): its frames as one strip
    assert (tmp_path / "plain" / "gallery.html").read_text().count("data:image/jpeg;base64,") == 2


def test_api_takes_several_images_per_message_batched_as_alone(saved) -> None:
    """Image parts of one conversation are read as frames in order: the server's greedy answers (several
    requests with 1, 2 and 3 images decoded together) equal `ask` on the same frames; beyond the model's
    temporal embeddings (3) a request is a 400 that says how many it takes."""
    from test_serve import answer, chat_body, data_url, post
    from gitllm.play.server import Limits, Playground

    folder, paths = saved
    model, processor = load_model(folder)
    items = [[paths[0], paths[1]], [paths[2]], [paths[2], paths[0], paths[1]], [paths[1], paths[0]]]
    expected = ask(model, processor, items, ["w1 w2"] * len(items), max_new_tokens=6)
    urls = {path: data_url(path.read_bytes()) for path in paths}

    def body(frames: list) -> dict:
        single = chat_body("w1 w2", urls[frames[0]])
        content = [{"type": "image_url", "image_url": {"url": urls[p]}} for p in frames]
        return {**single, "messages": [{"role": "user", "content": [*content, {"type": "text", "text": "w1 w2"}]}]}

    with running_server(Playground(model, processor, model_name="tiny", limits=Limits(max_images=8))) as url:
        with ThreadPoolExecutor(max_workers=4) as pool:
            got = list(pool.map(lambda frames: answer(url, body(frames)), items * 2))
        status, data = post(url + "/v1/chat/completions", body([paths[0]] * 4))
    assert got == expected * 2 and len(set(expected)) > 1
    assert status == 400 and "4 images in one conversation; this server takes at most 3" in data.decode()
