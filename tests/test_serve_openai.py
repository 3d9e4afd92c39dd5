"""`gitllm serve` through the official `openai` Python client (plain, streaming, an image part, errors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitllm.data import Encoder
from gitllm.play import ask, load_model
from gitllm.infer.generate import question_sample
from gitllm.play.server import Limits, Playground
from test_play_helpers import image, one_torch_thread, png_bytes, running_server, save_tiny  # noqa: F401 (fixture)
from test_serve import data_url

openai = pytest.importorskip("openai", reason="pip install 'gitllm[test]' for the OpenAI-client test")
KEY = "test-key"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[object, object, object]]:
    model, processor = load_model(save_tiny(tmp_path_factory.mktemp("tiny")))
    with running_server(Playground(model, processor, model_name="tiny", limits=Limits(api_key=KEY))) as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=60), model, processor


def messages(question: str, seed: int = 0) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(png_bytes(image(seed)))}},
                                         {"type": "text", "text": question}]}]


def test_plain_completion_with_an_image_part(served) -> None:
    client, model, processor = served
    expected = ask(model, processor, [image(0)], ["w1 w2"], max_new_tokens=6)[0]
    completion = client.chat.completions.create(model="tiny", messages=messages("w1 w2"), max_tokens=6)
    assert completion.choices[0].message.content == expected and completion.model == "tiny"
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens >= 1
    text = Encoder(processor.tokenizer, processor.image_processor).prompt_text(question_sample(image(0), "w1 w2"))
    assert completion.usage.prompt_tokens == 16 + 1 + len(text["input_ids"])  # patches + CLS + text
    assert [m.id for m in client.models.list()] == ["tiny"]


def test_streaming_gives_the_same_answer_and_usage(served) -> None:
    client, model, processor = served
    whole = client.chat.completions.create(model="tiny", messages=messages("w3 w4 w5", 1), max_tokens=8)
    stream = client.chat.completions.create(model="tiny", messages=messages("w3 w4 w5", 1), max_tokens=8,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_errors_arrive_as_the_clients_exceptions(served) -> None:
    client, _, _ = served
    with pytest.raises(openai.BadRequestError, match="no image"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "w1"}])
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="tiny", messages=messages("w1"), max_tokens=0)
    wrong = openai.OpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API key"):
        wrong.chat.completions.create(model="tiny", messages=messages("w1"))
