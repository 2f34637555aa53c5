"""Sampler and schedule-type names as A1111 spells them, torch-free, for validating a Recipe at the edge.

The diffusers side of each name (scheduler class and config flags) lives in `engine/samplers.py`;
a contract test keeps both tables on the same keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class SamplerName:
    """What the edges need to know of a sampler without importing torch."""

    label: str
    # A1111 resolves "Automatic" to this schedule type for k-diffusion samplers (a1111_samplers.md);
    # None means the model's own default spacing.
    default_schedule: str | None = None
    # Second-order samplers call the model twice per step: prompt-editing schedules count model calls.
    second_order: bool = False
    is_a1111: bool = True


SAMPLER_NAMES: Final[Mapping[str, SamplerName]] = MappingProxyType({
    "DPM++ 2M": SamplerName("DPM++ 2M", default_schedule="Karras"),
    "DPM++ SDE": SamplerName("DPM++ SDE", default_schedule="Karras", second_order=True),
    "DPM++ 2M SDE": SamplerName("DPM++ 2M SDE", default_schedule="Exponential"),
    "DPM++ 2M SDE Heun": SamplerName("DPM++ 2M SDE Heun", default_schedule="Exponential"),
    "DPM++ 2S a": SamplerName("DPM++ 2S a", default_schedule="Karras", second_order=True),
    "DPM++ 3M SDE": SamplerName("DPM++ 3M SDE", default_schedule="Exponential"),
    "Euler a": SamplerName("Euler a"),
    "Euler": SamplerName("Euler"),
    "LMS": SamplerName("LMS"),
    "Heun": SamplerName("Heun", second_order=True),
    "DPM2": SamplerName("DPM2", default_schedule="Karras", second_order=True),
    "DPM2 a": SamplerName("DPM2 a", default_schedule="Karras", second_order=True),
    "DDIM": SamplerName("DDIM"),
    "PLMS": SamplerName("PLMS"),
    "UniPC": SamplerName("UniPC"),
    "LCM": SamplerName("LCM"),
    # Not in A1111: diffusers schedulers people ask for by their diffusers names.
    "DDPM": SamplerName("DDPM", is_a1111=False),
    "DEIS": SamplerName("DEIS", is_a1111=False),
    "TCD": SamplerName("TCD", is_a1111=False),
})

# A1111 samplers and schedule types diffusers has no scheduler for. A Recipe read from another tool's
# infotext may name them (so `sfumato info` can show it); the engine refuses to run them, saying why.
A1111_ONLY_SAMPLERS: Final[tuple[str, ...]] = ("DPM fast", "DPM adaptive", "Restart", "DDIM CFG++")
A1111_ONLY_SCHEDULE_TYPES: Final[tuple[str, ...]] = ("Polyexponential", "KL Optimal", "Align Your Steps", "Normal", "DDIM")

# Other spellings people use (k-diffusion aliases, diffusers class stems). Resolved at the edge,
# so a Recipe always stores the canonical name.
SAMPLER_ALIASES: Final[Mapping[str, str]] = MappingProxyType({
    "PNDM": "PLMS",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE",
    "k_dpmpp_2s_a": "DPM++ 2S a",
    "k_dpmpp_3m_sde": "DPM++ 3M SDE",
    "k_euler_a": "Euler a",
    "k_euler_ancestral": "Euler a",
    "k_euler": "Euler",
    "k_lms": "LMS",
    "k_heun": "Heun",
    "k_dpm_2": "DPM2",
    "k_dpm_2_a": "DPM2 a",
    "ddim": "DDIM",
    "plms": "PLMS",
    "unipc": "UniPC",
    "k_lcm": "LCM",
})

SCHEDULE_TYPE_NAMES: Final[tuple[str, ...]] = (
    "Automatic",
    "Uniform",
    "Karras",
    "Exponential",
    "SGM Uniform",
    "Simple",
    "Beta",
)

# A1111 accepts a schedule type's lower-case name as well as its label (sd_schedulers.schedulers_map).
SCHEDULE_TYPE_ALIASES: Final[Mapping[str, str]] = MappingProxyType({
    "automatic": "Automatic",
    "uniform": "Uniform",
    "karras": "Karras",
    "exponential": "Exponential",
    "sgm_uniform": "SGM Uniform",
    "SGMUniform": "SGM Uniform",
    "simple": "Simple",
    "beta": "Beta",
})


def closest(name: str, choices: tuple[str, ...] | list[str]) -> list[str]:
    """The choices that look most like `name`, best first (for 'did you mean' hints)."""
    by_case = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(by_case), n=3, cutoff=0.5)
    return [by_case[h] for h in hits]


def canonical_sampler(name: str) -> str | None:
    """The canonical sampler name for `name` (exact, alias, or case-insensitive), or None."""
    if name in SAMPLER_NAMES or name in A1111_ONLY_SAMPLERS:
        return name
    if name in SAMPLER_ALIASES:
        return SAMPLER_ALIASES[name]
    lowered = {k.lower(): k for k in SAMPLER_NAMES}
    return lowered.get(name.lower())


def canonical_schedule_type(name: str) -> str | None:
    """The canonical schedule-type label for `name`, or None."""
    if name in SCHEDULE_TYPE_NAMES or name in A1111_ONLY_SCHEDULE_TYPES:
        return name
    return SCHEDULE_TYPE_ALIASES.get(name)


def split_sampler_suffix(name: str) -> tuple[str, str | None]:
    """Split pre-1.9 A1111 names such as "DPM++ 2M Karras" into ("DPM++ 2M", "Karras")."""
    samplers = (*SAMPLER_NAMES, *A1111_ONLY_SAMPLERS)
    for schedule in sorted((*SCHEDULE_TYPE_NAMES, *A1111_ONLY_SCHEDULE_TYPES), key=len, reverse=True):
        if name.endswith(" " + schedule) and name[: -len(schedule) - 1] in samplers:
            return name[: -len(schedule) - 1], schedule
    return name, None
