"""Recipe: everything needed to make a picture again, validated once at the edge.

A Recipe is data. Every entry point (CLI, API, streams) builds one; the engine trusts it. Field names
follow diffusers (`guidance_scale`, `num_inference_steps` is `steps` here as in infotext/API); the
A1111 spellings live only in the infotext and /sdapi translators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sfumato.errors import RecipeError
from sfumato.sampler_names import (
    SAMPLER_NAMES,
    SCHEDULE_TYPE_NAMES,
    canonical_sampler,
    canonical_schedule_type,
    closest,
    split_sampler_suffix,
)

SCHEMA_VERSION = 1
MAX_SEED = 2**32 - 1

Dtype = Literal["fp32", "fp16", "bf16"]
NoiseSource = Literal["cpu", "device"]
# img2img / inpainting / hires fix (issue #7): A1111's choices, in sfumato's lower-case spelling.
ResizeMode = Literal["just resize", "crop and resize", "resize and fill", "latent upscale"]
InpaintArea = Literal["whole picture", "only masked"]
MaskedContent = Literal["original", "fill", "latent noise", "latent nothing"]


class AdapterRef(BaseModel):
    """A LoRA or embedding applied to the model, with the weight it was applied at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, ge=-10.0, le=10.0)
    kind: Literal["lora", "embedding"] = "lora"
    hash: str | None = Field(default=None, description="First 12 hex of the file's sha256 (A1111 'Lora hashes').")
    # LoRA per-part weights (issue #8): A1111's <lora:NAME:TE:UNET>; `weight` is then the text encoders' weight.
    unet_weight: float | None = Field(default=None, ge=-10.0, le=10.0,
                                      description="The UNet's weight when it differs from `weight` (LoRA only).")


class Recipe(BaseModel):
    """One request for pictures: model, prompt, sampler and sizes, seeds, adapters, device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    model: str = Field(default="sfumato-emoji", min_length=1, description="Model name in the library.")
    model_hash: str | None = Field(default=None, description="A1111 short hash: first 10 hex of the sha256.")
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Image i of a batch uses seed + i.")
    sampler: str = Field(default="DPM++ 2M", description="A1111 sampler name, e.g. 'Euler a', 'DPM++ 2M'.")
    schedule_type: str = Field(default="Automatic", description="A1111 schedule type, e.g. 'Karras'.")
    steps: int = Field(default=20, ge=1, le=150)
    guidance_scale: float = Field(default=7.0, ge=0.0, le=30.0, description="CFG scale.")
    width: int = Field(default=512, ge=8, le=8192)
    height: int = Field(default=512, ge=8, le=8192)
    batch_size: int = Field(default=1, ge=1, le=64)
    batch_count: int = Field(default=1, ge=1, le=1000)
    clip_skip: int = Field(default=1, ge=1, le=12)
    adapters: tuple[AdapterRef, ...] = ()
    device: str | None = Field(default=None, pattern=r"^(cpu|mps|cuda(:\d+)?)$")
    dtype: Dtype | None = None
    noise_source: NoiseSource = Field(
        default="cpu", description="Where initial noise is drawn; 'cpu' makes a seed mean the same on every device."
    )
    init_image_hash: str | None = None
    mask_hash: str | None = None
    denoising_strength: float | None = Field(default=None, ge=0.0, le=1.0)
    extra: tuple[tuple[str, str], ...] = Field(
        default=(), description="Infotext keys sfumato does not interpret, kept so round trips are exact."
    )
    # --- prompt templates, themes and styles (issue #5, items 3-5): where the prompt came from. The prompt
    # above is always the resolved text the engine uses; these record how it was made and never change pixels.
    prompt_template: str | None = Field(
        default=None, description="Dynamic-prompts template the prompt was drawn from (infotext 'Template')."
    )
    negative_prompt_template: str | None = Field(
        default=None, description="Template of the negative prompt (infotext 'Negative Template')."
    )
    styles: tuple[str, ...] = Field(default=(), description="Names of the styles.csv styles applied, in order.")
    theme: str | None = Field(default=None, min_length=1, description="Name of the theme the prompt came from.")
    theme_hash: str | None = Field(default=None, description="First 12 hex of the sha256 of the validated theme.")
    # Variations and latent walks (issue #7): A1111's variation seed, and a second prompt mixed into the conditioning.
    subseed: int | None = Field(default=None, ge=0, le=MAX_SEED,
                                description="Variation seed (A1111 subseed); picture i of a batch uses subseed + i.")
    subseed_strength: float = Field(default=0.0, ge=0.0, le=1.0,
                                    description="Variation strength: 0 keeps the seed's noise, 1 is the subseed's.")
    seed_resize_from_width: int | None = Field(default=None, ge=8, le=8192,
                                               description="A1111 'Seed resize from': draw the noise at this size.")
    seed_resize_from_height: int | None = Field(default=None, ge=8, le=8192)
    mix_prompt: str | None = Field(default=None, description="A second prompt whose conditioning is mixed in.")
    mix_factor: float = Field(default=0.0, ge=0.0, le=1.0,
                              description="Share of mix_prompt's conditioning: 0 is prompt only, 1 mix_prompt only.")
    # img2img, inpainting, outpainting and hires fix (issue #7). The init image and mask travel by hash
    # (sha256 of their pixels); the library keeps the files under .inputs/, so a Recipe stays data.
    resize_mode: ResizeMode = Field(default="just resize", description="How the init image is fitted to the size.")
    mask_blur: int = Field(default=4, ge=0, le=64, description="Gaussian blur radius of the mask, in pixels.")
    inpaint_area: InpaintArea = Field(
        default="whole picture", description="'only masked' inpaints a crop around the mask at full size.")
    inpaint_padding: int = Field(default=32, ge=0, le=1024, description="Pixels around the mask ('only masked').")
    masked_content: MaskedContent = Field(default="original", description="What the masked area starts from.")
    invert_mask: bool = Field(default=False,
                              description="Inpaint what the mask leaves out (A1111 'Inpaint not masked').")
    # Any A1111 name is kept (infotext from other tools names upscaler models); the engine refuses those it lacks.
    hires_upscaler: str | None = Field(default=None, min_length=1,
                                       description="Hires fix upscaler, e.g. 'Latent', 'Lanczos' (None: no hires fix).")
    hires_scale: float = Field(default=2.0, ge=1.0, le=8.0, description="Hires fix: upscale by this factor...")
    hires_width: int = Field(default=0, ge=0, le=8192, description="...or to this width (0: from the scale).")
    hires_height: int = Field(default=0, ge=0, le=8192, description="...and/or this height (0: from the scale).")
    hires_steps: int = Field(default=0, ge=0, le=150, description="Hires pass steps (0: as many as `steps`).")
    # The hires pass's own sampler, schedule type and prompts (issue #7; A1111's Hires sampler / schedule type /
    # prompt / negative prompt). None: the same as the first pass's.
    hires_sampler: str | None = Field(default=None, description="Hires pass sampler (None: `sampler`).")
    hires_schedule_type: str | None = Field(default=None,
                                            description="Hires pass schedule type (None: `schedule_type`).")
    hires_prompt: str | None = Field(default=None, min_length=1, description="Hires pass prompt (None: `prompt`).")
    hires_negative_prompt: str | None = Field(default=None, min_length=1,
                                              description="Hires pass negative prompt (None: `negative_prompt`).")

    def hires_size(self) -> tuple[int, int]:
        """Hires fix target (issue #7), as A1111: `Hires resize` WxH (a 0 side keeps the aspect), else size x scale."""
        width, height = self.width, self.height
        if self.hires_width and self.hires_height:
            target = (self.hires_width, self.hires_height)
        elif self.hires_width or self.hires_height:
            target = (self.hires_width or self.hires_height * width // height,
                      self.hires_height or self.hires_width * height // width)
        else:
            target = (int(width * self.hires_scale), int(height * self.hires_scale))
        return max(8, target[0] // 8 * 8), max(8, target[1] // 8 * 8)

    @field_validator("sampler", "hires_sampler", mode="before")
    @classmethod
    def _known_sampler(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        name = canonical_sampler(value)
        if name is None:
            suggestions = closest(value, list(SAMPLER_NAMES))
            hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
            raise ValueError(
                f"unknown sampler {value!r}.{hint} Allowed: {', '.join(SAMPLER_NAMES)}"
            )
        return name

    @field_validator("schedule_type", "hires_schedule_type", mode="before")
    @classmethod
    def _known_schedule(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        name = canonical_schedule_type(value)
        if name is None:
            suggestions = closest(value, list(SCHEDULE_TYPE_NAMES))
            hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
            raise ValueError(f"unknown schedule type {value!r}.{hint} Allowed: {', '.join(SCHEDULE_TYPE_NAMES)}")
        return name

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            lower, upper = value - value % 8, value - value % 8 + 8
            raise ValueError(f"must be a multiple of 8, got {value} (nearest allowed: {max(lower, 8)} or {upper})")
        return value

    @model_validator(mode="before")
    @classmethod
    def _split_old_sampler_names(cls, data: Any) -> Any:
        # Pre-1.9 A1111 infotext and API clients write "DPM++ 2M Karras" as one sampler name.
        if isinstance(data, Mapping) and isinstance(data.get("sampler"), str):
            sampler, schedule = split_sampler_suffix(data["sampler"])
            if schedule is not None and data.get("schedule_type") in (None, "Automatic"):
                data = {**data, "sampler": sampler, "schedule_type": schedule}
        return data

    @model_validator(mode="after")
    def _resolve_automatic_schedule(self) -> Recipe:
        # A1111 turns "Automatic" into the sampler's default schedule and writes that label into the
        # infotext; storing the resolved label keeps Recipe -> infotext -> Recipe exact.
        known = SAMPLER_NAMES.get(self.sampler)
        default = known.default_schedule if known is not None else None
        if self.schedule_type == "Automatic" and default is not None:
            object.__setattr__(self, "schedule_type", default)
        return self

    @model_validator(mode="after")
    def _variation_needs_its_inputs(self) -> Recipe:
        if self.subseed_strength > 0 and self.subseed is None:
            raise ValueError(f"subseed_strength {self.subseed_strength} needs a subseed (the variation seed); "
                             "set subseed, or -1 for a random one")
        if (self.seed_resize_from_width is None) != (self.seed_resize_from_height is None):
            raise ValueError("seed_resize_from_width and seed_resize_from_height go together: set both or neither "
                             f"(got {self.seed_resize_from_width} and {self.seed_resize_from_height})")
        if self.mix_factor > 0 and self.mix_prompt is None:
            raise ValueError(f"mix_factor {self.mix_factor} needs a mix_prompt to mix in")
        return self

    @property
    def pictures_per_recipe(self) -> int:
        return self.batch_size * self.batch_count

    def image_seed(self, index: int) -> int:
        """Seed of picture `index` (0-based, across batches): seed + index, wrapping at 2**32.

        With a variation strength above 0 every picture keeps the seed and only the subseed moves (A1111's
        `process_images`), so a batch is "more like this" around one picture.
        """
        return (self.seed + (index if self.subseed_strength == 0 else 0)) % (MAX_SEED + 1)

    def image_subseed(self, index: int) -> int | None:
        """Variation seed of picture `index`: subseed + index, wrapping at 2**32 (None without a subseed)."""
        return None if self.subseed is None else (self.subseed + index) % (MAX_SEED + 1)

    def starting_at(self, index: int) -> Recipe:
        """The recipe whose first picture is this recipe's picture `index` (its seed and variation seed)."""
        return self.replace(seed=self.image_seed(index), subseed=self.image_subseed(index))

    def extra_dict(self) -> dict[str, str]:
        return dict(self.extra)

    def replace(self, **changes: Any) -> Recipe:
        """A validated copy with some fields changed."""
        return recipe_from(self.model_dump() | changes)


def recipe_from(data: Mapping[str, Any]) -> Recipe:
    """Validate `data` into a Recipe, turning pydantic's errors into one RecipeError a person can act on."""
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as error:
        raise recipe_error_from(error) from error


def recipe_error_from(error: ValidationError) -> RecipeError:
    """One message naming every bad field, the value received and the rule it broke."""
    lines = []
    first_field: str | None = None
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "recipe"
        first_field = first_field or field
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field; allowed fields: {', '.join(Recipe.model_fields)}"
        value = item.get("input")
        shown = "" if item["type"] in ("missing", "extra_forbidden") or "got" in message else f" (got {value!r})"
        lines.append(f"{field}: {message}{shown}")
    return RecipeError("invalid recipe: " + "; ".join(lines), field=first_field)
