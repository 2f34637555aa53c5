"""LoRA training on tiny real models: the loss drops, the kohya-layout file loads in diffusers with the trained
model's output, resume equals an uninterrupted run (also after a real SIGINT), the cache is reused, SDXL trains
both text encoders, the embedded model trains its UNet."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from sfumato.cli.train_lora import stop_on_sigint
from sfumato.errors import BadInput, JobCancelled
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.train.lora.plan import make_plan
from sfumato.train.lora.run import read_status
from sfumato.train.lora.trainer import Hooks, LoraResult, train_lora
from tests.train.lora_helpers import eval_loss, lora_plan, make_dataset, run_in

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, LoraResult, Path]:
    """Tiny SD1 overfit on two pictures: high learning rate, fixed seed, Min-SNR off."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("lora")
    dataset = make_dataset(folder / "dataset")
    pipe = build_tiny_pipeline(Family.SD1)
    plan = lora_plan(dataset, steps=8, rank=8, alpha=8.0, learning_rate=5e-2, min_snr_gamma=None,
                     checkpoint_every=4)
    return pipe, train_lora(plan, pipe=pipe, run=run_in(folder), cpu=True), folder


def test_a_few_steps_lower_the_loss(trained: tuple[Any, LoraResult, Path]) -> None:
    _, result, folder = trained
    pipe = build_tiny_pipeline(Family.SD1)
    before = eval_loss(pipe, folder / "dataset")
    pipe.load_lora_weights(str(result.output))
    after = eval_loss(pipe, folder / "dataset")
    assert after < 0.97 * before, (before, after)  # measured: 7-9% lower over seeds 0-2


def test_kohya_file_loads_in_diffusers_with_the_trained_output(trained: tuple[Any, LoraResult, Path]) -> None:
    trained_pipe, result, folder = trained
    tensors = load_file(str(result.output))
    modules = {key.rsplit(".", 2)[0] if key.endswith(".weight") else key.rsplit(".", 1)[0] for key in tensors}
    assert all(m.startswith("lora_unet_") for m in modules) and len(modules) == 32  # 4 transformer blocks (down, mid, 2 up) x 2 attns x 4
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q" in modules
    for module in modules:
        assert tensors[f"{module}.lora_down.weight"].shape[0] == 8 and tensors[f"{module}.alpha"].item() == 8.0
        assert tensors[f"{module}.lora_up.weight"].shape[1] == 8
    pipe = build_tiny_pipeline(Family.SD1)
    pipe.load_lora_weights(str(result.output))
    generator = torch.Generator().manual_seed(5)
    sample, context = torch.randn(2, 4, 16, 16, generator=generator), torch.randn(2, 77, 32, generator=generator)
    t = torch.tensor([10, 700])
    with torch.no_grad():
        expected = trained_pipe.unet.eval()(sample, t, context).sample
        loaded = pipe.unet(sample, t, context).sample
        base = build_tiny_pipeline(Family.SD1).unet(sample, t, context).sample
    torch.testing.assert_close(loaded, expected, atol=1e-5, rtol=1e-5)
    assert (expected - base).abs().max() > 1e-3  # the LoRA does change the output
    _check_metadata(result.output, folder)


def _check_metadata(path: Path, folder: Path) -> None:
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata()
    assert metadata["ss_network_module"] == "networks.lora"
    assert (metadata["ss_network_dim"], metadata["ss_network_alpha"]) == ("8", "8.0")
    assert metadata["ss_base_model_version"] == "sd_v1" and metadata["ss_max_train_steps"] == "8"
    assert metadata["ss_resolution"] == "(32, 32)" and metadata["ss_seed"] == "0"
    assert metadata["ss_learning_rate"] == "0.05"
    assert json.loads(metadata["ss_tag_frequency"]) == {"dataset": {"zkz": 2, "a red disc": 1, "a blue square": 1}}
    assert json.loads(metadata["ss_dataset_dirs"]) == {"dataset": {"n_repeats": 1, "img_count": 2}}
    assert float(metadata["ss_training_started_at"]) <= float(metadata["ss_training_finished_at"])
    data = path.read_bytes()
    header = int.from_bytes(data[:8], "little")
    assert metadata["sshs_model_hash"] == hashlib.sha256(data[8 + header:]).hexdigest()  # kohya's tensor-bytes hash
    saved_plan = json.loads((folder / "runs" / "t" / "plan.json").read_text())
    assert json.loads(metadata["sfumato_training_plan"]) == saved_plan and saved_plan["steps"] == 8
    assert read_status(folder / "runs" / "t").state == "finished"
    log = [json.loads(line) for line in (folder / "runs" / "t" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == list(range(1, 9))
    assert (folder / "runs" / "t" / "loss.png").is_file()


def test_second_run_reuses_cached_latents_and_text(trained: tuple[Any, LoraResult, Path]) -> None:
    _, first, folder = trained
    assert first.cache.misses == 4  # 2 latents + 2 captions
    again = train_lora(lora_plan(folder / "dataset", name="again", steps=1), pipe=build_tiny_pipeline(Family.SD1),
                       run=run_in(folder, "again"), cpu=True)
    assert again.cache.misses == 0 and again.cache.hits >= 4


def _stop_at(step: int, stop: Callable[[], None]) -> Callable[[Any], None]:
    def on_step(report: Any) -> None:
        if report.step == step:
            stop()
    return on_step


def test_resume_after_ctrl_c_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "dataset")
    plan = lora_plan(dataset, steps=4, checkpoint_every=3, shuffle_tags=True, caption_dropout=0.3)
    straight = train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=run_in(tmp_path, "straight"), cpu=True)
    interrupted = run_in(tmp_path, "t")
    before = signal.getsignal(signal.SIGINT)  # Python's default; SIG_IGN where a shell started us in the background
    with stop_on_sigint() as stop, pytest.raises(JobCancelled, match="stopped at step 2"):
        hooks = Hooks(on_step=_stop_at(2, lambda: os.kill(os.getpid(), signal.SIGINT)), should_stop=stop.is_set)
        train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, cpu=True, hooks=hooks)
    assert signal.getsignal(signal.SIGINT) is before
    assert read_status(interrupted.folder).state == "stopped" and read_status(interrupted.folder).step == 2
    with pytest.raises(BadInput, match="already holds a training run"):
        train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, cpu=True)
    resumed = train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, resume=True, cpu=True)
    assert resumed.step == 4
    a, b = load_file(str(straight.output)), load_file(str(resumed.output))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[json.loads(line)["loss"] for line in (run.folder / "log.jsonl").read_text().splitlines()]
              for run in (run_in(tmp_path, "straight"), interrupted)]
    assert losses[0] == losses[1]
    with pytest.raises(BadInput, match="rank must stay 4"):
        train_lora(make_plan({**plan.to_json(), "steps": 6, "rank": 8}), pipe=build_tiny_pipeline(Family.SD1), run=interrupted,
                   resume=True, cpu=True)


def test_sdxl_trains_a_step_with_both_text_encoders(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "dataset")
    plan = lora_plan(dataset, Family.SDXL, steps=1, train_text_encoder=True)
    result = train_lora(plan, pipe=build_tiny_pipeline(Family.SDXL), run=run_in(tmp_path), cpu=True)
    tensors = load_file(str(result.output))
    prefixes = {key.split("_")[1] for key in tensors}
    assert prefixes == {"unet", "te1", "te2"}
    assert "lora_te2_text_model_encoder_layers_1_self_attn_out_proj.lora_up.weight" in tensors
    for prefix in ("lora_te1_", "lora_te2_", "lora_unet_"):  # lora_up starts at zero: one step moved it
        assert any(v.abs().max() > 0 for k, v in tensors.items() if k.startswith(prefix) and "lora_up" in k)
    with safe_open(str(result.output), framework="pt") as file:
        assert file.metadata()["ss_base_model_version"] == "sdxl_base_v1-0"


def test_sdxl_file_uses_sgm_names_and_loads_in_diffusers_with_the_trained_output(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "dataset")
    trained = build_tiny_pipeline(Family.SDXL)
    result = train_lora(lora_plan(dataset, Family.SDXL, steps=2), pipe=trained, run=run_in(tmp_path), cpu=True)
    modules = {key.split(".")[0] for key in load_file(str(result.output))}
    # Tiny SDXL: attention in down level 1 (1 layer + downsampler per level), the mid block, and up level 0.
    assert {m.split("_transformer_blocks")[0] for m in modules} == {
        "lora_unet_input_blocks_3_1", "lora_unet_middle_block_1", "lora_unet_output_blocks_0_1",
        "lora_unet_output_blocks_1_1"}
    pipe = build_tiny_pipeline(Family.SDXL)
    pipe.load_lora_weights(str(result.output))
    generator = torch.Generator().manual_seed(5)
    sample, context = torch.randn(1, 4, 16, 16, generator=generator), torch.randn(1, 77, 96, generator=generator)
    added = {"text_embeds": torch.randn(1, 32, generator=generator), "time_ids": torch.tensor([[32.0] * 6])}
    t = torch.tensor([300])
    with torch.no_grad():
        expected = trained.unet.eval()(sample, t, context, added_cond_kwargs=added).sample
        loaded = pipe.unet(sample, t, context, added_cond_kwargs=added).sample
        base = build_tiny_pipeline(Family.SDXL).unet(sample, t, context, added_cond_kwargs=added).sample
    torch.testing.assert_close(loaded, expected, atol=1e-5, rtol=1e-5)
    assert (expected - base).abs().max() > 1e-4


def test_embedded_model_trains_a_unet_only_step(tmp_path: Path) -> None:
    from sfumato.models.minilm import load_minilm
    from sfumato.train.base.config import PRESETS, build_unet, build_vae
    from sfumato.train.base.package import build_pipeline

    config = PRESETS["tiny"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet, vae = build_unet(config), build_vae(config)
    encoder, tokenizer = load_minilm(max_tokens=config.max_tokens)
    pipe = build_pipeline(unet=unet, vae=vae, encoder=encoder, tokenizer=tokenizer)
    dataset = make_dataset(tmp_path / "dataset")
    with pytest.raises(BadInput, match="train_text_encoder"):
        lora_plan(dataset, Family.SFUMATO_EMOJI, train_text_encoder=True)
    result = train_lora(lora_plan(dataset, Family.SFUMATO_EMOJI, steps=1), pipe=pipe, run=run_in(tmp_path), cpu=True)
    tensors = load_file(str(result.output))
    assert tensors and all(key.startswith("lora_unet_") for key in tensors)
    assert math_isfinite(json.loads((tmp_path / "runs" / "t" / "log.jsonl").read_text())["loss"])


def math_isfinite(value: float) -> bool:
    return bool(np.isfinite(value))


def test_precision_accumulation_checkpointing_and_schedules_train(tmp_path: Path) -> None:
    """bf16 autocast, 2 accumulated micro-batches, gradient checkpointing (UNet and text encoder), noise offset and
    a cosine schedule with warm-up, in one process after fp32 runs (accelerate's process state is reset)."""
    dataset = make_dataset(tmp_path / "dataset")
    plan = lora_plan(dataset, steps=2, mixed_precision="bf16", gradient_accumulation_steps=2,
                     gradient_checkpointing=True, train_text_encoder=True, noise_offset=0.05, lr_scheduler="cosine",
                     lr_warmup_steps=1)
    train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=run_in(tmp_path), cpu=True)
    rows = [json.loads(line) for line in (tmp_path / "runs" / "t" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(math_isfinite(r["loss"]) for r in rows)
    assert rows[0]["lr"] == pytest.approx(1e-2) and rows[1]["lr"] == pytest.approx(0.0)  # warm-up, then cosine to 0
    with safe_open(str(tmp_path / "Lora" / "t.safetensors"), framework="pt") as file:
        assert {key.split("_")[1] for key in file.keys()} == {"unet", "te"}
        assert file.metadata()["ss_mixed_precision"] == "bf16"
