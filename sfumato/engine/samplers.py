"""Sampler table: A1111 sampler names -> diffusers scheduler classes and config overrides.

Schedule types ("Karras", ...) are config flags too. `make_scheduler` builds a fresh scheduler per job
and refuses any sampler x schedule type pair that diffusers would otherwise drop without a word.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DEISMultistepScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSDEScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    SchedulerMixin,
    TCDScheduler,
    UniPCMultistepScheduler,
)

from sfumato.errors import RecipeError
from sfumato.sampler_names import (
    A1111_ONLY_SAMPLERS,
    A1111_ONLY_SCHEDULE_TYPES,
    SAMPLER_NAMES,
    SCHEDULE_TYPE_NAMES,
)


def _frozen(**values: object) -> Mapping[str, object]:
    return MappingProxyType(values)


@dataclass(frozen=True)
class SamplerSpec:
    """How one sampler name is built in diffusers, and what the engine must know to run it."""

    scheduler: type[SchedulerMixin]
    overrides: Mapping[str, object] = field(default_factory=_frozen)
    # True when `step()` adds fresh noise at every step (ancestral, SDE and consistency samplers):
    # the engine must hand it a seeded generator (or a seed, below) for the picture to be reproducible.
    step_noise: bool = False
    # Config key through which the scheduler takes its noise seed instead of the step generator
    # (DPMSolverSDEScheduler draws from a Brownian tree that is seeded when it is built).
    noise_seed_key: str | None = None
    # How far the result is from A1111's sampler of the same name; goes into the docs.
    note: str = ""


_SAME_NOISE_NOTE = "same update as k-diffusion; per-step noise is drawn differently, so seeds do not match A1111"

SAMPLERS: Final[Mapping[str, SamplerSpec]] = MappingProxyType({
    # Set in full, so that a model config made for another DPM-Solver variant does not leak through.
    "DPM++ 2M": SamplerSpec(
        DPMSolverMultistepScheduler, _frozen(algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint")
    ),
    "DPM++ SDE": SamplerSpec(
        DPMSolverSDEScheduler, step_noise=True, noise_seed_key="noise_sampler_seed",
        note="port of k-diffusion's sample_dpmpp_sde, Brownian-tree noise seeded by noise_sampler_seed",
    ),
    "DPM++ 2M SDE": SamplerSpec(
        DPMSolverMultistepScheduler,
        _frozen(algorithm_type="sde-dpmsolver++", solver_order=2, solver_type="midpoint"),
        step_noise=True, note=_SAME_NOISE_NOTE + " (A1111 uses a Brownian tree)",
    ),
    "DPM++ 2M SDE Heun": SamplerSpec(
        DPMSolverMultistepScheduler,
        _frozen(algorithm_type="sde-dpmsolver++", solver_order=2, solver_type="heun"),
        step_noise=True, note=_SAME_NOISE_NOTE + " (A1111 uses a Brownian tree)",
    ),
    # k-diffusion's sample_dpmpp_2s_ancestral takes two model calls per step (a DPM-Solver++(2S)
    # midpoint in log-sigma, r = 1/2) down to the ancestral sigma_down, then adds sigma_up noise (eta 1).
    # diffusers has no such sampler; its single-step DPM-Solver++ of order 2 in the SDE variant is the
    # closest: also second order and stochastic, but it spends one model call per step (the midpoint is
    # the previous schedule point) and injects noise by the SDE formula of DPM-Solver++ (Lu et al. 2022,
    # sec. 4) rather than the ancestral split. Pictures look alike; they do not match A1111's.
    "DPM++ 2S a": SamplerSpec(
        DPMSolverSinglestepScheduler,
        _frozen(algorithm_type="sde-dpmsolver++", solver_order=2, lower_order_final=True),
        step_noise=True, note="approximation: single-step SDE DPM-Solver++(2), one model call per step",
    ),
    "DPM++ 3M SDE": SamplerSpec(
        DPMSolverMultistepScheduler,
        _frozen(algorithm_type="sde-dpmsolver++", solver_order=3, solver_type="midpoint"),
        step_noise=True,
        note=_SAME_NOISE_NOTE + "; A1111 also drops the next-to-last sigma, diffusers does not",
    ),
    "Euler a": SamplerSpec(EulerAncestralDiscreteScheduler, step_noise=True, note=_SAME_NOISE_NOTE),
    "Euler": SamplerSpec(EulerDiscreteScheduler),
    # LMSDiscreteScheduler integrates its coefficients with scipy.
    "LMS": SamplerSpec(LMSDiscreteScheduler),
    "Heun": SamplerSpec(HeunDiscreteScheduler),
    "DPM2": SamplerSpec(
        KDPM2DiscreteScheduler, note="A1111 drops the next-to-last of steps + 1 sigmas, diffusers does not"
    ),
    "DPM2 a": SamplerSpec(
        KDPM2AncestralDiscreteScheduler, step_noise=True,
        note=_SAME_NOISE_NOTE + "; A1111 drops the next-to-last sigma, diffusers does not",
    ),
    # eta stays at step()'s default 0, A1111's "Eta DDIM" default.
    "DDIM": SamplerSpec(DDIMScheduler),
    # A1111's PLMS is the linear multistep part of PNDM without the Runge-Kutta warm-up steps.
    "PLMS": SamplerSpec(PNDMScheduler, _frozen(skip_prk_steps=True)),
    # A1111 defaults: uni_pc_variant bh1, uni_pc_order 3, lower_order_final True, and sampling stops at
    # t = 1/1000 (sigma_min) instead of 0; diffusers' bh1 also turns NaN when asked to step to sigma 0.
    "UniPC": SamplerSpec(
        UniPCMultistepScheduler,
        _frozen(solver_type="bh1", solver_order=3, lower_order_final=True, final_sigmas_type="sigma_min"),
        note="with Karras/Exponential/Beta the last step goes from sigma_min to sigma_min (a no-op step)",
    ),
    # x = denoised + sigma_next * noise between steps, as A1111's sample_lcm.
    "LCM": SamplerSpec(LCMScheduler, step_noise=True),
    "DDPM": SamplerSpec(DDPMScheduler, step_noise=True),
    "DEIS": SamplerSpec(DEISMultistepScheduler),
    # step()'s eta defaults to 0.3 (the TCD paper's gamma), which re-noises every step.
    "TCD": SamplerSpec(TCDScheduler, step_noise=True),
})

# Schedule types as diffusers config flags. Karras uses rho 7, Beta alpha = beta = 0.6 in sigma space,
# both as A1111 v1.10.1. Uniform (linspace) is k-diffusion's default spacing t = linspace(t_max, 0, n).
# Simple takes every (1000/n)-th model sigma from the top, which is diffusers' "trailing" spacing; SGM
# Uniform steps by 999/n from the same top, so both become "trailing" here and differ from A1111 by
# at most one timestep per step.
SCHEDULE_TYPES: Final[Mapping[str, Mapping[str, object]]] = MappingProxyType({
    "Automatic": _frozen(),
    "Uniform": _frozen(timestep_spacing="linspace"),
    "Karras": _frozen(use_karras_sigmas=True),
    "Exponential": _frozen(use_exponential_sigmas=True),
    "SGM Uniform": _frozen(timestep_spacing="trailing"),
    "Simple": _frozen(timestep_spacing="trailing"),
    "Beta": _frozen(use_beta_sigmas=True),
})

# Sigma-schedule flags a model's own scheduler config may carry. They are dropped from the base config:
# the schedule type is the Recipe's choice, and two flags at once make diffusers raise.
_SIGMA_FLAGS: Final[frozenset[str]] = frozenset(
    {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas"}
)

# Keys a class accepts in __init__ but never reads in set_timesteps (diffusers 0.42). The contract test
# checks both ways, so this list fails loudly when diffusers starts honouring them.
IGNORED_CONFIG_KEYS: Final[Mapping[type[SchedulerMixin], frozenset[str]]] = MappingProxyType({
    LCMScheduler: frozenset({"timestep_spacing"}),
    TCDScheduler: frozenset({"timestep_spacing"}),
})


def _spec(sampler: str) -> SamplerSpec:
    if sampler in A1111_ONLY_SAMPLERS:
        raise RecipeError(
            f"sampler {sampler!r} is an A1111 (k-diffusion) sampler with no diffusers scheduler, so sfumato can "
            f"read it from a picture but not run it; choose one of: {', '.join(SAMPLERS)}", field="sampler"
        )
    try:
        return SAMPLERS[sampler]
    except KeyError:
        raise RecipeError(
            f"sampler {sampler!r} is not known; valid samplers: {', '.join(SAMPLERS)}", field="sampler"
        ) from None


def _effective_keys(cls: type[SchedulerMixin]) -> frozenset[str]:
    accepted = frozenset(inspect.signature(cls.__init__).parameters) - {"self"}
    return accepted - IGNORED_CONFIG_KEYS.get(cls, frozenset())


def supported_schedule_types(sampler: str) -> tuple[str, ...]:
    """The schedule types whose config flags `sampler`'s scheduler class takes and honours."""
    keys = _effective_keys(_spec(sampler).scheduler)
    flags = {name: SCHEDULE_TYPES[effective_schedule_type(sampler, name)] for name in SCHEDULE_TYPES}
    return tuple(name for name, needed in flags.items() if needed.keys() <= keys)


def unsupported_pairs() -> tuple[tuple[str, str], ...]:
    """Every (sampler, schedule type) pair `make_scheduler` refuses, in table order (for the docs)."""
    return tuple(
        (sampler, schedule)
        for sampler in SAMPLERS
        for schedule in SCHEDULE_TYPES
        if schedule not in supported_schedule_types(sampler)
    )


def effective_schedule_type(sampler: str, schedule_type: str) -> str:
    """The schedule type a job runs with: "Automatic" becomes the sampler's A1111 default (Karras for
    DPM++ 2M, Exponential for the SDE samplers), or stays "Automatic" (the model's own spacing)."""
    if schedule_type == "Automatic":
        return SAMPLER_NAMES[sampler].default_schedule or "Automatic"
    return schedule_type


def _unsupported(sampler: str, schedule_type: str, detail: str) -> RecipeError:
    return RecipeError(
        f"schedule_type {schedule_type!r} is not supported by sampler {sampler!r} ({detail}); "
        f"supported schedule types: {', '.join(supported_schedule_types(sampler))}",
        field="schedule_type",
    )


def make_scheduler(
    sampler: str,
    schedule_type: str,
    base_config: Mapping[str, object],
    *,
    noise_seed: int | Sequence[int] | None = None,
) -> SchedulerMixin:
    """Build a fresh scheduler for one job (diffusers schedulers keep per-run step state).

    Args:
        base_config: the model's scheduler config; its prediction type, betas and spacing are kept.
        noise_seed: for samplers with a `noise_seed_key` (DPM++ SDE), the seed (or one per image) of the
            noise they draw themselves; other samplers take their noise from the step generator.

    Raises:
        RecipeError: unknown sampler or schedule type, or a pair the scheduler class cannot honour.
    """
    spec = _spec(sampler)
    if schedule_type in A1111_ONLY_SCHEDULE_TYPES:
        raise RecipeError(
            f"schedule_type {schedule_type!r} is an A1111 schedule with no diffusers equivalent, so sfumato can "
            f"read it from a picture but not run it; choose one of: {', '.join(SCHEDULE_TYPE_NAMES)}",
            field="schedule_type",
        )
    if schedule_type not in SCHEDULE_TYPES:
        raise RecipeError(
            f"schedule_type {schedule_type!r} is not known; valid: {', '.join(SCHEDULE_TYPE_NAMES)}",
            field="schedule_type",
        )
    effective = effective_schedule_type(sampler, schedule_type)
    schedule = SCHEDULE_TYPES[effective]
    if missing := sorted(schedule.keys() - _effective_keys(spec.scheduler)):
        raise _unsupported(sampler, schedule_type, f"{spec.scheduler.__name__} does not honour {missing}")
    overrides = {**spec.overrides, **schedule}
    if spec.noise_seed_key is not None and noise_seed is not None:
        overrides[spec.noise_seed_key] = noise_seed if isinstance(noise_seed, int) else list(noise_seed)
    base = {key: value for key, value in base_config.items() if key not in _SIGMA_FLAGS}
    scheduler, unused = spec.scheduler.from_config(base, return_unused_kwargs=True, **overrides)
    # from_config returns keywords the class does not take instead of raising; none may be ours.
    if ignored := sorted(overrides.keys() & unused.keys()):
        raise _unsupported(sampler, schedule_type, f"{spec.scheduler.__name__} ignored {ignored}")
    return scheduler


def step_kwargs(scheduler: SchedulerMixin, generator: torch.Generator | None) -> dict[str, object]:
    """Extra keywords for `scheduler.step`: the noise generator, for the classes whose step() takes one."""
    return {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
