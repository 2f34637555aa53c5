"""Pipeline loader: a diffusers folder or a .safetensors single file -> DiffusionPipeline, strictly offline.

diffusers' `from_single_file` fetches config folders from the hub unless it is handed a local one, so every
single file gets one: the family's folder bundled under `configs/`, or one written from the file's own
`sfumato_config` metadata (sfumato's tiny models). Pickle weights are refused, never loaded.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

import diffusers
import torch
from diffusers import DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from safetensors import SafetensorError, safe_open
from transformers import CLIPTokenizer

from sfumato.errors import BadInput, ModelNotFound, UnsafeCheckpoint
from sfumato.models.convert import PICKLE_SUFFIXES
from sfumato.models.emoji_model import load_emoji_pipeline
from sfumato.models.families import FAMILIES, Family
from sfumato.models.identify import Identification, refuse_unsafe_file

CONFIGS_ROOT: Final = Path(__file__).resolve().parent / "configs"
TOKENIZERS_ROOT: Final = Path(__file__).resolve().parent / "tokenizers"
CONFIG_METADATA_KEY: Final = "sfumato_config"  # written by ldm_layout.save_single_file

# Which shipped tokenizer each family's tokenizers use: "clip" pads with <|endoftext|> (OpenAI CLIP-L),
# "clip-pad0" pads with "!" (OpenCLIP: SD2's ViT-H, SDXL's bigG), as the public repos' tokenizer folders do.
_SD1_TOKENIZERS: Final = MappingProxyType({"tokenizer": "clip"})
_SD2_TOKENIZERS: Final = MappingProxyType({"tokenizer": "clip-pad0"})
_SDXL_TOKENIZERS: Final = MappingProxyType({"tokenizer": "clip", "tokenizer_2": "clip-pad0"})
TOKENIZERS: Final[Mapping[Family, Mapping[str, str]]] = MappingProxyType(
    {
        Family.SD1: _SD1_TOKENIZERS,
        Family.SFUMATO_TINY: _SD1_TOKENIZERS,
        Family.SD2: _SD2_TOKENIZERS,
        Family.SD2_V: _SD2_TOKENIZERS,
        Family.SD_TURBO: _SD2_TOKENIZERS,
        Family.SDXL: _SDXL_TOKENIZERS,
        Family.SDXL_TURBO: _SDXL_TOKENIZERS,
        Family.SSD1B: _SDXL_TOKENIZERS,
        Family.SDXL_REFINER: MappingProxyType({"tokenizer_2": "clip-pad0"}),
    }
)
# Inpainting checkpoints (9-channel UNet input) need the inpainting variant of the family's pipeline.
INPAINT_PIPELINES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "StableDiffusionPipeline": "StableDiffusionInpaintPipeline",
        "StableDiffusionXLPipeline": "StableDiffusionXLInpaintPipeline",
        "StableDiffusionXLImg2ImgPipeline": "StableDiffusionXLInpaintPipeline",
    }
)
INPAINT_IN_CHANNELS: Final = 9  # 4 noisy latents + 4 masked-image latents + 1 mask

# The only classes a config folder written from file metadata may name: the metadata is untrusted, and
# diffusers imports whatever library/class model_index.json names.
_MODEL_CLASSES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "unet": ("diffusers", "UNet2DConditionModel"),
        "vae": ("diffusers", "AutoencoderKL"),
        "text_encoder": ("transformers", "CLIPTextModel"),
        "text_encoder_2": ("transformers", "CLIPTextModelWithProjection"),
    }
)
_TOKENIZER_CLASS: Final = ("transformers", "CLIPTokenizer")


def load_pipeline(
    path: Path, identification: Identification, *, torch_dtype: torch.dtype
) -> DiffusionPipeline:
    """Load a diffusers folder or a single .safetensors file as `identification.family`'s pipeline, offline.

    Raises:
        ModelNotFound: nothing at `path`.
        UnsafeCheckpoint: pickle weights (.ckpt/.pt/.pth/.bin); the hint names the convert command.
        BadInput: a file that is neither safetensors nor pickle, or unreadable safetensors.
    """
    path = Path(path)
    if not path.exists():
        raise ModelNotFound(f"model: no file or folder at {str(path)!r}")
    if identification.family is Family.SFUMATO_EMOJI:  # UNet + VAE in one file, MiniLM from its package
        return load_emoji_pipeline(path, torch_dtype=torch_dtype)
    pipeline_class = _pipeline_class(identification)
    if path.is_dir():
        pipe = _load_folder(pipeline_class, path, torch_dtype=torch_dtype)
    else:
        pipe = _load_single_file(pipeline_class, path, identification, torch_dtype=torch_dtype)
    _apply_prediction_type(pipe, identification.prediction_type)
    return pipe


def _pipeline_class(identification: Identification) -> type[DiffusionPipeline]:
    name = FAMILIES[identification.family].pipeline
    if identification.is_inpainting:
        name = INPAINT_PIPELINES[name]
    pipeline_class: type[DiffusionPipeline] = getattr(diffusers, name)
    return pipeline_class


def _no_safety_checker(pipeline_class: type[DiffusionPipeline]) -> dict[str, object]:
    # A local studio renders what its user asks for; SD1's hub folders would otherwise load a 1.2 GB checker.
    parameters = inspect.signature(pipeline_class.__init__).parameters
    if "safety_checker" not in parameters:
        return {}
    return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def _load_folder(
    pipeline_class: type[DiffusionPipeline], folder: Path, *, torch_dtype: torch.dtype
) -> DiffusionPipeline:
    if not (folder / "model_index.json").is_file():
        raise ModelNotFound(
            f"model folder: {str(folder)!r} has no model_index.json, so it is not a diffusers folder"
        )
    _refuse_pickle_only_components(folder)
    pipe: DiffusionPipeline = pipeline_class.from_pretrained(  # type: ignore[no-untyped-call]
        str(folder),
        torch_dtype=torch_dtype,
        local_files_only=True,
        use_safetensors=True,
        **_no_safety_checker(pipeline_class),
    )
    return pipe


def _refuse_pickle_only_components(folder: Path) -> None:
    for component in sorted(p for p in folder.iterdir() if p.is_dir()):
        weights = [p for p in component.iterdir() if p.is_file()]
        pickles = [p for p in weights if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles and not any(p.suffix.lower() == ".safetensors" for p in weights):
            raise UnsafeCheckpoint(
                f"model folder: component {component.name!r} has only pickle weights ({pickles[0].name}); "
                "sfumato loads safetensors only, because unpickling can run code stored in the file",
                hint=f"sfumato models convert {pickles[0]}",
            )


def _load_single_file(
    pipeline_class: type[DiffusionPipeline],
    path: Path,
    identification: Identification,
    *,
    torch_dtype: torch.dtype,
) -> DiffusionPipeline:
    refuse_unsafe_file(path)
    family = identification.family
    kwargs: dict[str, object] = {
        "torch_dtype": torch_dtype,
        "local_files_only": True,
        **_no_safety_checker(pipeline_class),
    }
    if identification.is_inpainting:
        kwargs["num_in_channels"] = INPAINT_IN_CHANNELS  # only the UNet maps this legacy keyword
    metadata = _read_metadata(path)
    if CONFIG_METADATA_KEY in metadata:
        shipped = _parse_shipped_config(metadata[CONFIG_METADATA_KEY], path)
        with tempfile.TemporaryDirectory(prefix="sfumato-config-") as folder:
            tokenizers = _write_config_folder(Path(folder), pipeline_class, shipped, family)
            return _from_single_file(pipeline_class, path, Path(folder), tokenizers, kwargs)
    config_folder = FAMILIES[family].config_folder
    if config_folder is None:
        raise BadInput(
            f"model file: {path.name} is identified as {family.value!r}, which has no bundled config folder, "
            f"and the file carries no {CONFIG_METADATA_KEY!r} metadata to rebuild one from"
        )
    return _from_single_file(pipeline_class, path, CONFIGS_ROOT / config_folder, TOKENIZERS[family], kwargs)


def _from_single_file(
    pipeline_class: type[DiffusionPipeline],
    path: Path,
    config_folder: Path,
    tokenizers: Mapping[str, str],
    kwargs: Mapping[str, object],
) -> DiffusionPipeline:
    loaded = {
        name: CLIPTokenizer.from_pretrained(str(TOKENIZERS_ROOT / folder))
        for name, folder in tokenizers.items()
    }
    pipe: DiffusionPipeline = pipeline_class.from_single_file(
        str(path), config=str(config_folder), **loaded, **kwargs
    )
    return pipe


def _read_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as file:
            return dict(file.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise BadInput(f"model file: {path.name} is not a readable safetensors file ({e})") from e


def _parse_shipped_config(raw: str, path: Path) -> Mapping[str, object]:
    try:
        shipped = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadInput(
            f"model file: {path.name} has {CONFIG_METADATA_KEY!r} metadata that is not JSON ({e})"
        ) from e
    if not isinstance(shipped, dict) or not isinstance(shipped.get("components"), dict):
        raise BadInput(
            f"model file: {path.name} has {CONFIG_METADATA_KEY!r} metadata without a 'components' object"
        )
    return shipped


def _write_config_folder(
    folder: Path, pipeline_class: type[DiffusionPipeline], shipped: Mapping[str, object], family: Family
) -> Mapping[str, str]:
    """Write a diffusers config folder from file metadata; returns {tokenizer name: shipped folder}."""
    components = shipped["components"]
    assert isinstance(components, dict)  # checked by _parse_shipped_config
    expected = set(inspect.signature(pipeline_class.__init__).parameters)
    index: dict[str, object] = {"_class_name": pipeline_class.__name__}
    for name in sorted(expected & (set(_MODEL_CLASSES) | {"scheduler"})):
        config = components.get(name)
        if not isinstance(config, dict):
            index[name] = [None, None]
            continue
        index[name] = (
            _MODEL_CLASSES[name] if name in _MODEL_CLASSES else ("diffusers", _scheduler_class(config))
        )
        filename = "scheduler_config.json" if name == "scheduler" else "config.json"
        (folder / name).mkdir()
        (folder / name / filename).write_text(json.dumps(config), encoding="utf-8")
    tokenizers = _shipped_tokenizers(shipped.get("tokenizers"), family)
    for name in sorted(expected & {"tokenizer", "tokenizer_2"}):
        index[name] = _TOKENIZER_CLASS if name in tokenizers else [None, None]
    # Pipeline flags (force_zeros_for_empty_prompt, requires_aesthetics_score, ...) are plain booleans.
    shipped_index = shipped.get("model_index")
    if isinstance(shipped_index, dict):
        index |= {k: v for k, v in shipped_index.items() if k in expected and isinstance(v, bool)}
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return tokenizers


def _scheduler_class(config: Mapping[str, object]) -> str:
    name = config.get("_class_name")
    candidate = getattr(diffusers, name, None) if isinstance(name, str) else None
    if not (isinstance(candidate, type) and issubclass(candidate, SchedulerMixin)):
        raise BadInput(
            f"model file metadata: scheduler _class_name must name a diffusers scheduler, got {name!r}"
        )
    return str(name)


def _shipped_tokenizers(value: object, family: Family) -> Mapping[str, str]:
    if value is None:
        return TOKENIZERS[family]
    allowed = {p.name for p in TOKENIZERS_ROOT.iterdir() if p.is_dir()}
    if not isinstance(value, dict) or not all(
        k in ("tokenizer", "tokenizer_2") and v in allowed for k, v in value.items()
    ):
        raise BadInput(
            "model file metadata: tokenizers must map tokenizer/tokenizer_2 to one of "
            f"{sorted(allowed)}, got {value!r}"
        )
    return MappingProxyType(dict(value))


def _apply_prediction_type(pipe: DiffusionPipeline, prediction_type: str | None) -> None:
    # The checkpoint decides (SD2 512 models predict epsilon, 768 models v); the config folder only guesses.
    scheduler = pipe.components["scheduler"]  # type: ignore[attr-defined]
    if prediction_type is None or scheduler.config.get("prediction_type") == prediction_type:
        return
    pipe.register_modules(  # type: ignore[attr-defined]
        scheduler=type(scheduler).from_config(scheduler.config, prediction_type=prediction_type)
    )
