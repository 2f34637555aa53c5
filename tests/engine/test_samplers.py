"""Contract tests of the sampler table: every sampler x schedule type builds and samples, or is refused."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from diffusers import UNet2DConditionModel

from sfumato.engine.samplers import (
    IGNORED_CONFIG_KEYS,
    SAMPLERS,
    SCHEDULE_TYPES,
    effective_schedule_type,
    make_scheduler,
    step_kwargs,
    supported_schedule_types,
    unsupported_pairs,
)
from sfumato.errors import RecipeError
from sfumato.sampler_names import SAMPLER_NAMES, SCHEDULE_TYPE_NAMES

# Stable Diffusion 1.x's scheduler config as it ships (PNDM keys included), minus nothing.
SD_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
    "trained_betas": None,
}
ALL_PAIRS = list(itertools.product(SAMPLERS, SCHEDULE_TYPES))
# Supported pairs whose (effective) schedule type sets config flags: those flags must change the schedule.
FLAGGED_PAIRS = [
    (sampler, schedule) for sampler, schedule in ALL_PAIRS
    if schedule in supported_schedule_types(sampler) and SCHEDULE_TYPES[effective_schedule_type(sampler, schedule)]
]
# diffusers' KDPM2 schedulers trip numpy 2 deprecation warnings by the ten thousand, and torchsde warns
# about float rounding at the Brownian interval's ends (~1e-7); neither is ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Should have ta>=t0:UserWarning"),
]


@pytest.fixture(scope="module")
def unet() -> UNet2DConditionModel:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
    )
    return model.eval()


@pytest.fixture(scope="module")
def cond() -> torch.Tensor:
    return torch.randn((1, 5, 32), generator=torch.Generator().manual_seed(1))  # (B, tokens, cross_attention_dim)


def sample(unet: UNet2DConditionModel, cond: torch.Tensor, sampler: str, schedule_type: str, *,
           init_seed: int = 0, noise_seed: int = 0, steps: int = 3) -> torch.Tensor:
    """A real sampling loop, as the pipelines run it, with the initial and per-step noise seeded apart."""
    scheduler = make_scheduler(sampler, schedule_type, SD_CONFIG, noise_seed=noise_seed)
    scheduler.set_timesteps(steps)
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(init_seed))  # (B, 4, H/8, W/8)
    latents = latents * scheduler.init_noise_sigma
    extra = step_kwargs(scheduler, torch.Generator().manual_seed(noise_seed))
    with torch.inference_mode():
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            noise_pred = unet(model_input, t, encoder_hidden_states=cond).sample
            latents = scheduler.step(noise_pred, t, latents, **extra).prev_sample
    return latents


def test_tables_use_exactly_the_edge_names() -> None:
    assert list(SAMPLERS) == list(SAMPLER_NAMES)
    assert tuple(SCHEDULE_TYPES) == SCHEDULE_TYPE_NAMES


@pytest.mark.parametrize(("sampler", "schedule_type"), ALL_PAIRS)
def test_every_pair_samples_reproducibly_or_is_refused(
    unet: UNet2DConditionModel, cond: torch.Tensor, sampler: str, schedule_type: str
) -> None:
    supported = schedule_type in supported_schedule_types(sampler)
    if not supported:
        with pytest.raises(RecipeError) as caught:
            make_scheduler(sampler, schedule_type, SD_CONFIG)
        assert caught.value.field == "schedule_type"
        message = str(caught.value)
        assert repr(sampler) in message and repr(schedule_type) in message
        assert ", ".join(supported_schedule_types(sampler)) in message
        assert (sampler, schedule_type) in unsupported_pairs()
        return
    first = sample(unet, cond, sampler, schedule_type, init_seed=3, noise_seed=4)
    again = sample(unet, cond, sampler, schedule_type, init_seed=3, noise_seed=4)
    assert torch.isfinite(first).all()
    assert not torch.equal(first, torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(3)))
    assert torch.equal(first, again)
    assert (sampler, schedule_type) not in unsupported_pairs()


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_step_noise_flag_matches_what_step_does(unet: UNet2DConditionModel, cond: torch.Tensor, sampler: str) -> None:
    """Same starting noise, different per-step noise: the result moves exactly for the stochastic samplers."""
    a = sample(unet, cond, sampler, "Automatic", init_seed=0, noise_seed=1)
    b = sample(unet, cond, sampler, "Automatic", init_seed=0, noise_seed=2)
    assert (not torch.equal(a, b)) == SAMPLERS[sampler].step_noise


def test_brownian_noise_takes_one_seed_per_image(unet: UNet2DConditionModel, cond: torch.Tensor) -> None:
    scheduler = make_scheduler("DPM++ SDE", "Karras", SD_CONFIG, noise_seed=(7, 8))
    assert scheduler.config.noise_sampler_seed == [7, 8]


def contrast(overrides: dict[str, object]) -> dict[str, object]:
    """The same keys set to a value that must give a different schedule."""
    flipped: dict[str, object] = {}
    for key, value in overrides.items():
        if key == "timestep_spacing":
            flipped[key] = "leading" if value != "leading" else "linspace"
        else:
            flipped[key] = not value
    return flipped


def schedule_of(scheduler: Any, steps: int = 10) -> tuple[list[float], list[float]]:
    scheduler.set_timesteps(steps)
    sigmas = getattr(scheduler, "sigmas", None)
    return scheduler.timesteps.tolist(), [] if sigmas is None else torch.as_tensor(sigmas).tolist()


@pytest.mark.parametrize(("sampler", "schedule_type"), FLAGGED_PAIRS)
def test_a_supported_schedule_type_changes_the_schedule(sampler: str, schedule_type: str) -> None:
    """Accepted is not enough: the flag must change the timesteps or sigmas diffusers produces."""
    flags = dict(SCHEDULE_TYPES[effective_schedule_type(sampler, schedule_type)])
    spec = SAMPLERS[sampler]
    built = make_scheduler(sampler, schedule_type, SD_CONFIG)
    other = spec.scheduler.from_config({**SD_CONFIG, **spec.overrides, **contrast(flags)})
    assert schedule_of(built) != schedule_of(other)


@pytest.mark.parametrize(("cls", "keys"), list(IGNORED_CONFIG_KEYS.items()))
def test_ignored_keys_really_are_ignored(cls: Any, keys: frozenset[str]) -> None:
    assert keys == {"timestep_spacing"}
    schedules = [schedule_of(cls.from_config(SD_CONFIG, timestep_spacing=s)) for s in ("linspace", "leading", "trailing")]
    assert schedules[0] == schedules[1] == schedules[2]


def test_known_unsupported_pairs() -> None:
    pairs = set(unsupported_pairs())
    assert ("Euler a", "Karras") in pairs and ("DDIM", "Karras") in pairs and ("LCM", "Karras") in pairs
    assert ("DPM++ 2S a", "Uniform") in pairs
    assert not any(schedule == "Automatic" for _, schedule in pairs)
    assert ("DPM++ 2M", "Karras") not in pairs and ("Euler", "Beta") not in pairs


def test_each_call_builds_a_fresh_scheduler() -> None:
    first = make_scheduler("DPM++ 2M", "Karras", SD_CONFIG)
    second = make_scheduler("DPM++ 2M", "Karras", SD_CONFIG)
    assert first is not second
    first.set_timesteps(4)
    first.step(torch.zeros(1, 4, 8, 8), first.timesteps[0], torch.zeros(1, 4, 8, 8))
    assert first.step_index == 1 and second.step_index is None


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_base_config_survives(sampler: str) -> None:
    config = {**SD_CONFIG, "prediction_type": "v_prediction", "beta_end": 0.02, "rescale_betas_zero_snr": False}
    scheduler = make_scheduler(sampler, "Automatic", config)
    assert scheduler.config.prediction_type == "v_prediction"
    assert scheduler.config.beta_schedule == "scaled_linear" and scheduler.config.beta_end == 0.02
    for key, value in SAMPLERS[sampler].overrides.items():
        assert scheduler.config[key] == value


def test_automatic_means_the_a1111_default_schedule() -> None:
    assert make_scheduler("DPM++ 2M", "Automatic", SD_CONFIG).config.use_karras_sigmas is True
    assert make_scheduler("DPM++ 2M SDE", "Automatic", SD_CONFIG).config.use_exponential_sigmas is True
    euler = make_scheduler("Euler", "Automatic", {**SD_CONFIG, "use_karras_sigmas": True})
    assert euler.config.use_karras_sigmas is False  # the schedule type decides, not the checkpoint's config
    assert effective_schedule_type("Euler a", "Automatic") == "Automatic"


def test_a1111_specifics() -> None:
    assert make_scheduler("PLMS", "Automatic", {**SD_CONFIG, "skip_prk_steps": False}).config.skip_prk_steps
    dpmpp = make_scheduler("DPM++ 2M SDE Heun", "Karras", SD_CONFIG).config
    assert (dpmpp.algorithm_type, dpmpp.solver_type, dpmpp.solver_order) == ("sde-dpmsolver++", "heun", 2)
    assert make_scheduler("DPM++ 3M SDE", "Exponential", SD_CONFIG).config.solver_order == 3


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(RecipeError) as caught:
        make_scheduler("Euler b", "Automatic", SD_CONFIG)
    assert caught.value.field == "sampler" and "Euler a" in str(caught.value)
    with pytest.raises(RecipeError) as caught:
        make_scheduler("Euler", "karras", SD_CONFIG)
    assert caught.value.field == "schedule_type" and "Karras" in str(caught.value)
