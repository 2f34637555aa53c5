"""EmbeddingPlan: every setting of a textual-inversion run, validated at the edge and saved beside the result.

torch-free, like the LoRA TrainingPlan whose field names and run folder it shares. Defaults follow A1111's
"Train" tab (learning rate 0.005, no weight decay, init word "*"), except far fewer steps by default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sfumato.errors import RecipeError
from sfumato.models.embedding_files import ENCODER_WIDTHS
from sfumato.models.families import Family
from sfumato.train.lora.plan import LrScheduler, plan_file, validated_plan

SCHEMA_VERSION: Final = 1
RUN_PREFIX: Final = "embedding-"  # run folders: <home>/training/embedding-TOKEN, beside LoRA runs


class EmbeddingPlan(BaseModel):
    """One textual-inversion run: `token` is the trigger word and the file name (<home>/embeddings/TOKEN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["embedding"] = "embedding"
    schema_version: int = SCHEMA_VERSION
    token: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="Trigger word and file stem.")
    base: str = Field(min_length=1)
    base_hash: str | None = None
    family: str = Field(min_length=1)
    dataset: Path
    vectors: int = Field(default=1, ge=1, le=75, description="Token positions the word takes in a prompt.")
    init_word: str = Field(default="*", description="Vectors start as this word's token embeddings ('' = zeros).")
    template_lines: tuple[str, ...] = Field(min_length=1, description="Caption templates with [name], [filewords].")
    steps: int = Field(default=1000, ge=1)
    batch: int = Field(default=1, ge=1, le=256)
    resolution: int = Field(default=512, ge=16, le=4096)
    learning_rate: float = Field(default=5e-3, gt=0, le=10.0)
    lr_scheduler: LrScheduler = "constant"
    lr_warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float | None = Field(default=None, gt=0, description="None: no clipping (A1111's default).")
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    min_snr_gamma: float | None = Field(default=None, gt=0)
    noise_offset: float = Field(default=0.0, ge=0, le=1.0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    shuffle_tags: bool = False
    keep_tokens: int = Field(default=0, ge=0)
    caption_dropout: float = Field(default=0.0, ge=0, le=1.0, description="A1111's tag drop-out, per caption.")
    min_image_size: int = Field(default=64, ge=1)
    sample_prompts: tuple[str, ...] = ()
    sample_seeds: tuple[int, ...] = (0,)
    sample_every: int = Field(default=0, ge=0)
    sample_steps: int = Field(default=20, ge=1, le=150)
    sample_guidance: float = Field(default=7.0, ge=0, le=30)
    checkpoint_every: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _templates_name_the_token(self) -> EmbeddingPlan:
        for line in self.template_lines:
            if "[name]" not in line:
                raise ValueError(f"template_lines: every template line needs [name] (where {self.token!r} goes), "
                                 f"got {line!r}")
        return self

    @property
    def name(self) -> str:
        """The run's name: its folder under <home>/training and what `sfumato train status` shows."""
        return RUN_PREFIX + self.token

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def make_embedding_plan(fields: dict[str, Any]) -> EmbeddingPlan:
    return validated_plan(EmbeddingPlan, fields, "embedding training plan")


def read_embedding_plan(path: Path) -> EmbeddingPlan:
    return plan_file(path, EmbeddingPlan, "embedding training plan")


def check_family(family: Family, base: str) -> None:
    """Refuse a base model whose prompts cannot use an embedding (RecipeError naming the family).

    The embedding loader knows CLIP encoders only (models/embedding_files.ENCODER_WIDTHS): the embedded model's
    MiniLM encoder takes no embeddings at generation time, so none is trained for it; nor for SDXL's refiner,
    which only refines pictures.
    """
    if family not in ENCODER_WIDTHS or family is Family.SDXL_REFINER:
        usable = ", ".join(f.value for f in ENCODER_WIDTHS if f is not Family.SDXL_REFINER)
        raise RecipeError(f"--base: {base!r} is a {family.value} model; textual inversion needs a CLIP text encoder "
                          f"whose prompts take embeddings (families {usable}), got family {family.value!r}",
                          field="base", hint="train a LoRA for this model instead (`sfumato train lora`)")
