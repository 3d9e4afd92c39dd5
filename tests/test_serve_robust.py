"""`gitllm serve` under bad clients and load: slow and idle connections, bursts, disconnects, keys, odd input."""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from gitllm.play import load_model
from gitllm.play.server import Limits, Playground
from test_play_helpers import image, one_torch_thread, png_bytes, running_server, save_tiny  # noqa: F401 (fixture)
from test_serve import answer, chat_body, data_url, post
from tiny_models import tiny_model, tiny_processor

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[object, object]:
    return load_model(save_tiny(tmp_path_factory.mktemp("tiny")))


@pytest.fixture
def serve(tiny) -> Iterator:
    """serve(**limits) -> base URL of a server on the tiny model with those limits (short timeouts)."""
    with ExitStackServer(tiny) as start:
        yield start


class ExitStackServer:
    def __init__(self, tiny: tuple[object, object]) -> None:
        self.tiny, self.contexts, self.playgrounds = tiny, [], []

    def __enter__(self):
        return self

    def __call__(self, **limits) -> str:
        playground = Playground(*self.tiny, model_name="tiny", limits=Limits(**{"timeout_s": TIMEOUT_S, **limits}))
        context = running_server(playground)
        self.contexts.append(context)
        self.playgrounds.append(playground)
        return context.__enter__()

    def __exit__(self, *exc) -> None:
        for context in reversed(self.contexts):
            context.__exit__(None, None, None)


def good_body(**extra) -> dict:
    return chat_body("w1 w2", data_url(png_bytes(image(0))), **extra)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing `sock` (None: still open after `within` seconds)."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (TimeoutError, socket.timeout):
        return None
    except ConnectionResetError:
        pass
    return data


def test_slow_client_does_not_stop_others_and_is_dropped_after_the_timeout(serve) -> None:
    url = serve()
    body = json.dumps(good_body()).encode()
    slow = connect(url)
    slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))  # headers, and the body never comes
    half = connect(url)
    half.sendall(b"POST /v1/chat/comp")  # half a request line
    kept = connect(url)  # one whole request on a kept-open connection, then half of the next one
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    response = b""
    while not response.endswith(b"}"):  # the whole JSON answer
        response += kept.recv(4096)
    assert response.startswith(b"HTTP/1.1 200")
    kept.sendall(b"GET /hea")
    start = time.monotonic()
    assert answer(url, good_body())  # others are served meanwhile
    assert b" 408 " in closed_by_server(slow, 5 * TIMEOUT_S)
    assert closed_by_server(half, 5 * TIMEOUT_S) == b""
    assert closed_by_server(kept, 5 * TIMEOUT_S) == b""
    assert time.monotonic() - start < 5 * TIMEOUT_S


def test_1000_idle_connections_hold_no_threads_and_are_closed(serve) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    url = serve()
    threads = threading.active_count()
    idle = [connect(url) for _ in range(1000)]
    try:
        time.sleep(0.2)
        assert threading.active_count() <= threads + 2, "idle connections must not hold threads"
        assert answer(url, good_body())
        time.sleep(TIMEOUT_S + 1.0)
        assert all(closed_by_server(s, 2.0) == b"" for s in idle[:50]), "idle connections are dropped"
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_burst_of_120_gets_answers_or_clean_503s(serve) -> None:
    url = serve(max_waiting=16)
    start = threading.Barrier(120)

    def one(_: int) -> int:
        start.wait()
        status, data = post(url + "/v1/chat/completions", good_body(max_tokens=4))
        assert status == 200 or "busy" in json.loads(data)["error"]["message"]
        return status

    with ThreadPoolExecutor(max_workers=120) as pool:
        statuses = list(pool.map(one, range(120)))  # a reset would raise here
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 16


@pytest.mark.parametrize("stream", [False, True])
def test_a_disconnecting_client_frees_its_batch_slot(serve, tiny, stream) -> None:
    url = serve(max_batch=1)
    playground = tiny  # noqa: F841 — the same model: slow it down so a long answer takes seconds
    slowed = tiny[0].language_model.register_forward_pre_hook(lambda *args: time.sleep(0.05))
    try:
        body = json.dumps(good_body(max_tokens=4096, stream=stream)).encode()
        leaver = connect(url)
        leaver.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.5)  # it is generating
        leaver.close()
        start = time.monotonic()
        assert answer(url, good_body(max_tokens=3))  # one slot: it needs the leaver's
        assert time.monotonic() - start < 30.0, "the slot should be freed long before the leaver's ~200 s answer ends"
    finally:
        slowed.remove()


def test_api_key(serve) -> None:
    url = serve(api_key="s3cret")
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Bearer s3cret"}, 200)]:
        request = _request(url + "/v1/chat/completions", good_body(), headers)
        assert _status(request) == status
    assert _status(_request(url + "/health", None, {})) == 200


@pytest.mark.parametrize("raw, message", [
    (b'{"messages": [], "stream": "false"}', "stream: Input should be a valid boolean"),
    (json.dumps(good_body(max_tokens=3.9)).encode(), "max_tokens: Input should be a valid integer"),
    (json.dumps(chat_body("w1 \ud800", "data:,")).encode(), "unpaired UTF-16 surrogate"),
    (b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid request"),
    (json.dumps({**good_body(), "messages": [{"role": "user", "content": [
        *({"type": "image_url", "image_url": {"url": data_url(png_bytes(image(k)))}} for k in range(9)),
        {"type": "text", "text": "w1"}]}]}).encode(), "9 images in one conversation; this server takes at most 8"),
    (json.dumps(chat_body("w1", data_url(png_bytes(image(0, (1, 8192)))))).encode(), "times the other"),
    (json.dumps(chat_body(" ".join(["w5"] * 200), data_url(png_bytes(image(0))))).encode(), "the prompt is"),
])
def test_bad_fields_are_400_not_coerced_nor_500(serve, raw, message) -> None:
    url = serve()
    status, data = post(url + "/v1/chat/completions", None, raw)
    assert status == 400 and message in json.loads(data)["error"]["message"], data[:300]


def test_a_500_says_the_server_failed_without_the_exception(serve, monkeypatch, caplog) -> None:
    url = serve()
    playground = serve.playgrounds[-1]
    monkeypatch.setattr(playground, "prepare", lambda body: 1 / 0)
    status, data = post(url + "/v1/chat/completions", good_body())
    assert status == 500 and "ZeroDivision" not in data.decode()
    assert "the server failed" in json.loads(data)["error"]["message"]


def test_usage_counts_the_image_tokens_the_llm_sees(tmp_path) -> None:
    model = tiny_model(projection="git_mean")
    model.save_pretrained(tmp_path)
    tiny_processor().save_pretrained(tmp_path)
    pooled = Playground(*load_model(tmp_path), model_name="tiny")
    full = Playground(*load_model(save_tiny(tmp_path / "full")), model_name="tiny")
    with running_server(pooled) as url_pooled, running_server(full) as url_full:
        usage = [json.loads(post(u + "/v1/chat/completions", good_body())[1])["usage"]["prompt_tokens"]
                 for u in (url_pooled, url_full)]
    assert usage[1] - usage[0] == 17 - 1  # 16 patches + CLS vs one pooled token


@pytest.mark.parametrize("limits, message", [
    ({"max_waiting": -1}, "max_waiting must be at least 1"),
    ({"max_body_bytes": 0}, "max_body_bytes must be at least 1"),
    ({"max_pixels": -5}, "max_pixels must be at least 1"),
    ({"timeout_s": 0}, "timeout_s must be at least 1"),
    ({"api_key": " "}, "api_key is empty"),
    ({"max_images": 0}, "max_images must be at least 1"),
    ({"autocast": "float16"}, "autocast must be float32 or bfloat16"),
])
def test_server_options_are_checked_at_start(limits, message) -> None:
    with pytest.raises(ValueError, match=message):
        Limits(**limits)


def test_cli_refuses_bad_options_before_loading(capsys) -> None:
    from gitllm.cli import main

    assert main(["serve", "--model", "no-such-model", "--max-waiting", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gitllm serve: error: ") and "max_waiting must be at least 1" in err


def _request(url: str, body: dict | None, headers: dict):
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    return urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers})


def _status(request) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_openapi_docs_describe_the_chat_endpoint(serve) -> None:
    url = serve()
    assert _status(_request(url + "/docs", None, {})) == 200
    import urllib.request

    with urllib.request.urlopen(url + "/openapi.json", timeout=10) as response:
        schema = json.loads(response.read())
    assert "/v1/chat/completions" in schema["paths"] and "ChatCompletionRequest" in schema["components"]["schemas"]
