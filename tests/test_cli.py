"""The `gitllm` command line: cheap to start (no torch for --help), Auto classes registered without importing
transformers up front, --version, `python -m gitllm`, and every failure one line without a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import gitllm
from gitllm.auto_register import register_when_transformers_loads
from gitllm.cli import DESCRIPTION, main
from test_play_helpers import image, one_torch_thread, save_tiny  # noqa: F401 (fixture)

SRC = Path(gitllm.__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "matplotlib", "safetensors", "accelerate")


_ENV = {"PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter importing this checkout's gitllm; its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `gitllm ARGV` run in this process."""
    try:
        code = main(list(argv))
    except SystemExit as done:  # argparse: --help, --version, usage errors
        code = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = save_tiny(tmp_path_factory.mktemp("tiny"))
    image(0).save(folder / "0.png")
    (folder / "train.yaml").write_text("optim: {lr: 0.001}\n")
    (folder / "broken.yaml").write_text("optim: {lr: [1\n")
    return folder


def test_parser_and_every_help_import_no_torch() -> None:
    report = json.loads(_python(f"""
import json, sys
from gitllm.cli import build_parser, subcommand_parsers
parser = build_parser()
helps = [parser.format_help()] + [command.format_help() for command in subcommand_parsers(parser)]
print(json.dumps({{"helps": len(helps), "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""))
    assert report["heavy"] == [] and report["helps"] >= 15


def test_auto_classes_load_a_saved_folder_after_import_gitllm(tiny_folder: Path) -> None:
    """`import gitllm` loads no torch, yet transformers imported afterwards knows the GitLLM classes."""
    loaded = _python(f"""
import sys
import gitllm
light = "torch" not in sys.modules and "transformers" not in sys.modules
from transformers import AutoConfig, AutoModelForCausalLM, AutoProcessor
folder = {str(tiny_folder)!r}
names = [type(x).__name__ for x in (AutoConfig.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder),
                                    AutoProcessor.from_pretrained(folder))]
print(light, *names, gitllm.GitLLMForCausalLM.__name__)
""")
    assert loaded.split() == ["True", "GitLLMConfig", "GitLLMForCausalLM", "GitLLMProcessor", "GitLLMForCausalLM"]


def test_registering_with_transformers_already_imported_leaves_no_hook() -> None:
    from transformers import AutoConfig

    register_when_transformers_loads()
    assert not [f for f in sys.meta_path if type(f).__module__ == "gitllm.auto_register"]
    assert type(AutoConfig.for_model("gitllm")).__name__ == "GitLLMConfig"


def test_python_m_gitllm_version_and_a_user_description(capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "gitllm", "--version"], capture_output=True, text=True, env=_ENV,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, f"gitllm {gitllm.__version__}\n")
    code, out, _ = _run("--help", capsys=capsys)
    assert code == 0 and " ".join(DESCRIPTION.split()) in " ".join(out.split()) and "register(" not in out


def test_model_help_names_only_what_the_loader_loads(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("ask", "eval", "serve", "chat", "visual-words"):
        _, out, _ = _run(command, "--help", capsys=capsys)
        assert "adapter folder" not in out and "run folder" in out, command


def _one_line_error(command: str, code: int, out: str, err: str) -> str:
    assert code != 0 and out == "" and "Traceback" not in err
    assert err.startswith(f"gitllm {command}: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(("argv", "expected"), [
    (["ask", "--model", "", "--image", "{folder}/0.png", "hi"], "the model is empty"),
    (["ask", "--model", "{folder}/nope", "--image", "{folder}/0.png", "hi"], "no model folder"),
    (["ask", "--model", "/nonexistent", "--image", "{folder}/missing.png", "hi"], "image_not_found: no such file"),
    (["train", "{folder}/missing.yaml"], "does not exist"),
    (["train", "{folder}/train.yaml", "bogus.key=1"], "unknown config key 'bogus'"),
    (["train", "{folder}/broken.yaml"], "is not valid YAML: expected ',' or ']'"),
    (["train", "{folder}/train.yaml", "optim.lr=[1"], "override 'optim.lr=[1': the value is not valid YAML"),
    (["eval", "--model", "{folder}", "--data", "easyvqa:test", "--limit", "0"], "argument --limit: '0' is not a positive"),
    (["zoo", "prepare", "gpt-17"], "no zoo entry 'gpt-17'"),
])
def test_user_errors_are_one_line(argv: list[str], expected: str, tiny_folder: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(*(a.format(folder=tiny_folder) for a in argv), capsys=capsys)
    command = " ".join(a for a in argv[:2] if not a.startswith("-")) if argv[0] == "zoo" else argv[0]
    assert expected in _one_line_error(command, code, out, err)


def test_a_busy_port_fails_before_the_model_loads(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # The model does not exist: a port error proves the port was checked first.
        code, out, err = _run("serve", "--model", "/nonexistent-model", "--port", str(port), capsys=capsys)
    assert f"127.0.0.1:{port}" in _one_line_error("serve", code, out, err) and "--port" in err


def _raising(error: BaseException):
    def plot_runs(*_: object) -> None:
        raise error
    return plot_runs


def test_a_bug_is_one_line_that_points_to_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("gitllm.train.plot.plot_runs", _raising(RuntimeError("boom\nsecond line")))
    argv = ("plot", str(tmp_path), "--out", str(tmp_path / "x.png"))
    err = _one_line_error("plot", *_run(*argv, capsys=capsys))
    assert err == "gitllm plot: error: unexpected RuntimeError: boom; second line (run with --debug for the traceback)\n"
    for debug_argv in (("--debug", *argv), (*argv, "--debug")):
        with pytest.raises(RuntimeError, match="boom"):
            main(list(debug_argv))
    monkeypatch.setenv("GITLLM_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(list(argv))


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("gitllm.train.plot.plot_runs", _raising(KeyboardInterrupt()))
    assert _run("plot", str(tmp_path), "--out", "x.png", capsys=capsys) == (130, "", "gitllm plot: interrupted\n")


def test_ask_prints_only_the_answer(tiny_folder: Path) -> None:
    """A fresh `gitllm ask`: stdout is the answer, stderr is empty (no progress bar, no warning)."""
    done = subprocess.run(
        [sys.executable, "-m", "gitllm", "ask", "--model", str(tiny_folder), "--image", str(tiny_folder / "0.png"),
         "w1 w2", "--max-new-tokens", "4"],
        capture_output=True, text=True, timeout=300, env={**_ENV, "OMP_NUM_THREADS": "1"})
    assert (done.returncode, done.stderr) == (0, "") and len(done.stdout.splitlines()) == 1 and done.stdout.strip()


def test_lazy_package_names_stay_functions_after_their_submodules_import() -> None:
    """`gitllm.eval.evaluate` and `gitllm.play.visual_words` name a function and the module defining it."""
    import gitllm.eval.evaluate  # noqa: F401  (the import system binds the submodule on its package)
    import gitllm.play.visual_words  # noqa: F401
    from gitllm.eval import evaluate
    from gitllm.play import visual_words

    assert evaluate.__name__ == "evaluate" and visual_words.__name__ == "visual_words"
    assert callable(evaluate) and callable(visual_words) and gitllm.eval.evaluate is evaluate
