"""TrainingPlan: every setting of a LoRA (or full fine-tune) run, validated once at the edge and saved beside
the result.

torch-free, so the CLI builds and checks it before anything heavy loads. It is written into the LoRA file's
metadata (`sfumato_training_plan`; a full fine-tune's model file too) and as `plan.json` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sfumato.errors import BadInput

PlanT = TypeVar("PlanT", bound=BaseModel)

SCHEMA_VERSION: Final = 1
# diffusers.optimization.SchedulerType values that need no extra arguments.
LR_SCHEDULERS: Final = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
LrScheduler = Literal["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"]


class TrainingPlan(BaseModel):
    """One LoRA training run. Defaults follow diffusers' train_text_to_image_lora scripts and kohya's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="LoRA file name, <lora:NAME:w>.")
    base: str = Field(min_length=1, description="Base model name in the library.")
    base_hash: str | None = Field(default=None, description="sha256 of the base model file (cache key, metadata).")
    family: str = Field(min_length=1, description="The base model's family (models/families.py).")
    dataset: Path
    steps: int = Field(default=1000, ge=1)
    batch: int = Field(default=1, ge=1, le=256)
    resolution: int = Field(default=512, ge=16, le=4096)
    rank: int = Field(default=16, ge=1, le=1024)
    alpha: float = Field(default=16.0, gt=0, description="LoRA scale is alpha / rank.")
    unet_target_modules: tuple[str, ...] = Field(min_length=1)
    text_target_modules: tuple[str, ...] = ()
    train_text_encoder: bool = False
    learning_rate: float = Field(default=1e-4, gt=0, le=1.0)
    text_encoder_lr: float | None = Field(default=None, gt=0, le=1.0)
    lr_scheduler: LrScheduler = "constant"
    lr_warmup_steps: int = Field(default=0, ge=0)
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    weight_decay: float = Field(default=1e-2, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    min_snr_gamma: float | None = Field(default=5.0, gt=0, description="Min-SNR weighting (Hang et al. 2023).")
    noise_offset: float = Field(default=0.0, ge=0, le=1.0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    shuffle_tags: bool = False
    keep_tokens: int = Field(default=0, ge=0, description="Leading tags that shuffling leaves in place.")
    caption_dropout: float = Field(default=0.0, ge=0, le=1.0)
    min_image_size: int = Field(default=64, ge=1)
    sample_prompts: tuple[str, ...] = ()
    sample_seeds: tuple[int, ...] = (0,)
    sample_every: int = Field(default=0, ge=0, description="0: samples only at the end.")
    sample_steps: int = Field(default=20, ge=1, le=150)
    sample_guidance: float = Field(default=7.0, ge=0, le=30)
    checkpoint_every: int = Field(default=500, ge=1)
    # DreamBooth (Ruiz et al. 2023): an instance prompt for uncaptioned pictures, and prior preservation on
    # class pictures the base model made itself.
    instance_prompt: str = Field(default="", description="Caption of dataset pictures without a .txt caption.")
    class_data: Path | None = Field(default=None, description="Folder of class (regularisation) pictures.")
    class_prompt: str = ""
    prior_loss_weight: float = Field(default=1.0, ge=0)
    # What the run writes: a LoRA (rank, alpha and target modules apply), or every UNet weight (and the text
    # encoders' with train_text_encoder) trained and saved as a new model in the library's checkpoint folder.
    output: Literal["lora", "full"] = "lora"

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPlan:
        if self.train_text_encoder and not self.text_target_modules:
            raise ValueError(f"train_text_encoder: the {self.family} family has no text-encoder LoRA targets "
                             "(its text encoder stays frozen); leave it off")
        if self.class_data is not None and not self.class_prompt.strip():
            raise ValueError("class_prompt: prior preservation needs the class pictures' prompt, got ''")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def validated_plan(kind: type[PlanT], fields: dict[str, Any], what: str) -> PlanT:
    """A plan of `kind` from user input; pydantic's errors become one BadInput naming each field and value."""
    try:
        return kind(**fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'plan'}: {err['msg']} (got {err.get('input')!r})"
                             for err in e.errors())
        raise BadInput(f"{what}: {problems}") from e


def plan_file(path: Path, kind: type[PlanT], what: str) -> PlanT:
    """The plan a run folder's JSON holds, validated as `validated_plan` does."""
    try:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadInput(f"{what}: {str(path)!r} is not JSON ({e})") from e
    return validated_plan(kind, fields, what)


def make_plan(fields: dict[str, Any]) -> TrainingPlan:
    return validated_plan(TrainingPlan, fields, "training plan")


def read_plan(path: Path) -> TrainingPlan:
    return plan_file(path, TrainingPlan, "training plan")
