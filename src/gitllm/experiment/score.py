"""The one scoring call of every experiment run: greedy answers on a test set, accuracy beside the image-blind
score (`gitllm.eval.evaluate`), written to RUN_DIR/score.json (answers and gallery in RUN_DIR/eval/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCORE_FILE = "score.json"
TEST_SET = "easyvqa:test"
MAX_NEW_TOKENS = 8  # easy-VQA answers are one word
BATCH_SIZE = 64


def read_score(run_dir: Path, data: str, limit: int | None) -> dict[str, Any] | None:
    """The run's saved score when it was computed on `data` with `limit` (None: every question), else None."""
    path = Path(run_dir) / SCORE_FILE
    if not path.is_file():
        return None
    score = json.loads(path.read_text())
    return score if (score.get("data"), score.get("limit")) == (data, limit) else None


def score_run(run_dir: Path, template: str, data: str = TEST_SET, limit: int | None = None,
              cache_dir: str | None = None) -> dict[str, Any]:
    """Answer `data`'s questions (the first `limit`, None: all) with the trained run (fp32 weights, bf16
    autocast, image features cached), and save {'data', 'limit', 'questions', 'accuracy', 'blind'}: exact
    match with the real images, and with each question's image swapped for another's."""
    from gitllm.eval import evaluate
    from gitllm.play import GenerationSettings, load_model
    from gitllm.play.loader import compute_in

    model, processor = load_model(run_dir, "float32")
    with compute_in("bfloat16"):
        metrics = evaluate(model, processor, data, template, GenerationSettings(max_new_tokens=MAX_NEW_TOKENS),
                           BATCH_SIZE, Path(run_dir) / "eval", limit=limit, loss=False, feature_cache=True,
                           cache_dir=cache_dir)
    score = {"data": data, "limit": limit, "questions": metrics["vqa_count"], "accuracy": metrics["vqa_exact_match"],
             "blind": metrics["vqa_blind_exact_match"]}
    (Path(run_dir) / SCORE_FILE).write_text(json.dumps(score, indent=2) + "\n")
    return score
