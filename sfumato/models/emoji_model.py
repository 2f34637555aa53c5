"""The embedded model's file: one .safetensors holding the UNet and VAE, with their configs in its metadata.

The text encoder is not in the file: it is all-MiniLM-L6-v2 from its PyPI package (`models/minilm.py`). The
loader rebuilds a diffusers StableDiffusionPipeline from the file, so the engine runs it like any SD model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safetensors import SafetensorError, safe_open

from sfumato.errors import BadInput

if TYPE_CHECKING:
    import torch

FAMILY_METADATA_KEY: Final = "sfumato_family"
CONFIG_METADATA_KEY: Final = "sfumato_emoji_model"
FAMILY_VALUE: Final = "sfumato-emoji"  # Family.SFUMATO_EMOJI.value; a literal so this module stays table-free
SCHEMA_VERSION: Final = 1
COMPONENTS: Final = ("unet", "vae")
# The only classes the (untrusted) metadata may name for each component.
_CLASSES: Final[Mapping[str, str]] = {"unet": "UNet2DConditionModel", "vae": "AutoencoderKL"}


def emoji_evidence(path: Path) -> str | None:
    """Why `path` is an embedded-model file (from its header only), or None when it is not one."""
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = dict(file.metadata() or {})
    except (SafetensorError, OSError):
        return None
    if metadata.get(FAMILY_METADATA_KEY) != FAMILY_VALUE or CONFIG_METADATA_KEY not in metadata:
        return None
    return f"{FAMILY_METADATA_KEY}={FAMILY_VALUE!r} metadata with UNet and VAE configs: sfumato's embedded model"


def save_emoji_model(path: Path, *, unet: Any, vae: Any, scheduler_config: Mapping[str, Any],
                     max_tokens: int, extra: Mapping[str, Any] | None = None, fp16: bool = False) -> None:
    """Write the UNet and VAE weights and every config the loader needs into one safetensors file.

    `fp16` halves the file (the shipped model); the loader reads either into fp32 modules.
    """
    import torch
    from safetensors.torch import save

    from sfumato.atomic_write import atomic_write_bytes
    from sfumato.models.minilm import REQUIREMENT

    dtype = torch.float16 if fp16 else torch.float32
    tensors = {f"{name}.{key}": value.detach().to(dtype).cpu().contiguous()
               for name, module in (("unet", unet), ("vae", vae)) for key, value in module.state_dict().items()}
    config = {
        "schema_version": SCHEMA_VERSION,
        "unet": _plain(dict(unet.config)),
        "vae": _plain(dict(vae.config)),
        "scheduler": dict(scheduler_config),
        "text_encoder": {"requirement": REQUIREMENT, "max_tokens": max_tokens},
        **({"training": dict(extra)} if extra else {}),
    }
    metadata = {FAMILY_METADATA_KEY: FAMILY_VALUE, CONFIG_METADATA_KEY: json.dumps(config, sort_keys=True)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata))


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    # FrozenDict values (tuples, lists) through JSON; private keys (_use_default_values...) stay out.
    return {k: v for k, v in json.loads(json.dumps(config, default=list)).items() if not k.startswith("_")}


def read_emoji_config(path: Path) -> dict[str, Any]:
    """The file's parsed `sfumato_emoji_model` metadata."""
    try:
        with safe_open(str(path), framework="numpy") as file:
            raw = (file.metadata() or {}).get(CONFIG_METADATA_KEY)
    except (SafetensorError, OSError) as e:
        raise BadInput(f"model file: {Path(path).name} is not a readable safetensors file ({e})") from e
    try:
        config = json.loads(raw) if raw is not None else None
    except json.JSONDecodeError as e:
        raise BadInput(f"model file: {Path(path).name} has {CONFIG_METADATA_KEY} metadata that is not JSON") from e
    if not isinstance(config, dict) or config.get("schema_version") != SCHEMA_VERSION or not all(
        isinstance(config.get(name), dict) for name in (*COMPONENTS, "scheduler", "text_encoder")
    ):
        raise BadInput(f"model file: {Path(path).name}: {CONFIG_METADATA_KEY} must be schema_version "
                       f"{SCHEMA_VERSION} with unet, vae, scheduler and text_encoder objects")
    return config


def load_emoji_pipeline(path: Path, *, torch_dtype: torch.dtype | None = None) -> Any:
    """A StableDiffusionPipeline (UNet + VAE from the file, MiniLM from its package), offline."""
    # torch and diffusers load here, not at import: identify() reads this module's header check torch-free.
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from safetensors.torch import load_file

    from sfumato.models.minilm import load_minilm

    config = read_emoji_config(path)
    tensors = load_file(str(path))
    modules: dict[str, Any] = {}
    for name, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
        module = cls.from_config(_checked_config(config[name], name))
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise BadInput(f"model file: {Path(path).name}: {name} weights do not match its config ({e})") from e
        modules[name] = module.eval()
    encoder, tokenizer = load_minilm(max_tokens=int(config["text_encoder"]["max_tokens"]))
    pipe: Any = StableDiffusionPipeline(
        vae=modules["vae"], text_encoder=encoder, tokenizer=tokenizer, unet=modules["unet"],
        scheduler=DDIMScheduler.from_config(config["scheduler"]), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    return pipe.to(dtype=torch_dtype) if torch_dtype not in (None, torch.float32) else pipe


def _checked_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    claimed = config.get("_class_name", _CLASSES[name])
    if claimed != _CLASSES[name]:
        raise BadInput(f"model file metadata: {name} _class_name must be {_CLASSES[name]!r}, got {claimed!r}")
    return config
