"""Variation seeds with an init image (img2img and inpainting) and img2img progress, on tiny real models."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from sfumato.engine.progress import ProgressEvent
from sfumato.jobs.records import JobProgress
from sfumato.jobs.worker import _ProgressTracker
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_inpainting_pipeline, build_tiny_pipeline
from sfumato.settings import Settings
from sfumato.studio import Studio

SIZE = 32


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("vary-models")
    checkpoints = root / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    for family in (Family.SD1, Family.SDXL):
        build_tiny_pipeline(family, seed=1).save_pretrained(checkpoints / f"tiny-{family.value}")
    build_tiny_inpainting_pipeline(Family.SD1, seed=1).save_pretrained(checkpoints / "tiny-sd1-inpainting")
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home"), model_dirs=(root,)))
    yield opened
    opened.close()


def _noise_picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), "RGB")


def _mask() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (8, 8, 24, 24))
    return mask


def _fields(studio: Studio, model: str, *, masked: bool = False) -> dict[str, object]:
    fields: dict[str, object] = {
        "prompt": "a red apple", "model": model, "seed": 11, "steps": 4, "width": SIZE, "height": SIZE,
        "init_image_hash": studio.inputs.put(_noise_picture(1), kind="image"), "denoising_strength": 0.6,
    }
    if masked:
        fields |= {"mask_hash": studio.inputs.put(_mask(), kind="mask"), "mask_blur": 0,
                   "inpaint_area": "whole picture"}
    return fields


def _pixels(studio: Studio, fields: dict[str, object], **changes: object) -> np.ndarray:
    pictures = studio.engine.run(studio.new_recipe({**fields, **changes}))
    return np.asarray(pictures[0].image, dtype=np.int16)


@pytest.mark.parametrize("model", ["tiny-sd1", "tiny-sdxl"])
def test_img2img_variation_ends_are_the_seed_and_the_subseed_pictures(studio: Studio, model: str) -> None:
    fields = _fields(studio, model)
    plain = _pixels(studio, fields)
    np.testing.assert_array_equal(_pixels(studio, fields, subseed=99, subseed_strength=0.0), plain)
    # Strength 1: the VAE posterior draw and the added noise are the subseed's, bit for bit; DPM++ 2M (the
    # default) draws nothing more, so the picture is the subseed's own.
    np.testing.assert_array_equal(_pixels(studio, fields, subseed=99, subseed_strength=1.0),
                                  _pixels(studio, fields, seed=99))
    between = _pixels(studio, fields, subseed=99, subseed_strength=0.5)
    assert np.abs(between - plain).max() > 0 and np.abs(between - _pixels(studio, fields, seed=99)).max() > 0


@pytest.mark.parametrize("model", ["tiny-sd1", "tiny-sd1-inpainting"])
def test_inpainting_variation_moves_the_masked_area_only(studio: Studio, model: str) -> None:
    fields = _fields(studio, model, masked=True)
    plain = _pixels(studio, fields)
    np.testing.assert_array_equal(_pixels(studio, fields, subseed=99, subseed_strength=0.0), plain)
    varied = _pixels(studio, fields, subseed=99, subseed_strength=0.5)
    outside = np.asarray(_mask()) == 0
    init = np.asarray(_noise_picture(1), dtype=np.int16)
    np.testing.assert_array_equal(varied[outside], init[outside])
    assert np.abs(varied[~outside] - plain[~outside]).max() > 0


def test_again_remakes_an_img2img_variation(studio: Studio) -> None:
    recipe = studio.new_recipe({**_fields(studio, "tiny-sd1"), "subseed": 7, "subseed_strength": 0.3,
                                "batch_size": 2})
    saved = studio.generate(recipe)
    assert (saved[1].recipe.seed, saved[1].recipe.subseed) == (11, 8)
    report = studio.again(saved[1].path)
    assert report.matches, report


@pytest.mark.parametrize("masked", [False, True])
def test_img2img_progress_counts_the_steps_it_runs(studio: Studio, masked: bool) -> None:
    events: list[ProgressEvent] = []
    recipe = studio.new_recipe({**_fields(studio, "tiny-sd1", masked=masked), "steps": 10, "denoising_strength": 0.5})
    studio.engine.run(recipe, on_progress=events.append)
    samples = [e for e in events if e.stage == "sample"]
    assert [e.step for e in samples] == [1, 2, 3, 4, 5] and {e.steps for e in samples} == {5}
    assert events[-1].stage == "decode" and events.index(samples[-1]) == len(events) - 2


def test_hires_progress_continues_the_first_pass_count(studio: Studio) -> None:
    events: list[ProgressEvent] = []
    recipe = studio.new_recipe({"prompt": "a kite", "model": "tiny-sd1", "seed": 3, "steps": 3, "width": SIZE,
                                "height": SIZE, "hires_upscaler": "Latent", "hires_scale": 1.5, "hires_steps": 4,
                                "denoising_strength": 0.5, "sampler": "Heun"})
    studio.engine.run(recipe, on_progress=events.append)
    samples = [e for e in events if e.stage == "sample"]
    # 3 first-pass steps (Heun: 5 model calls), then int(4 * 0.5) = 2 hires steps (3 of the 7 calls of 4 steps).
    assert {e.steps for e in samples} == {5}
    assert [e.step for e in samples] == [1, 2, 2, 3, 3, 4, 5, 5]
    assert events[-1] == ProgressEvent("decode", 0, 1, 5, 5)


@pytest.mark.parametrize("model", ["tiny-sd1", "tiny-sdxl"])
def test_seed_resize_with_an_init_image_keeps_the_image(studio: Studio, model: str) -> None:
    fields = {**_fields(studio, model), "seed_resize_from_width": 16, "seed_resize_from_height": 16}
    resized = _pixels(studio, fields)
    other_init = _pixels(studio, fields, init_image_hash=studio.inputs.put(_noise_picture(2), kind="image"))
    assert np.abs(resized - other_init).max() > 0  # the init image still counts (diffusers' `latents=` drops it)
    assert np.abs(resized - _pixels(studio, _fields(studio, model))).max() > 0  # and the resized noise too
    np.testing.assert_array_equal(_pixels(studio, fields, subseed=5, subseed_strength=0.3),
                                  _pixels(studio, fields, subseed=5, subseed_strength=0.3))


def test_inpainting_checkpoint_takes_a_variation_from_a_prompt_alone(studio: Studio) -> None:
    # The variation's noise has the VAE's 4 latent channels, not the inpainting UNet's 9 inputs.
    fields = {"prompt": "a kite", "model": "tiny-sd1-inpainting", "seed": 2, "steps": 3, "width": SIZE, "height": SIZE}
    plain = _pixels(studio, fields)
    np.testing.assert_array_equal(_pixels(studio, fields, subseed=8, subseed_strength=0.0), plain)
    assert np.abs(_pixels(studio, fields, subseed=8, subseed_strength=0.5) - plain).max() > 0
    assert np.abs(_pixels(studio, fields, seed_resize_from_width=16, seed_resize_from_height=16) - plain).max() > 0



def test_prompt_editing_in_img2img_counts_from_the_first_step_run_over_the_whole_schedule(studio: Studio) -> None:
    # A1111: setup_conds spans `steps`, and its CFG denoiser's step is 0 on the first step img2img samples. Here
    # 8 steps at strength 0.5 run 4: [a:b:0.5] switches at step 4 of 8, so b is never used; [a:b:0.25] is.
    fields = {**_fields(studio, "tiny-sd1"), "steps": 8, "denoising_strength": 0.5, "guidance_scale": 15}
    plain = _pixels(studio, fields, prompt="a red apple")
    np.testing.assert_array_equal(_pixels(studio, fields, prompt="[a red apple:a blue car:0.5]"), plain)
    assert np.abs(_pixels(studio, fields, prompt="[a red apple:a blue car:0.25]") - plain).max() > 0


def test_job_progress_of_an_img2img_run_reaches_one(studio: Studio) -> None:
    reports: list[JobProgress] = []

    class Recorder:  # stands in for the JobQueue, which keeps progress only for a claimed job
        def report(self, job_id: str, progress: JobProgress) -> None:
            reports.append(progress)

    recipe = studio.new_recipe({**_fields(studio, "tiny-sd1"), "steps": 10, "denoising_strength": 0.5})
    tracker = _ProgressTracker(Recorder(), SimpleNamespace(id="job", recipe=recipe))  # type: ignore[arg-type]
    studio.engine.run(recipe, on_progress=tracker.for_batch(0))
    sampling = [p for p in reports if p.stage == "sample"]
    assert [p.step for p in sampling] == [1, 2, 3, 4, 5] and {p.steps for p in sampling} == {5}
    assert sampling[-1].fraction == 1.0 and reports[-1].stage == "decode"
