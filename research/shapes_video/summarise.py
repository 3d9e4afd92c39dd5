"""Print the order task's results: python research/shapes_video/summarise.py RUN_FOLDER...

Each RUN_FOLDER holds eval-val/metrics.json and eval-test/metrics.json (as written by run.sh / `gitllm eval`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folders: list[str]) -> None:
    print(f"{'run':34s} {'split':5s} {'exact':>6s} {'blind':>6s} {'direction':>9s} {'colour':>6s}")
    for folder in folders:
        for split in ("val", "test"):
            path = Path(folder) / f"eval-{split}" / "metrics.json"
            if not path.is_file():
                continue
            metrics = json.loads(path.read_text())
            by_type = metrics["vqa_by_question_type"]
            print(f"{Path(folder).name:34s} {split:5s} {100 * metrics['vqa_exact_match']:6.1f} "
                  f"{100 * metrics['vqa_blind_exact_match']:6.1f} {100 * by_type['does the']['exact_match']:9.1f} "
                  f"{100 * by_type['what colour']['exact_match']:6.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
