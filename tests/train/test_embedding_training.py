"""Textual-inversion training on tiny real models: the loss drops, only the new vectors change, the A1111-format
file loads through sfumato's loader and diffusers' with the same conditioning, SDXL saves a clip_l/clip_g pair,
resume equals an uninterrupted run, the embedded model is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from sfumato.engine.embeddings import LibraryEmbeddings
from sfumato.errors import BadInput, JobCancelled, RecipeError
from sfumato.models.embedding_files import read_embedding_info
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.prompt.encode import PromptComponents, encode_fragments
from sfumato.train.dataset.buckets import Bucket, fit_to_bucket
from sfumato.train.embedding.objective import encode_prompts
from sfumato.train.embedding.plan import EmbeddingPlan, check_family, make_embedding_plan
from sfumato.train.embedding.templates import TEMPLATES, fill, template_lines
from sfumato.train.embedding.trainer import EmbeddingResult, EmbeddingRun, train_embedding
from sfumato.train.embedding.vectors import LearnedVectors, TrainedInversion, initial_vectors
from sfumato.train.lora.run import read_status
from sfumato.train.lora.trainer import Hooks
from tests.train.lora_helpers import CAPTIONS, make_dataset

TOKEN = "zkz"


def embedding_plan(dataset: Path, family: Family = Family.SD1, **changes: Any) -> EmbeddingPlan:
    fields = {"token": TOKEN, "base": "tiny", "family": family.value, "dataset": dataset, "steps": 2, "batch": 2,
              "resolution": 32, "min_image_size": 32, "vectors": 2, "init_word": "red disc",
              "template_lines": TEMPLATES["subject_filewords"], "learning_rate": 5e-2, "seed": 0}
    return make_embedding_plan({**fields, **changes})


def run_in(folder: Path, name: str = TOKEN) -> EmbeddingRun:
    return EmbeddingRun(folder / "runs" / name, folder / "embeddings" / f"{TOKEN}.safetensors", folder / "cache")


def _weights(pipe: Any) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v.detach().clone() for part in ("unet", "vae", "text_encoder", "text_encoder_2")
            if getattr(pipe, part, None) is not None for k, v in getattr(pipe, part).state_dict().items()}


def _listening_pipeline() -> Any:
    """Tiny SD1 whose cross-attention output is scaled up 100x: a random tiny UNet all but ignores its text
    (a textual inversion then moves the loss by 0.1%); a trained model listens, and so does this one."""
    pipe = build_tiny_pipeline(Family.SD1)
    with torch.no_grad():
        for name, module in pipe.unet.named_modules():
            if name.endswith("attn2.to_out.0"):
                module.weight.mul_(100.0)
    return pipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, torch.Tensor], EmbeddingResult, Path]:
    """Tiny SD1 that listens to its text, two vectors from "red disc", 8 steps on two pictures."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("embedding")
    dataset = make_dataset(folder / "dataset")
    pipe = _listening_pipeline()
    before = _weights(pipe)
    result = train_embedding(embedding_plan(dataset, steps=8, checkpoint_every=4), pipe=pipe, run=run_in(folder),
                             cpu=True)
    return pipe, before, result, folder


def _eval_loss(pipe: Any, dataset: Path, vectors: dict[str, torch.Tensor]) -> float:
    """Noise-prediction MSE on the training pictures with the token's vectors, fixed noise and timesteps."""
    components = PromptComponents.from_pipeline(pipe)
    learned = LearnedVectors({"" if key == "emb_params" else key: value for key, value in vectors.items()})
    components = PromptComponents(components.encoders, embeddings=TrainedInversion(TOKEN, learned, 2))
    prompts = [fill(TEMPLATES["subject_filewords"][0], token=TOKEN, filewords=c) for c in CAPTIONS]
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    pictures = [fit_to_bucket(Image.open(dataset / f"{i}.png").convert("RGB"), Bucket(32, 32)) for i in range(2)]
    x = torch.stack([torch.from_numpy(np.asarray(p, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
                     for p in pictures])
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        latents = (pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor).repeat(32, 1, 1, 1)
        context = encode_prompts(components, prompts)["context"].repeat(32, 1, 1)
        noise = torch.randn(latents.shape, generator=generator)
        t = torch.randint(0, 1000, (len(latents),), generator=generator)
        predicted = pipe.unet(scheduler.add_noise(latents, noise, t), t, context).sample
    return float(torch.nn.functional.mse_loss(predicted, noise))


def test_a_few_steps_lower_the_loss(trained: Any) -> None:
    _, _, result, folder = trained
    pipe = _listening_pipeline()
    start = initial_vectors(PromptComponents.from_pipeline(pipe), "red disc", 2)
    before = _eval_loss(pipe, folder / "dataset", start)
    after = _eval_loss(pipe, folder / "dataset", load_file(str(result.output)))
    assert after < 0.985 * before, (before, after)  # measured: 2.3-2.4% lower over seeds 0-2


def test_only_the_new_vectors_change(trained: Any) -> None:
    pipe, before, result, _ = trained
    after = _weights(pipe)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    start = initial_vectors(PromptComponents.from_pipeline(pipe), "red disc", 2)[""]
    learned = load_file(str(result.output))["emb_params"]
    assert learned.shape == (2, 32) and not torch.equal(learned, start)


def test_file_is_a1111_format_with_the_run_in_its_metadata(trained: Any) -> None:
    _, _, result, _ = trained
    with safe_open(str(result.output), framework="pt") as file:
        assert list(file.keys()) == ["emb_params"]
        metadata = file.metadata()
    assert (metadata["name"], metadata["step"], metadata["vectors"], metadata["init_word"]) == (TOKEN, "8", "2",
                                                                                                 "red disc")
    assert json.loads(metadata["sfumato_training_plan"])["kind"] == "embedding"
    info = read_embedding_info(result.output)
    assert (info.name, info.vectors, dict(info.widths), info.format) == (TOKEN, 2, {"": 32}, "A1111")
    assert info.fits(Family.SFUMATO_TINY)


def test_loaded_file_conditions_as_the_vectors_put_in_by_hand(trained: Any) -> None:
    """sfumato's loader and encoder vs diffusers' load_textual_inversion (new token rows in the CLIP table)."""
    _, _, result, _ = trained
    info = read_embedding_info(result.output)
    library = LibraryEmbeddings({TOKEN: info}, {}, lambda path: "0" * 64)
    ours = PromptComponents.from_pipeline(build_tiny_pipeline(Family.SD1), embeddings=library)
    with torch.no_grad():
        conditioning = encode_fragments(ours, ((f"a photo of {TOKEN}", 1.0),))
    assert conditioning.embeddings == {TOKEN}
    by_hand = build_tiny_pipeline(Family.SD1)
    by_hand.load_textual_inversion(str(result.output), token=TOKEN)  # rows zkz, zkz_1 appended to the table
    with torch.no_grad():
        expected = by_hand.encode_prompt(f"a photo of {TOKEN}", "cpu", 1, False)[0]
    torch.testing.assert_close(conditioning.embeds, expected, rtol=0, atol=1e-5)
    with torch.no_grad():
        plain = encode_fragments(PromptComponents.from_pipeline(build_tiny_pipeline(Family.SD1)),
                                 ((f"a photo of {TOKEN}", 1.0),))
    assert not torch.allclose(plain.embeds, expected)  # without the file the word means something else


def test_sdxl_saves_a_clip_l_clip_g_pair_of_the_encoders_widths(tmp_path: Path) -> None:
    pipe = build_tiny_pipeline(Family.SDXL)
    before = _weights(pipe)
    result = train_embedding(embedding_plan(make_dataset(tmp_path / "dataset"), Family.SDXL), pipe=pipe,
                             run=run_in(tmp_path), cpu=True)
    tensors = load_file(str(result.output))
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"clip_l": (2, 32), "clip_g": (2, 64)}
    info = read_embedding_info(result.output)
    assert (info.format, dict(info.widths)) == ("SDXL", {"clip_l": 32, "clip_g": 64})
    after = _weights(pipe)
    assert all(torch.equal(after[k], before[k]) for k in before)
    start = initial_vectors(PromptComponents.from_pipeline(pipe), "red disc", 2)
    assert not torch.equal(tensors["clip_g"], start["clip_g"]) and not torch.equal(tensors["clip_l"], start["clip_l"])
    # sfumato's loader and encoder give what diffusers gives with the pair loaded into both tokenizers and encoders.
    library = LibraryEmbeddings({TOKEN: info}, {}, lambda path: "0" * 64)
    ours = PromptComponents.from_pipeline(build_tiny_pipeline(Family.SDXL), embeddings=library)
    by_hand = build_tiny_pipeline(Family.SDXL)
    by_hand.load_textual_inversion(tensors["clip_l"], token=TOKEN, text_encoder=by_hand.text_encoder,
                                   tokenizer=by_hand.tokenizer)
    by_hand.load_textual_inversion(tensors["clip_g"], token=TOKEN, text_encoder=by_hand.text_encoder_2,
                                   tokenizer=by_hand.tokenizer_2)
    with torch.no_grad():
        conditioning = encode_fragments(ours, ((f"a photo of {TOKEN}", 1.0),))
        embeds, _, pooled, _ = by_hand.encode_prompt(f"a photo of {TOKEN}", device="cpu", num_images_per_prompt=1,
                                                     do_classifier_free_guidance=False)
    torch.testing.assert_close(conditioning.embeds, embeds, rtol=0, atol=1e-5)
    torch.testing.assert_close(conditioning.pooled, pooled, rtol=0, atol=1e-5)


def test_resume_after_a_stop_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "dataset")
    plan = embedding_plan(dataset, steps=4, batch=1, checkpoint_every=3, shuffle_tags=True, caption_dropout=0.3)
    straight = train_embedding(plan, pipe=build_tiny_pipeline(Family.SD1), run=run_in(tmp_path / "a"), cpu=True)
    interrupted = run_in(tmp_path / "b")
    steps: list[int] = []
    hooks = Hooks(on_step=lambda report: steps.append(report.step), should_stop=lambda: steps[-1:] == [2])
    with pytest.raises(JobCancelled, match="stopped at step 2"):
        train_embedding(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, cpu=True, hooks=hooks)
    assert read_status(interrupted.folder).state == "stopped" and not interrupted.output.exists()
    with pytest.raises(BadInput, match="already holds a training run"):
        train_embedding(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, cpu=True)
    resumed = train_embedding(plan, pipe=build_tiny_pipeline(Family.SD1), run=interrupted, resume=True, cpu=True)
    assert resumed.step == 4
    assert torch.equal(load_file(str(straight.output))["emb_params"], load_file(str(resumed.output))["emb_params"])
    losses = [[json.loads(line)["loss"] for line in (run.folder / "log.jsonl").read_text().splitlines()]
              for run in (run_in(tmp_path / "a"), interrupted)]
    assert losses[0] == losses[1] and len(losses[0]) == 4
    with pytest.raises(BadInput, match="vectors must stay 2"):
        train_embedding(embedding_plan(dataset, steps=6, batch=1, checkpoint_every=3, shuffle_tags=True,
                                       caption_dropout=0.3, vectors=3),
                        pipe=build_tiny_pipeline(Family.SD1), run=interrupted, resume=True, cpu=True)


def test_the_embedded_model_and_templates_without_the_token_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="'sfumato-emoji' is a sfumato-emoji model; textual inversion needs a CLIP"):
        check_family(Family.SFUMATO_EMOJI, "sfumato-emoji")
    with pytest.raises(BadInput, match=r"template_lines: every template line needs \[name\].*'a photo'"):
        embedding_plan(tmp_path, template_lines=("a photo",))


def test_bf16_trains_fp32_vectors(tmp_path: Path) -> None:
    result = train_embedding(embedding_plan(make_dataset(tmp_path / "dataset"), steps=1, mixed_precision="bf16",
                                            max_grad_norm=1.0), pipe=build_tiny_pipeline(Family.SD1),
                             run=run_in(tmp_path), cpu=True)
    vectors = load_file(str(result.output))["emb_params"]
    assert vectors.dtype == torch.float32 and bool(torch.isfinite(vectors).all())
    assert np.isfinite(json.loads((run_in(tmp_path).folder / "log.jsonl").read_text())["loss"])


def test_templates_fill_name_and_filewords_and_read_a1111_files(tmp_path: Path) -> None:
    assert fill("a photo of a [name], [filewords]", token=TOKEN, filewords="") == "a photo of a zkz"
    assert fill("[filewords], art by [name]", token=TOKEN, filewords="a cat, red") == "a cat, red, art by zkz"
    template = tmp_path / "my_style.txt"
    template.write_text("a painting, [filewords], by [name]\n\n[name] style\n")
    assert template_lines(str(template)) == ("a painting, [filewords], by [name]", "[name] style")
    assert template_lines("style") == TEMPLATES["style"]
