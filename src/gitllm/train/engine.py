"""`train(config)`: the HF Trainer over a GIT-LLM, so `accelerate launch` / `torchrun` give DDP, FSDP and
DeepSpeed without code changes. Checkpoints hold the trainable weights only (plus optimizer, scheduler, RNG
and trainer state, as the Trainer saves them), so resuming is exact and checkpoints stay small."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from gitllm.data import Collator, EncodedDataset, EncodedStream, Encoder, RowPolicy
from gitllm.infer.features import FeatureCache, ImageKeys, encoder_identity
from gitllm.model.finite import NonFiniteError
from gitllm.train.accuracy import AccuracyProbe, probe_questions
from gitllm.train.build import build_model
from gitllm.train.checkpoints import newest_complete
from gitllm.train.config import CONFIG_FILE_NAME, TrainConfig, dump_config, load_config
from gitllm.train.data import FeatureDataset, cached_dataset, reader_options, split_samples
from gitllm.train.groups import GROUPS, apply_groups, module_report, parameter_table, trainable_by_group, unwrap
from gitllm.train.objectives import VisualWordObjective
from gitllm.train.state import check_fits, load_trainable, save_trainable

METRICS_FILE = "metrics.jsonl"
FINAL_DIR = "final"


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    train_loss: float
    eval_loss: float | None
    seconds: float
    trainable: dict[str, int]


class GitLLMTrainer(Trainer):
    """The HF Trainer with per-group learning rates, trainable-only checkpoints, the visual-word objective
    (`config.visual_words`: added to the loss that trains; the logged `loss` stays the language-model loss, and
    the objective is logged as `visual_word_loss`) and, with a `probe`, answer accuracy (real and image-blind)
    logged after every evaluation."""

    def __init__(self, *args: Any, run: TrainConfig, visual_words: VisualWordObjective | None = None,
                 probe: AccuracyProbe | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run, self.probe = run, probe
        # Our forward returns the mean loss per micro-batch; the Trainer then scales by accumulation steps.
        self.model_accepts_loss_kwargs = False
        self.visual_words = visual_words
        self._lm_share = 1.0
        self._word_losses: list[float] = []

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any) -> Any:
        """The Trainer's loss, with the LM head run only where labels are (`GitLLMForCausalLM.forward`), plus
        the visual-word loss on training steps."""
        result = super().compute_loss(model, {**inputs, "loss_only": True}, return_outputs, **kwargs)
        words = (None if self.visual_words is None
                 else self.visual_words.loss(inputs["labels"], inputs.get("frame_mask")))
        if words is None:
            self._lm_share = 1.0
            return result
        loss, outputs = result if return_outputs else (result, None)
        total = loss + self.run.visual_words.weight * words
        self._lm_share = float(loss.detach() / total.detach())
        self._word_losses.append(float(words.detach()))
        return (total, outputs) if return_outputs else total

    def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        """The Trainer's step (backward on the whole loss); returns the language-model part, which the Trainer
        logs as `loss`. A NaN or infinite loss stops the run (NonFiniteError) before anything is saved."""
        loss = super().training_step(model, inputs, *args, **kwargs)
        if not bool(torch.isfinite(loss)):
            raise NonFiniteError(
                f"training loss is {float(loss)} at step {self.state.global_step + 1}: the run stops here, with "
                f"nothing non-finite saved (checkpoints so far are kept); lower optim.lr (now {self.args.learning_rate})"
                ", use fp32 or bf16 rather than fp16, and check the data (`gitllm data check`)"
            )
        return loss * self._lm_share

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._word_losses:
            logs["visual_word_loss"] = sum(self._word_losses) / len(self._word_losses)
            self._word_losses.clear()
        super().log(logs, *args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """The Trainer's evaluation (eval_loss), then the probe's accuracies, logged at the same step."""
        metrics = super().evaluate(*args, **kwargs)
        if self.probe is not None:
            with self.accelerator.autocast():
                accuracy = self.probe(self.model)
            self.log(accuracy)
            metrics |= accuracy
        return metrics

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            by_group = trainable_by_group(self.model, self.run.groups)
            lrs = self.run.optim.group_lr
            temporal = self.run.optim.temporal_lr  # None: the temporal embeddings stay in proj's group

            def own_lr(name: str) -> bool:
                return temporal is not None and "img_temporal_embedding" in name

            param_groups = []
            for group, pairs in by_group.items():
                for label, lr, params in (
                    (group, lrs.get(group, self.args.learning_rate), [p for n, p in pairs if not own_lr(n)]),
                    ("temporal", temporal, [p for n, p in pairs if own_lr(n)]),
                ):
                    if params:
                        param_groups.append({"params": params, "lr": lr, "name": label})
            self.optimizer = torch.optim.AdamW(param_groups, weight_decay=self.args.weight_decay)
        return self.optimizer

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if self.args.should_save:
            save_trainable(self.accelerator.unwrap_model(self.model), self.run.groups, Path(output_dir or self.args.output_dir))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        load_trainable(self.accelerator.unwrap_model(model or self.model), Path(resume_from_checkpoint))


class MetricsCallback(TrainerCallback):
    """Appends every log (train loss, eval loss, lr, ...) to OUTPUT_DIR/metrics.jsonl, one JSON per line;
    on resume, drops lines past the checkpoint so the file has each step once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.path.exists():
            lines = [line for line in self.path.read_text().splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= state.global_step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            record = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
            with self.path.open("a") as out:
                out.write(json.dumps(record) + "\n")


class RateProgress(ProgressCallback):
    """The Trainer's progress bar, with the last loss and samples/s as its postfix."""

    def __init__(self, global_batch: int) -> None:
        super().__init__()
        self.global_batch = global_batch
        self.start: tuple[float, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        self.start = (time.perf_counter(), state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if self.training_bar is not None and logs and "loss" in logs and self.start is not None:
            seconds, step0 = time.perf_counter() - self.start[0], self.start[1]
            rate = (state.global_step - step0) * self.global_batch / max(seconds, 1e-9)
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", samples_s=f"{rate:.2f}")
        elif self.training_bar is None:
            super().on_log(args, state, control, logs=logs, **kwargs)


def training_arguments(config: TrainConfig, world_size: int) -> TrainingArguments:
    """TrainingArguments for `config` (CPU: gloo DDP)."""
    cpu = not torch.cuda.is_available()
    return TrainingArguments(
        output_dir=config.output_dir,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.optim.lr,
        weight_decay=config.optim.weight_decay,
        lr_scheduler_type=config.optim.scheduler,
        warmup_steps=config.optim.warmup_ratio,
        max_grad_norm=config.optim.max_grad_norm,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if config.eval_steps > 0 else "no",
        eval_on_start=config.eval_steps > 0,  # the curves start from the untrained loss
        eval_steps=config.eval_steps or None,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        use_cpu=cpu,
        ddp_backend="gloo" if cpu and world_size > 1 else None,
        ddp_find_unused_parameters=False,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        report_to=config.report_to or "none",
        dataloader_num_workers=config.num_workers,
        remove_unused_columns=False,
        label_names=["labels"],
        prediction_loss_only=True,
        disable_tqdm=False,
    )


def _datasets(config: TrainConfig, model: Any, processor: Any, args: TrainingArguments) -> tuple[Any, Any, Any]:
    """(train, val, collator): cached vision features when the tower is frozen (and the cache is on)."""
    spec = config.data
    encoder = Encoder(processor.tokenizer, processor.image_processor, spec.template, spec.label_mode, spec.max_length,
                      spec.max_frames or model.config.num_image_with_embedding)
    train_samples, val_samples = split_samples(spec, config.seed, encoder)
    collator = Collator.for_tokenizer(processor.tokenizer)
    if spec.streaming:
        policy = RowPolicy(skip_bad=spec.skip_bad)
        stream = EncodedStream(spec.train[0], encoder, spec.format, policy, **reader_options(spec, spec.split))
        return stream, EncodedDataset(val_samples, encoder), collator
    vision_trained = any(GROUPS[g].tower == "vision_model" for g in config.groups)
    if config.feature_cache == "off" or vision_trained:
        return EncodedDataset(train_samples, encoder), EncodedDataset(val_samples, encoder), collator
    cache = FeatureCache(encoder_identity(model, processor.image_processor), config.cache_dir)
    keys = ImageKeys(encoder.max_frames)
    # The main process fills the cache; the others then read what it wrote.
    with args.main_process_first(desc="feature cache"):
        cache.refresh()
        train = cached_dataset(train_samples, encoder, cache, model, keys, args.per_device_eval_batch_size)
        val = cached_dataset(val_samples, encoder, cache, model, keys, args.per_device_eval_batch_size)
    return train, val, collator


def _probe(config: TrainConfig, processor: Any, val_set: Any, batch_size: int) -> AccuracyProbe | None:
    """The accuracy probe on the first `eval_accuracy` validation questions (None when 0), reading vision
    features from the feature cache when the validation set does."""
    if config.eval_accuracy == 0:
        return None
    return AccuracyProbe(processor, probe_questions(val_set.samples, config.eval_accuracy), config.data.template,
                         batch_size, config.eval_blind, isinstance(val_set, FeatureDataset), config.cache_dir)


def resume_checkpoint(config: TrainConfig, report: bool = True) -> str | None:
    """The checkpoint to resume from: the newest complete one under output_dir (auto/always), or None.
    Incomplete ones (a kill while saving) are skipped; with `report`, what is skipped and chosen is printed."""
    if config.resume == "never":
        return None
    found, skipped = newest_complete(Path(config.output_dir))
    if found is None and config.resume == "always":
        reason = f" ({'; '.join(skipped)})" if skipped else ""
        raise ValueError(f"config key 'resume': 'always' but no complete checkpoint in {config.output_dir!r}{reason}")
    if report and skipped:
        choice = f"resuming from {found.name}" if found is not None else "no complete checkpoint: starting from step 0"
        print(f"gitllm train: skipping incomplete {'; '.join(skipped)}; {choice}", file=sys.stderr, flush=True)
    return None if found is None else str(found)


def train(config: TrainConfig | dict | str | Path, callbacks: list[TrainerCallback] = ()) -> TrainResult:
    """Run a training config (file, shipped recipe name, mapping or TrainConfig) end to end; returns the final losses.

    Writes OUTPUT_DIR/train_config.yaml, metrics.jsonl, tensorboard/, checkpoint-N/ (every save_steps),
    final/ (trainable.safetensors, adapter/ in PEFT format when LoRA trains, the processor) and, with
    `merge`, merged/ (a plain GitLLM folder)."""
    config = load_config(config)
    started = time.perf_counter()
    args = training_arguments(config, world_size=int(os.environ.get("WORLD_SIZE", "1")))
    out = Path(config.output_dir)
    model, processor = build_model(config)
    train_set, val_set, collator = _datasets(config, model, processor, args)
    model = apply_groups(model, config.groups, config.lora, config.vit_lora)
    checkpoint = resume_checkpoint(config, report=args.process_index == 0)
    if checkpoint is not None:
        check_fits(model, config.groups, Path(checkpoint))  # before the run's config file is rewritten
    if args.should_save:
        out.mkdir(parents=True, exist_ok=True)
        dump_config(config, out / CONFIG_FILE_NAME)
    if args.process_index == 0:
        trained, frozen = module_report(model)
        size = len(train_set) if hasattr(train_set, "__len__") else "streamed"
        print(f"gitllm train: {size} train / {len(val_set)} val samples -> {out}\n"
              f"{parameter_table(model, config.groups)}\ntrainable modules: {', '.join(trained)}\n"
              f"frozen modules: {', '.join(frozen)}", flush=True)
    spec = config.visual_words
    words = (VisualWordObjective(unwrap(model), processor.tokenizer, spec.temperature, spec.skip_answers)
             if spec.weight > 0 else None)
    trainer = GitLLMTrainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set, data_collator=collator,
        callbacks=[MetricsCallback(out / METRICS_FILE), *callbacks], run=config, visual_words=words,
        probe=_probe(config, processor, val_set, args.per_device_eval_batch_size),
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RateProgress(config.batch_size * config.grad_accum * args.world_size))
    output = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = _final_eval(trainer)
    if args.should_save:
        save_run(trainer.model, processor, config, out / FINAL_DIR)
    if config.merge and args.should_save:
        from gitllm.train.merge import merge_run

        merge_run(out, out / "merged", overwrite=True)
    by_group = trainable_by_group(trainer.model, config.groups)
    return TrainResult(out, output.global_step, output.training_loss, metrics.get("eval_loss"),
                       time.perf_counter() - started, {g: sum(p.numel() for _, p in v) for g, v in by_group.items()})


def close_distributed() -> None:
    """Leave the process group `train` joined under torchrun, once the caller is done with it.

    Left to interpreter exit, gloo's threads can abort a rank ("terminate called without an active
    exception") after a successful run, and torchrun then reports the whole job failed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _final_eval(trainer: Trainer) -> dict[str, float]:
    """The evaluation at the last step: the one the schedule already ran there, else a new one."""
    last = [log for log in trainer.state.log_history if "eval_loss" in log and log.get("step") == trainer.state.global_step]
    return last[-1] if last else trainer.evaluate()


def save_run(model: Any, processor: Any, config: TrainConfig, folder: Path) -> None:
    """trainable.safetensors (every trained weight), adapter/ (PEFT format) and the processor."""
    save_trainable(model, config.groups, folder)
    if model is not unwrap(model):
        model.save_pretrained(folder / "adapter")
    processor.save_pretrained(folder)
