"""Demo sweeps for `posthoc compare`, trained for real by posthoc.demo's numpy loops: an lr sweep that
matters (with a setting that blows up to NaN), a param that does not (a tiny weight decay), and a
confounded pair (warmup schedule and warmup steps always changed together), each with several seeds.

The same trained runs are logged twice: with their knobs as params (posthoc-sweeps), and the way the
Hugging Face Trainer's MLflow callback logs them (posthoc-sweeps-hf): the model config and every
TrainingArguments field, with per-run identifiers (output_dir, logging_dir, run_name, hub_model_id), a
data_seed and a derived warmup_ratio. A comparison must reach the same conclusions on both."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from posthoc.demo.loops import NAMING, History, TrainConfig, train
from posthoc.demo.record import log_history, open_client

BASE = TrainConfig(dataset="wine", depth=1, hidden=16, lr=0.03, batch_size=16, steps=150, val_every=10)
SEEDS = (0, 1, 2)


def sweep_configs(base: TrainConfig = BASE, seeds: tuple[int, ...] = SEEDS) -> list[tuple[str, TrainConfig]]:
    """(run name, config) for each sweep; the base setting (lr=0.03, no decay, no warmup) is shared."""
    variants = [
        ("lr=0.003", {"lr": 0.003}),  # too small: still far from converged
        ("lr=0.03 (base)", {}),
        ("lr=0.3", {"lr": 0.3}),
        ("lr=30", {"lr": 30.0}),  # too large: overflows to NaN in the first steps
        ("weight_decay=1e-4", {"weight_decay": 1e-4}),  # makes no real difference at this scale
        ("warmup 50 steps", {"schedule": "warmup", "warmup_steps": 50}),  # two params, always together
    ]
    return [
        (f"{label} seed={seed}", dataclasses.replace(base, seed=seed, **changes))
        for label, changes in variants
        for seed in seeds
    ]


def build_sweeps(uri: str, experiment: str = "posthoc-sweeps", base: TrainConfig = BASE,
                 seeds: tuple[int, ...] = SEEDS, progress=lambda name: None,
                 hf_experiment: str | None = "posthoc-sweeps-hf") -> bool:
    """Train the sweeps once and log them into `experiment` (knobs as params) and `hf_experiment` (as the
    HF Trainer logs), each unless it already holds runs; True if it logged any."""
    client = open_client(uri)
    targets = []
    for name, params in ((experiment, None), (hf_experiment, hf_trainer_params)):
        if name is None:
            continue
        existing = client.get_experiment_by_name(name)
        if existing is not None and client.search_runs([existing.experiment_id], max_results=1):
            continue
        targets.append((existing.experiment_id if existing is not None else client.create_experiment(name), params))
    started = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    for index, (run_name, config) in enumerate(sweep_configs(base, seeds) if targets else []):
        history = train(config)
        for experiment_id, params in targets:
            if params is None:
                log_history(client, experiment_id, history, run_name, tags={"posthoc.demo": "sweeps"})
            else:
                log_history(client, experiment_id, renamed(history, "hf"), run_name, tags={"posthoc.demo": "sweeps-hf"},
                            params=params(config, run_name, started + timedelta(minutes=7 * index)))
        progress(run_name)
    return bool(targets)


def renamed(history: History, naming: str) -> History:
    """The same history under another logger's metric names (posthoc.demo.loops.NAMING)."""
    role_of = {key: role for role, key in NAMING[history.config.naming].items()}
    return History(history.config, {NAMING[naming][role_of[key]]: points for key, points in history.metrics.items()})


# TrainingArguments fields a Trainer run logs with their library defaults (transformers 4.4x), and the model
# config it merges in first; the fields that follow the run's settings are filled in by hf_trainer_params.
HF_DEFAULTS = {
    "_name_or_path": "posthoc-demo/mlp-wine", "architectures": "['MLPForSequenceClassification']",
    "model_type": "mlp", "torch_dtype": "float32", "transformers_version": "4.46.3", "problem_type": "None",
    "id2label": "{0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2'}", "label2id": "{'LABEL_0': 0, 'LABEL_1': 1, 'LABEL_2': 2}",
    "use_cache": "True", "return_dict": "True", "output_hidden_states": "False", "output_attentions": "False",
    "overwrite_output_dir": "False", "do_train": "True", "do_eval": "True", "do_predict": "False",
    "eval_strategy": "steps", "prediction_loss_only": "False", "per_device_eval_batch_size": "8",
    "per_gpu_train_batch_size": "None", "per_gpu_eval_batch_size": "None", "gradient_accumulation_steps": "1",
    "eval_accumulation_steps": "None", "eval_delay": "0", "torch_empty_cache_steps": "None",
    "adam_beta1": "0.9", "adam_beta2": "0.999", "adam_epsilon": "1e-08", "max_grad_norm": "1.0",
    "num_train_epochs": "3.0", "lr_scheduler_kwargs": "{}", "log_level": "passive", "log_level_replica": "warning",
    "log_on_each_node": "True", "logging_strategy": "steps", "logging_first_step": "False",
    "logging_nan_inf_filter": "True", "save_strategy": "steps", "save_steps": "500", "save_total_limit": "None",
    "save_safetensors": "True", "save_on_each_node": "False", "save_only_model": "False",
    "restore_callback_states_from_checkpoint": "False", "no_cuda": "False", "use_cpu": "False",
    "use_mps_device": "False", "jit_mode_eval": "False", "use_ipex": "False", "bf16": "False", "fp16": "False",
    "fp16_opt_level": "O1", "half_precision_backend": "auto", "bf16_full_eval": "False", "fp16_full_eval": "False",
    "tf32": "None", "local_rank": "0", "ddp_backend": "None", "tpu_num_cores": "None", "debug": "[]",
    "dataloader_drop_last": "False", "dataloader_num_workers": "0", "dataloader_prefetch_factor": "None",
    "past_index": "-1", "disable_tqdm": "False", "remove_unused_columns": "True", "label_names": "None",
    "load_best_model_at_end": "False", "metric_for_best_model": "None", "greater_is_better": "None",
    "ignore_data_skip": "False", "fsdp": "[]", "fsdp_min_num_params": "0",
    "fsdp_config": "{'min_num_params': 0, 'xla': False, 'xla_fsdp_v2': False, 'xla_fsdp_grad_ckpt': False}",
    "deepspeed": "None", "label_smoothing_factor": "0.0", "optim": "adamw_torch", "optim_args": "None",
    "adafactor": "False", "group_by_length": "False", "length_column_name": "length", "report_to": "['mlflow']",
    "ddp_find_unused_parameters": "None", "ddp_bucket_cap_mb": "None", "ddp_broadcast_buffers": "None",
    "dataloader_pin_memory": "True", "dataloader_persistent_workers": "False", "skip_memory_metrics": "True",
    "use_legacy_prediction_loop": "False", "push_to_hub": "False", "resume_from_checkpoint": "None",
    "hub_strategy": "every_save", "hub_token": "<HUB_TOKEN>", "hub_private_repo": "None",
    "hub_always_push": "False", "gradient_checkpointing": "False", "gradient_checkpointing_kwargs": "None",
    "include_inputs_for_metrics": "False", "eval_do_concat_batches": "True", "fp16_backend": "auto",
    "push_to_hub_model_id": "None", "push_to_hub_organization": "None", "push_to_hub_token": "<PUSH_TO_HUB_TOKEN>",
    "mp_parameters": "", "auto_find_batch_size": "False", "full_determinism": "False", "torchdynamo": "None",
    "ray_scope": "last", "ddp_timeout": "1800", "torch_compile": "False", "torch_compile_backend": "None",
    "torch_compile_mode": "None", "dispatch_batches": "None", "split_batches": "None",
    "include_tokens_per_second": "False", "include_num_input_tokens_seen": "False", "neftune_noise_alpha": "None",
    "optim_target_modules": "None", "batch_eval_metrics": "False", "eval_on_start": "False",
    "use_liger_kernel": "False", "eval_use_gather_object": "False", "average_tokens_across_devices": "False",
}


def hf_trainer_params(config: TrainConfig, run_name: str, started: datetime) -> dict[str, str]:
    """What the HF Trainer's MLflow callback logs for this run: HF_DEFAULTS plus the fields that follow the
    settings, the per-run identifiers (logging_dir defaults to output_dir/runs/<time>_<host>) and the
    derived warmup_ratio (warmup steps over max steps: it moves with warmup_steps)."""
    output_dir = "outputs/" + re.sub(r"[^A-Za-z0-9_.=-]+", "-", run_name).strip("-")
    return {**HF_DEFAULTS,
            "hidden_size": str(config.hidden), "num_hidden_layers": str(config.depth), "hidden_act": config.activation,
            "initializer_range": str(0.02 * config.init_scale),
            "output_dir": output_dir, "logging_dir": f"{output_dir}/runs/{started:%b%d_%H-%M-%S}_gpu-node-3",
            "run_name": run_name, "hub_model_id": "posthoc-demo/" + output_dir.split("/", 1)[1],
            "learning_rate": str(config.lr), "weight_decay": str(config.weight_decay),
            "lr_scheduler_type": "constant_with_warmup" if config.schedule == "warmup" else config.schedule,
            "warmup_steps": str(config.warmup_steps), "warmup_ratio": str(config.warmup_steps / config.steps),
            "max_steps": str(config.steps), "per_device_train_batch_size": str(config.batch_size),
            "logging_steps": str(config.log_every), "eval_steps": str(config.val_every),
            "seed": str(config.seed), "data_seed": str(config.seed)}
