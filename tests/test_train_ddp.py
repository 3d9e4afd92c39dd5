"""2-process DDP on CPU (gloo) through torchrun: both ranks end with identical weights, and the losses and
weights match a single-process run with the same global batch (4 = 2 ranks x 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from gitllm.train import train
from test_train_support import tiny_config

WORKER = """
import json, sys
from pathlib import Path
from safetensors.torch import save_file
import torch.distributed as dist
from gitllm.train import close_distributed, train
from gitllm.train.state import trainable_state
from gitllm.train.engine import GitLLMTrainer

captured = {}
original = GitLLMTrainer.train
def keep(self, *a, **k):
    captured["model"] = self.model
    return original(self, *a, **k)
GitLLMTrainer.train = keep
config = json.loads(Path(sys.argv[1]).read_text())
train(config)
rank = dist.get_rank() if dist.is_initialized() else 0
model = captured["model"]
model = getattr(model, "module", model)
save_file(trainable_state(model, config["groups"]), str(Path(config["output_dir"]) / f"rank{rank}.safetensors"))
close_distributed()
"""


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_ddp_two_processes_match_single(tmp_path: Path) -> None:
    single = tiny_config(tmp_path, batch_size=4, max_steps=3, lora={"dropout": 0.0},
                         output_dir=str(tmp_path / "single"))
    ddp = single | {"batch_size": 2, "output_dir": str(tmp_path / "ddp")}
    train(single)
    (tmp_path / "ddp.json").write_text(json.dumps(ddp))
    (tmp_path / "worker.py").write_text(WORKER)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(tmp_path / "worker.py"), str(tmp_path / "ddp.json")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rank0, rank1 = (load_file(tmp_path / "ddp" / f"rank{r}.safetensors") for r in (0, 1))
    final = load_file(tmp_path / "single" / "final" / "trainable.safetensors")
    assert rank0.keys() == rank1.keys() == final.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
        torch.testing.assert_close(rank0[name], final[name], atol=1e-5, rtol=1e-4, msg=name)
    torch.testing.assert_close(torch.tensor(_losses(tmp_path / "ddp")), torch.tensor(_losses(tmp_path / "single")),
                               atol=1e-4, rtol=1e-4)
