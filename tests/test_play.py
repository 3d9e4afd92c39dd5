"""gitllm.play: loading, batched vs single vs streamed answers, the terminal chat and `gitllm ask` batch mode."""

from __future__ import annotations

import argparse
import io
import json

import pytest
import torch

from gitllm.data import Turn
from gitllm.play import GenerationSettings, ask, load_model, stream_answer
from gitllm.play import cli as play_cli
from gitllm.play.loader import prompt_defaults
from gitllm.play.chat import ChatSession, run_chat
from gitllm.infer.generate import question_sample
from test_play_helpers import image, one_torch_thread, save_tiny  # noqa: F401 (fixture)
from tiny_models import random_batch, tiny_model

QUESTIONS = ["w1 w2", "w3 w4 w5 w6 w7 w8", "w9", "w10 w11 w12"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_model(save_tiny(tmp_path_factory.mktemp("tiny")))


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    play_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_load_model_gives_the_saved_model(tmp_path) -> None:
    model, processor = load_model(save_tiny(tmp_path))
    batch = random_batch()
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, tiny_model(seed=0)(**batch).logits)
    assert processor.tokenizer.padding_side == "left" and not model.training


def test_load_model_names_what_it_accepts(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="VISION\\+LLM"):
        load_model(tmp_path / "missing")
    tiny_model().save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no gitllm processor"):
        load_model(tmp_path)


def test_load_model_takes_a_training_run(tmp_path) -> None:
    """A run folder (and its final/) loads with LoRA merged; its template and instruction become the defaults."""
    from gitllm.train import train
    from gitllm.train.merge import load_run
    from test_train_support import tiny_config

    config = tiny_config(tmp_path, max_steps=2)
    config["data"] |= {"instruction": "w7 w8"}
    run = train(config).output_dir
    expected, _ = load_run(run)
    batch = random_batch()
    for source in (run, run / "final"):
        model, processor = load_model(source)
        with torch.no_grad():
            torch.testing.assert_close(model(**batch).logits, expected.eval()(**batch).logits)
        assert prompt_defaults(source) == ("git-llm", "w7 w8")
    assert prompt_defaults(tmp_path) == ("git-llm", "")


def test_fault_every_loader_uses_the_runs_prompt_format(tmp_path) -> None:
    """The run's template and instruction travel with its processor: `load_model` of the run, its final/ and
    a `gitllm merge` folder, `AutoProcessor`, the CLI defaults, and `ask` / `prompt_batch` without arguments."""
    from transformers import AutoProcessor

    from gitllm.infer.generate import prompt_batch
    from gitllm.train import merge_run, train
    from test_train_support import tiny_config

    config = tiny_config(tmp_path, max_steps=1)
    config["data"] |= {"template": "qa", "instruction": "w7 w8"}
    run = train(config).output_dir
    merged = merge_run(run, tmp_path / "merged")
    assert AutoProcessor.from_pretrained(merged).template == "qa"
    assert prompt_defaults(merged) == ("qa", "w7 w8")  # what the CLI reads before loading
    sample = question_sample(image(0), "w5 w6", "w7 w8")
    for source in (run, run / "final", merged):
        model, processor = load_model(source)
        assert (processor.template, processor.instruction) == ("qa", "w7 w8"), source
        ids = prompt_batch(processor, [sample])["input_ids"]
        assert torch.equal(ids, prompt_batch(processor, [sample], "qa")["input_ids"])
        assert not torch.equal(ids, prompt_batch(processor, [sample], "git-llm")["input_ids"])
        answers = ask(model, processor, [image(0)], ["w5 w6"], max_new_tokens=3)
        assert answers == ask(model, processor, [image(0)], ["w5 w6"], "qa", "w7 w8", max_new_tokens=3)


def test_batched_answers_equal_one_at_a_time(loaded) -> None:
    model, processor = loaded
    images = [image(i) for i in range(len(QUESTIONS))]
    batched = ask(model, processor, images, QUESTIONS, batch_size=3, max_new_tokens=6)
    single = [ask(model, processor, [im], [q], max_new_tokens=6)[0] for im, q in zip(images, QUESTIONS)]
    assert batched == single and all(batched)


def test_streamed_answer_equals_the_batched_one(loaded) -> None:
    model, processor = loaded
    streamed = "".join(stream_answer(model, processor, question_sample(image(0), "w1 w2"),
                                     settings=GenerationSettings(max_new_tokens=6)))
    assert streamed.strip() == ask(model, processor, [image(0)], ["w1 w2"], max_new_tokens=6)[0]


def test_bad_questions_and_settings_are_clear_errors(loaded) -> None:
    model, processor = loaded
    with pytest.raises(ValueError, match="the question is empty"):
        ask(model, processor, [image(0)], ["  "])
    with pytest.raises(ValueError, match="2 images but 1 questions"):
        ask(model, processor, [image(0), image(1)], ["w1"])
    with pytest.raises(ValueError, match="temperature must be 0..5"):
        ask(model, processor, [image(0)], ["w1"], temperature=-1)


def test_chat_streams_keeps_history_and_survives_bad_input(loaded, tmp_path) -> None:
    model, processor = loaded
    image(0).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    session = ChatSession(model, processor, settings=GenerationSettings(max_new_tokens=5))
    lines = iter(["w1 w2", f"/image {tmp_path / 'notes.txt'}", f"/image {tmp_path / 'a.png'}", "w1 w2", "w3",
                  "/bogus", "/reset", "/quit", "never read"])
    out = io.StringIO()
    run_chat(session, lambda prompt: next(lines), out)
    text = out.getvalue()
    assert "error: no image yet" in text and "not_an_image" in text and "unknown command /bogus" in text
    assert next(lines) == "never read" and session.turns == []
    first = ask(model, processor, [image(0)], ["w1 w2"], max_new_tokens=5)[0]
    history = [Turn("user", "w1 w2"), Turn("assistant", first or "..."), Turn("user", "w3")]
    second = "".join(stream_answer(model, processor, question_sample(image(0), history),
                                   settings=GenerationSettings(max_new_tokens=5))).strip()
    assert f"model> {first}" in text.replace("model>  ", "model> ") and second in text


def test_ask_cli_single_and_batch_jsonl(loaded, tmp_path, capsys) -> None:
    folder = save_tiny(tmp_path / "model")
    for i in range(5):
        image(i).save(tmp_path / f"{i}.png")
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"image": f"{i}.png", "question": QUESTIONS[i % 4], "id": i}) + "\n"
                            for i in range(5)))
    out = tmp_path / "answers" / "out.jsonl"
    assert run_cli("ask", "--model", str(folder), "--input", str(rows), "--out", str(out), "--batch-size", "2",
                   "--max-new-tokens", "6") == 0
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    model, processor = loaded
    expected = ask(model, processor, [image(i) for i in range(5)], [QUESTIONS[i % 4] for i in range(5)],
                   max_new_tokens=6)
    assert [a["id"] for a in answers] == list(range(5)) and [a["answer"] for a in answers] == expected
    capsys.readouterr()
    assert run_cli("ask", "--model", str(folder), "--image", str(tmp_path / "0.png"), "w1 w2", "--max-new-tokens",
                   "6") == 0
    assert capsys.readouterr().out.strip() == ask(model, processor, [image(0)], ["w1 w2"], max_new_tokens=6)[0]
    assert run_cli("ask", "--model", str(folder), "--image", str(tmp_path / "0.png"), " ") == 2
    assert "the question is empty" in capsys.readouterr().err
