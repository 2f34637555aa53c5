"""Hires fix on the built-in tiny model: target sizes as A1111 computes them, every upscaler, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from sfumato.engine.hires import UPSCALERS
from sfumato.errors import RecipeError
from sfumato.recipe import recipe_from
from sfumato.server.a1111_images import LATENT_UPSCALE_MODES, PIXEL_UPSCALERS
from sfumato.settings import Settings
from sfumato.studio import Studio


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("hires-home")))
    yield opened
    opened.close()


@pytest.mark.parametrize(("fields", "size"), [
    ({}, (128, 96)),
    ({"hires_scale": 1.5}, (96, 72)),
    ({"hires_scale": 1.3}, (80, 56)),  # int(64 * 1.3) = 83 -> 80, int(48 * 1.3) = 62 -> 56
    ({"hires_width": 256}, (256, 192)),  # one side given: the other keeps the aspect ratio
    ({"hires_height": 96}, (128, 96)),
    ({"hires_width": 80, "hires_height": 40}, (80, 40)),
])
def test_hires_size(fields: dict[str, object], size: tuple[int, int]) -> None:
    recipe = recipe_from({"width": 64, "height": 48, "hires_upscaler": "Latent", **fields})
    assert recipe.hires_size() == size


def test_the_servers_upscaler_names_are_the_engines() -> None:
    assert set(UPSCALERS) == {*LATENT_UPSCALE_MODES, *PIXEL_UPSCALERS}


def _run(studio: Studio, **fields: object) -> np.ndarray:
    recipe = studio.new_recipe({"prompt": "a lighthouse", "seed": 4, "steps": 3, "width": 32, "height": 32,
                                "denoising_strength": 0.6, **fields})
    return np.asarray(studio.engine.run(recipe)[0].image, dtype=np.int16)


def test_every_upscaler_makes_the_larger_picture(studio: Studio) -> None:
    pictures = {name: _run(studio, hires_upscaler=name, hires_steps=2) for name in UPSCALERS}
    assert all(picture.shape == (64, 64, 3) for picture in pictures.values())
    # Latent and pixel upscaling start the second pass from different places.
    assert np.abs(pictures["Latent"] - pictures["Lanczos"]).max() > 0
    np.testing.assert_array_equal(pictures["None"], pictures["Lanczos"])  # A1111's "None" is a Lanczos resize


def test_hires_steps_and_strength_change_the_second_pass(studio: Studio) -> None:
    base = _run(studio, hires_upscaler="Latent")
    assert np.abs(base - _run(studio, hires_upscaler="Latent", hires_steps=5)).max() > 0
    assert np.abs(base - _run(studio, hires_upscaler="Latent", denoising_strength=0.9)).max() > 0
    np.testing.assert_array_equal(base, _run(studio, hires_upscaler="Latent"))


@pytest.mark.parametrize(("fields", "message"), [
    ({"hires_upscaler": "4x-UltraSharp"}, "hires_upscaler: sfumato has no upscaler '4x-UltraSharp'"),
    ({"hires_upscaler": "Latent", "denoising_strength": None}, "denoising_strength: the hires fix needs"),
])
def test_hires_refusals(studio: Studio, fields: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        _run(studio, **fields)


def _member_conditioning(studio: Studio, prompt: str, **fields: object) -> list[str]:
    """Which side of `[a red cat:a blue dog:WHEN]` the first AND member got at each UNet call of a hires run."""
    _run(studio, hires_upscaler="Latent")  # loads the model
    unet = studio.engine.cache.loaded.pipe.unet  # type: ignore[attr-defined]
    rows: list[torch.Tensor] = []

    def record(module: object, args: object, kwargs: dict[str, torch.Tensor], output: object) -> None:
        rows.append(kwargs["encoder_hidden_states"][1].clone())  # [uncond, member 1, ...]: composable widened it

    handle = unet.register_forward_hook(record, with_kwargs=True)
    try:
        _run(studio, prompt=prompt, sampler="Euler", steps=4, hires_upscaler="Latent", **fields)
    finally:
        handle.remove()
    return ["cat" if torch.equal(row, rows[0]) else "dog" for row in rows]


CAT, DOG = "cat", "dog"


# By hand, A1111's timelines (prompt_parser with hires_steps, as calculate_hr_conds calls it): the first pass of 4
# steps takes `a` while step <= int(WHEN * 4); the hires pass of H steps while step <= int((WHEN - 1) * H) for a
# fraction, step <= N - 4 for an integer N, counting from the first step it runs (strength 0.75 of 4: steps 0-2).
@pytest.mark.parametrize(("when", "hires", "expected"), [
    ("0.5", {"hires_steps": 4, "denoising_strength": 0.75}, [CAT, CAT, CAT, DOG, DOG, DOG, DOG]),
    ("1.5", {"hires_steps": 8, "denoising_strength": 1.0}, [CAT] * 4 + [CAT] * 5 + [DOG] * 3),
    ("6", {"hires_steps": 4, "denoising_strength": 1.0}, [CAT] * 4 + [CAT, CAT, CAT, DOG]),
])
@pytest.mark.parametrize("members", ["{edit}", "{edit} AND a tree"], ids=["one member", "AND"])
def test_prompt_editing_follows_a1111s_hires_timeline(studio: Studio, members: str, when: str,
                                                     hires: dict[str, object], expected: list[str]) -> None:
    prompt = members.format(edit=f"[a red cat:a blue dog:{when}]")
    assert _member_conditioning(studio, prompt, **hires) == expected


def _record_passes(studio: Studio, **fields: object) -> tuple[list[tuple[str, bool, torch.Tensor]], np.ndarray]:
    """(scheduler class, exponential sigmas, conditioning row) at each UNet call of one run, and its picture."""
    _run(studio, hires_upscaler="Latent")  # loads the model
    pipe = studio.engine.cache.loaded.pipe  # type: ignore[attr-defined]
    calls: list[tuple[str, bool, torch.Tensor]] = []

    def record(module: object, args: object, kwargs: dict[str, torch.Tensor], output: object) -> None:
        exponential = bool(pipe.scheduler.config.get("use_exponential_sigmas"))
        calls.append((type(pipe.scheduler).__name__, exponential, kwargs["encoder_hidden_states"][1].clone()))

    handle = pipe.unet.register_forward_hook(record, with_kwargs=True)
    try:
        picture = _run(studio, **fields)
    finally:
        handle.remove()
    return calls, picture


def test_hires_pass_runs_its_own_sampler_schedule_and_prompt(studio: Studio) -> None:
    own = {"hires_sampler": "Euler", "hires_schedule_type": "Exponential", "hires_prompt": "a red barn"}
    base = {"sampler": "DPM++ 2M", "schedule_type": "Automatic", "hires_upscaler": "Latent", "hires_steps": 2,
            "denoising_strength": 1.0}
    calls, picture = _record_passes(studio, **base, **own)
    assert [(name, exponential) for name, exponential, _ in calls] == [
        *[("DPMSolverMultistepScheduler", False)] * 3, *[("EulerDiscreteScheduler", True)] * 2]
    barn, _ = _record_passes(studio, prompt="a red barn", sampler="Euler")
    assert all(torch.equal(row, calls[0][2]) for _, _, row in calls[:3])  # the first pass: the prompt
    assert all(torch.equal(row, barn[0][2]) for _, _, row in calls[3:])  # the hires pass: the hires prompt
    _, same = _record_passes(studio, **base)
    assert np.abs(picture - same).max() > 0
    np.testing.assert_array_equal(picture, _run(studio, **base, **own))  # made again, the same picture


def test_lora_tags_in_the_hires_prompt_must_be_the_prompts(studio: Studio) -> None:
    with pytest.raises(RecipeError, match=r"hires_prompt: LoRA tag <lora:ink:1.0> is not among the LoRAs"):
        studio.new_recipe({"prompt": "an owl", "hires_prompt": "an owl <lora:ink:1>", "hires_upscaler": "Latent",
                           "denoising_strength": 0.5})


def test_another_hires_checkpoint_is_refused(studio: Studio) -> None:
    with pytest.raises(RecipeError, match=r"extra: 'Hires checkpoint' 'other'"):
        _run(studio, hires_upscaler="Latent", extra=(("Hires checkpoint", "other"),))


def test_a_hires_schedule_the_hires_sampler_cannot_run_names_the_hires_field(studio: Studio) -> None:
    with pytest.raises(RecipeError, match=r"hires_schedule_type \(hires pass sampler 'Euler a'\): schedule_type "
                                          r"'Karras' is not supported by sampler 'Euler a'"):
        _run(studio, hires_upscaler="Latent", hires_sampler="Euler a", hires_schedule_type="Karras")
