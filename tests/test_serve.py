"""`gitllm serve` over loopback: the OpenAI-compatible API under concurrency, streaming, and bad input."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from gitllm.play import load_model
from gitllm.play.decode_batch import DecodeBatch
from gitllm.play.server import Limits, Playground
from test_play_helpers import image, one_torch_thread, png_bytes, running_server, save_tiny  # noqa: F401 (fixture)

QUESTIONS = ["w1 w2", "w3 w4 w5 w6 w7", "w9", "w10 w11 w12", "w20 w21"]
MAX_PIXELS = 128 * 128


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    model, processor = load_model(save_tiny(tmp_path_factory.mktemp("tiny")))
    limits = Limits(max_body_bytes=1 << 20, max_pixels=MAX_PIXELS)
    with running_server(Playground(model, processor, model_name="tiny", limits=limits)) as url:
        yield url


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def chat_body(question: str, url: str, **extra) -> dict:
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": question}]
    return {"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 6, **extra}


def post(url: str, body: object, raw: bytes | None = None) -> tuple[int, bytes]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def answer(base_url: str, body: dict) -> str:
    status, data = post(base_url + "/v1/chat/completions", body)
    assert status == 200, data
    return json.loads(data)["choices"][0]["message"]["content"]


def stream_text(base_url: str, body: dict) -> str:
    request = urllib.request.Request(base_url + "/v1/chat/completions", data=json.dumps({**body, "stream": True}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        events = [line[6:] for line in response.read().decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]).strip()


def test_8_clients_x_50_requests_batched_equal_sequential_answers(base_url, monkeypatch) -> None:
    """8 clients x 50 requests (greedy and sampling, streamed and not, different lengths), batched together:
    no errors, and every greedy answer equals the same request made alone."""
    urls = [data_url(png_bytes(image(seed))) for seed in range(5)]
    bodies = [chat_body(QUESTIONS[i % 5], urls[(i // 5) % 5], max_tokens=2 + i % 9) for i in range(25)]
    alone = [answer(base_url, b) for b in bodies]
    sizes: list[int] = []
    step = DecodeBatch.step
    monkeypatch.setattr(DecodeBatch, "step", lambda self: (sizes.append(len(self.rows)), step(self))[1])

    def client(k: int) -> list[tuple[int, str]]:
        got = []
        for j in range(50):
            i = (k * 7 + j) % 25
            if j % 5 == 4:  # a sampling request in the mix: any answer, but it must come
                assert answer(base_url, {**bodies[i], "temperature": 1.0, "top_p": 0.9}) is not None
            else:
                got.append((i, stream_text(base_url, bodies[i]) if j % 3 == 0 else answer(base_url, bodies[i])))
        return got

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [pair for pairs in pool.map(client, range(8)) for pair in pairs]
    assert len(results) == 8 * 40 and all(text == alone[i] for i, text in results)
    assert len(set(alone)) > 1, "the tiny model should answer different requests differently"
    assert max(sizes) > 1, "concurrent requests should have been decoded together"


@pytest.mark.parametrize("beams", [1, 3])
def test_stream_gives_the_same_answer_as_sse(base_url, beams) -> None:
    body = chat_body("w3 w4 w5 w6 w7", data_url(png_bytes(image(1))), num_beams=beams)
    request = urllib.request.Request(base_url + "/v1/chat/completions", data=json.dumps({**body, "stream": True}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [line[6:] for line in response.read().decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).strip()
    status, data = post(base_url + "/v1/chat/completions", body)
    whole = json.loads(data)["choices"][0]
    assert streamed == whole["message"]["content"] and len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]


def test_response_follows_the_openai_shape(base_url) -> None:
    status, data = post(base_url + "/v1/chat/completions",
                        {**chat_body("w1", data_url(png_bytes(image(0)))),
                         "messages": [{"role": "system", "content": "w5 w6"},
                                      *chat_body("w1", data_url(png_bytes(image(0))))["messages"]]})
    body = json.loads(data)
    assert status == 200 and body["object"] == "chat.completion" and body["model"] == "tiny"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert body["usage"]["prompt_tokens"] > 17  # the 16 patches + CLS count as prompt tokens
    with urllib.request.urlopen(base_url + "/v1/models", timeout=10) as response:
        assert json.loads(response.read())["data"][0]["id"] == "tiny"


@pytest.mark.parametrize("case, status, message", [
    ("non-image upload", 400, "not a recognised image"),
    ("oversized image", 413, "over the limit"),
    ("empty question", 400, "the question is empty"),
    ("malformed JSON", 400, "invalid request: "),
    ("no messages", 400, "messages: Field required"),
    ("no image", 400, "no image"),
    ("remote image URL", 400, "data: URL"),
    ("bad setting", 400, "max_tokens: Input should be greater than or equal to 1"),
    ("body too large", 413, "over the limit of"),
    ("unknown route", 404, "no route"),
    ("bad visual-words metric", 400, "metric: Input should be 'cosine' or 'dot'"),
])
def test_bad_input_is_a_clear_4xx_and_the_server_keeps_serving(base_url, case, status, message) -> None:
    good = chat_body("w1 w2", data_url(png_bytes(image(0))))
    path, body, raw = "/v1/chat/completions", None, None
    if case == "non-image upload":
        body = chat_body("w1", data_url(b"plain text, not pixels", "text/plain"))
    elif case == "oversized image":
        body = chat_body("w1", data_url(png_bytes(image(0, (200, 200)))))
    elif case == "empty question":
        body = chat_body("   ", data_url(png_bytes(image(0))))
    elif case == "malformed JSON":
        raw = b'{"messages": [oops'
    elif case == "no messages":
        body = {"model": "tiny"}
    elif case == "no image":
        body = {"messages": [{"role": "user", "content": "w1"}]}
    elif case == "remote image URL":
        body = chat_body("w1", "https://example.com/cat.png")
    elif case == "bad setting":
        body = {**good, "max_tokens": 0}
    elif case == "body too large":
        raw = b" " * (2 << 20)
    elif case == "unknown route":
        path, body = "/v1/completions", good
    else:
        path, body = "/v1/visual-words", {"image": good["messages"][0]["content"][0]["image_url"]["url"], "metric": "l2"}
    got, data = post(base_url + path, body, raw)
    assert got == status and message in json.loads(data)["error"]["message"]
    assert answer(base_url, good)  # still serving


def test_visual_words_endpoint_returns_an_overlay(base_url) -> None:
    status, data = post(base_url + "/v1/visual-words", {"image": data_url(png_bytes(image(2)))})
    body = json.loads(data)
    assert status == 200 and body["grid"] == [4, 4] and sum(n for _, n in body["counts"]) == 16
    assert base64.b64decode(body["png"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" and len(body["prefix"]) == 1


def test_requests_beyond_the_queue_get_503_and_queued_ones_complete(tmp_path) -> None:
    model, processor = load_model(save_tiny(tmp_path))
    playground = Playground(model, processor, limits=Limits(max_waiting=1))
    body = chat_body("w1 w2", data_url(png_bytes(image(0))))
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:  # the model is busy with someone else until released
        busy.set()
        release.wait()

    with running_server(playground) as url, ThreadPoolExecutor(max_workers=1) as pool:
        try:
            playground.engine.call(hold)
            assert busy.wait(30)  # the engine has taken the call off the queue
            waiting = pool.submit(post, url + "/v1/chat/completions", body)
            deadline = time.monotonic() + 30
            while playground.engine.waiting < 1 and time.monotonic() < deadline:  # until it has queued
                time.sleep(0.01)
            assert playground.engine.waiting == 1
            status, data = post(url + "/v1/chat/completions", body)
            assert status == 503 and "busy" in json.loads(data)["error"]["message"]
        finally:
            release.set()
        assert waiting.result()[0] == 200


def test_autocast_serves_in_bfloat16_as_ask_answers_under_it(tmp_path) -> None:
    """`--autocast bfloat16`: the engine computes under CPU autocast (fp32 weights kept), and its greedy answers
    are those `ask` gives under the same autocast."""
    import torch

    from gitllm.play import ask
    from gitllm.play.loader import compute_in

    model, processor = load_model(save_tiny(tmp_path))
    pictures = [image(seed) for seed in range(3)]
    with compute_in("bfloat16"):
        expected = ask(model, processor, pictures, QUESTIONS[:3], max_new_tokens=6)
    seen: list[bool] = []
    hook = model.language_model.register_forward_pre_hook(lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
    try:
        with running_server(Playground(model, processor, limits=Limits(autocast="bfloat16"))) as url:
            got = [answer(url, chat_body(q, data_url(png_bytes(p)))) for p, q in zip(pictures, QUESTIONS)]
    finally:
        hook.remove()
    assert got == expected and seen and all(seen)
    assert next(model.parameters()).dtype == torch.float32
