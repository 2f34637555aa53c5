"""Architecture identification: which `Family` a checkpoint is, read from tensor names and shapes only.

A single `.safetensors` file is judged from its header (keys, shapes, metadata), never its tensor data; a
diffusers folder from its JSON configs. Pickle checkpoints are refused before anything is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from safetensors import SafetensorError, safe_open

from sfumato.errors import BadInput, ModelNotFound, UnknownArchitecture, UnsafeCheckpoint
from sfumato.models.emoji_model import emoji_evidence
from sfumato.models.families import FAMILIES, Family

PICKLE_SUFFIXES: Final = (".ckpt", ".pt", ".pth", ".bin")
CONFIG_METADATA_KEY: Final = "sfumato_config"  # written by ldm_layout.save_single_file
UNET_FAMILY_KEY: Final = "_sfumato_family"  # written into unet/config.json by tiny.build_tiny_pipeline
INPAINT_IN_CHANNELS: Final = 9  # 4 noisy latents + 4 masked-image latents + 1 mask
SDXL_CONTEXT: Final = 2048  # CLIP-L 768 + bigG 1280
SDXL_DEEPEST_DEPTH: Final = 10  # transformer blocks per attention at SDXL base's deepest level

PredictionType = Literal["epsilon", "v_prediction"]
Base = Literal["sd1", "sd2", "sdxl", "refiner"]
_UNET: Final = "model.diffusion_model."
# Families that share a tensor layout: metadata may pick among them, never across them.
_BASE: Final[Mapping[Family, Base]] = {
    Family.SD1: "sd1", Family.SFUMATO_TINY: "sd1",
    Family.SD2: "sd2", Family.SD2_V: "sd2", Family.SD_TURBO: "sd2",
    Family.SDXL: "sdxl", Family.SDXL_TURBO: "sdxl", Family.SSD1B: "sdxl",
    Family.SDXL_REFINER: "refiner",
}
_TURBO: Final[Mapping[Base, Family]] = {"sd2": Family.SD_TURBO, "sdxl": Family.SDXL_TURBO}
# Metadata that names the model (ModelSpec, kohya's ss_*): searched for "turbo", "768", "v-pred". Hashes and
# free text are left out, where such digits or words turn up by chance.
_HINT_KEYS: Final = (
    "modelspec.architecture", "modelspec.title", "modelspec.resolution", "ss_sd_model_name", "ss_base_model_version",
)
_V_WORDS: Final = ("v_prediction", "v-prediction", "v-pred", "vpred", "v_pred")


@dataclass(frozen=True)
class Identification:
    family: Family
    is_inpainting: bool
    prediction_type: PredictionType
    layout: Literal["single-file", "diffusers"]
    evidence: str  # why: the keys, shapes and metadata that decided, for `models list` and error reports


@dataclass(frozen=True)
class _Facts:
    """What both layouts reduce to before the family is decided."""

    base: Base
    is_inpainting: bool
    is_trimmed: bool  # fewer transformer blocks than SDXL base somewhere (SSD-1B)
    named_family: str | None  # sfumato's own record of the family, if the model carries one
    prediction: PredictionType | None  # stated by the model, not guessed
    hints: tuple[str, ...]  # titles, architecture names, file name: searched for "turbo" and "768"
    evidence: tuple[str, ...]


def refuse_unsafe_file(path: Path) -> None:
    """Raise unless `path` names a safetensors file: pickles are refused with how to convert them."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeCheckpoint(
            f"model file: {path.name} is a pickle checkpoint ({suffix}); sfumato reads safetensors only, "
            "because unpickling can run code stored in the file",
            hint=f"sfumato models convert {path}",
        )
    if suffix != ".safetensors":
        raise BadInput(f"model file: suffix must be .safetensors (or a pickle to convert), got {suffix!r} ({path.name})")


def identify(path: Path) -> Identification:
    """Name the family of a `.safetensors` file or a diffusers folder.

    Raises:
        UnsafeCheckpoint: a pickle file (.ckpt/.pt/.pth/.bin); the hint names the convert command.
        UnknownArchitecture: the tensors or configs match no family; the message lists what was seen.
        BadInput / ModelNotFound: not a safetensors file or diffusers folder, or nothing at `path`.
    """
    path = Path(path)
    if path.is_dir():
        return _decide(_folder_facts(path), "diffusers")
    refuse_unsafe_file(path)
    if not path.is_file():
        raise ModelNotFound(f"model: no file or folder at {str(path)!r}")
    if (embedded := emoji_evidence(path)) is not None:  # diffusers-named tensors, not the LDM layout below
        return Identification(Family.SFUMATO_EMOJI, False, "epsilon", "single-file", embedded)
    return _decide(_file_facts(path), "single-file")


def _decide(facts: _Facts, layout: Literal["single-file", "diffusers"]) -> Identification:
    evidence = list(facts.evidence)
    family = {"sd1": Family.SD1, "sd2": Family.SD2, "sdxl": Family.SDXL, "refiner": Family.SDXL_REFINER}[facts.base]
    if facts.is_trimmed:
        family = Family.SSD1B
    hint_text = " ".join(facts.hints).lower()
    if facts.base in _TURBO and "turbo" in hint_text:
        family = _TURBO[facts.base]
        evidence.append("'turbo' in the title, architecture or name")
    if facts.named_family in {f.value for f in Family} and _BASE.get(Family(facts.named_family)) == facts.base:
        family = Family(facts.named_family)
        evidence.append(f"sfumato records the family as {family.value!r}")
    prediction = facts.prediction or FAMILIES[family].prediction_type
    if family is Family.SD2:
        if facts.prediction is None and ("768" in hint_text or any(w in hint_text for w in _V_WORDS)):
            prediction = "v_prediction"
            evidence.append("'768' or 'v-pred' in the title or name: a 768 v-prediction model")
        elif facts.prediction is None:
            evidence.append("prediction type not stated: guessed epsilon (SD 2.x 512 base)")
        family = Family.SD2_V if prediction == "v_prediction" else Family.SD2
    if facts.is_inpainting:
        evidence.append(f"{INPAINT_IN_CHANNELS}-channel UNet input: inpainting")
    return Identification(family, facts.is_inpainting, prediction, layout, "; ".join(evidence))


# --- single files -------------------------------------------------------------------------------------


def _file_facts(path: Path) -> _Facts:
    try:
        # framework="numpy": only names and shapes are read, so torch need not be imported.
        with safe_open(str(path), framework="numpy") as file:
            keys = frozenset(file.keys())
            shapes = {k: tuple(file.get_slice(k).get_shape()) for k in keys if _shape_needed(k)}
            metadata = dict(file.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise BadInput(f"model file: {path.name} is not a readable safetensors file ({e})") from e
    base, evidence = _file_base(keys, path)
    conv_in = shapes.get(f"{_UNET}input_blocks.0.0.weight", (0, 0))
    depths = _depths_by_channels(keys, shapes)
    context = _file_context(shapes)
    named, stated, source = _metadata_claims(metadata)
    if "v_pred" in keys and stated is None:  # a marker tensor some tools (ComfyUI) save with v-models
        stated, source = "v_prediction", "a 'v_pred' key"
    if stated is not None:
        evidence.append(f"prediction type {stated} from {source}")
    hints = (path.stem, *(metadata[k][:200] for k in _HINT_KEYS if k in metadata))
    return _Facts(
        base=base, is_inpainting=conv_in[1] == INPAINT_IN_CHANNELS,
        is_trimmed=base == "sdxl" and _is_trimmed(depths, context), named_family=named,
        prediction=stated, hints=hints, evidence=(*evidence, f"UNet context width {context}"),
    )


def _shape_needed(key: str) -> bool:
    return key == f"{_UNET}input_blocks.0.0.weight" or (
        key.startswith(_UNET) and key.endswith((".proj_in.weight", "attn2.to_k.weight"))
    )


def _file_base(keys: frozenset[str], path: Path) -> tuple[Base, list[str]]:
    has = lambda prefix: any(k.startswith(prefix) for k in keys)
    if not has(_UNET):
        raise UnknownArchitecture(f"model file: {path.name} has no UNet under {_UNET!r}; {_seen(keys)}")
    if has("conditioner.embedders.0.transformer.") and has("conditioner.embedders.1.model."):
        return "sdxl", ["conditioner.embedders.0 (CLIP-L) + .1 (OpenCLIP bigG): SDXL"]
    if has("conditioner.embedders.0.model.") and not has("conditioner.embedders.1."):
        return "refiner", ["only an OpenCLIP embedder (conditioner.embedders.0.model): SDXL refiner"]
    if has("cond_stage_model.model."):
        return "sd2", ["cond_stage_model.model (OpenCLIP text encoder): SD 2.x"]
    if has("cond_stage_model.transformer."):
        return "sd1", ["cond_stage_model.transformer (OpenAI CLIP text encoder): SD 1.x"]
    raise UnknownArchitecture(f"model file: {path.name} has a UNet but no text encoder layout sfumato knows; {_seen(keys)}")


def _seen(keys: Iterable[str]) -> str:
    prefixes = sorted({".".join(k.split(".")[:3]) for k in keys})
    shown = ", ".join(prefixes[:12]) + (f" and {len(prefixes) - 12} more" if len(prefixes) > 12 else "")
    return f"key prefixes seen: {shown or 'none'}"


def _file_context(shapes: Mapping[str, tuple[int, ...]]) -> int:
    widths = [shape[1] for key, shape in shapes.items() if key.endswith("attn2.to_k.weight") and len(shape) == 2]
    return max(widths, default=0)


def _depths_by_channels(keys: frozenset[str], shapes: Mapping[str, tuple[int, ...]]) -> dict[int, set[int]]:
    """{channels of a level: transformer depths of its attentions} over input and output blocks."""
    depth: dict[str, int] = {}
    for key in keys:
        if m := re.match(rf"{re.escape(_UNET)}((?:input|output)_blocks\.\d+\.1)\.transformer_blocks\.(\d+)\.", key):
            depth[m[1]] = max(depth.get(m[1], 0), int(m[2]) + 1)
    levels: dict[int, set[int]] = {}
    for block, n in depth.items():
        channels = shapes.get(f"{_UNET}{block}.proj_in.weight", (0,))[0]
        levels.setdefault(channels, set()).add(n)
    return levels


def _is_trimmed(depths: Mapping[int, set[int]], context: int) -> bool:
    """SSD-1B: some level's attentions differ in depth, or a full-size model's deepest level is under 10."""
    if any(len(found) > 1 for found in depths.values()):
        return True
    deepest = depths.get(max(depths, default=0), {SDXL_DEEPEST_DEPTH})
    return context == SDXL_CONTEXT and max(deepest) < SDXL_DEEPEST_DEPTH


def _metadata_claims(metadata: Mapping[str, str]) -> tuple[str | None, PredictionType | None, str]:
    """(family named by sfumato_config, stated prediction type, where it was stated)."""
    named: str | None = None
    raw = metadata.get(CONFIG_METADATA_KEY)
    if raw is not None:
        try:
            config = json.loads(raw)
        except json.JSONDecodeError:
            config = None
        if isinstance(config, dict):
            named = config.get("family") if isinstance(config.get("family"), str) else None
            scheduler = (config.get("components") or {}).get("scheduler") or {}
            if isinstance(scheduler, dict) and (stated := _prediction(scheduler.get("prediction_type"))):
                return named, stated, f"{CONFIG_METADATA_KEY} scheduler config"
    if stated := _prediction(metadata.get("modelspec.prediction_type")):
        return named, stated, "modelspec.prediction_type"
    return named, None, ""


def _prediction(value: object) -> PredictionType | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value in ("v", *_V_WORDS):
        return "v_prediction"
    return "epsilon" if value in ("epsilon", "eps") else None


# --- diffusers folders ----------------------------------------------------------------------------------


def _folder_facts(folder: Path) -> _Facts:
    index = _read_json(folder / "model_index.json", folder)
    unet = _read_json(folder / "unet" / "config.json", folder)
    present = {name for name, value in index.items() if isinstance(value, list) and value[:1] != [None]}
    text = _read_json(folder / "text_encoder" / "config.json", folder) if "text_encoder" in present else {}
    if "text_encoder_2" in present:
        base: Base = "sdxl" if "text_encoder" in present else "refiner"
        evidence = ["text_encoder + text_encoder_2: SDXL" if base == "sdxl" else "only text_encoder_2: SDXL refiner"]
    elif "text_encoder" in present:
        # OpenCLIP (SD2) uses plain GELU; OpenAI CLIP (SD1) the quick approximation.
        base = "sd2" if text.get("hidden_act") == "gelu" else "sd1"
        evidence = [f"text_encoder with hidden_act {text.get('hidden_act')!r}: SD {'2' if base == 'sd2' else '1'}.x"]
    else:
        raise UnknownArchitecture(f"model folder: {folder.name} has no text encoder; components: {sorted(present)}")
    scheduler_file = folder / "scheduler" / "scheduler_config.json"
    scheduler = _read_json(scheduler_file, folder) if scheduler_file.is_file() else {}
    stated = _prediction(scheduler.get("prediction_type"))
    width = unet.get("cross_attention_dim")
    context = width if isinstance(width, int) else 0
    named = unet.get(UNET_FAMILY_KEY)
    return _Facts(
        base=base, is_inpainting=unet.get("in_channels") == INPAINT_IN_CHANNELS,
        is_trimmed=base == "sdxl" and _is_trimmed(_config_depths(unet), context),
        named_family=named if isinstance(named, str) else None, prediction=stated, hints=(folder.name,),
        evidence=(*evidence, f"prediction type {stated} from the scheduler config" if stated else "no scheduler config"),
    )


def _config_depths(unet: Mapping[str, object]) -> dict[int, set[int]]:
    """The same {channels: depths} map as for single files, from a UNet config."""
    channels = [int(c) for c in unet.get("block_out_channels") or []]  # type: ignore[attr-defined]
    down = unet.get("transformer_layers_per_block") or 1
    down_depths = [int(d) for d in down] if isinstance(down, list) else [int(down)] * len(channels)  # type: ignore[call-overload]
    layers = int(unet.get("layers_per_block") or 1)  # type: ignore[call-overload]
    reverse = unet.get("reverse_transformer_layers_per_block")
    up_depths = reverse if isinstance(reverse, list) else [[d] * (layers + 1) for d in reversed(down_depths)]
    down_types = list(unet.get("down_block_types") or [])  # type: ignore[call-overload]
    up_types = list(unet.get("up_block_types") or [])  # type: ignore[call-overload]
    levels: dict[int, set[int]] = {}
    for i, width in enumerate(channels):
        if i < len(down_types) and "CrossAttn" in str(down_types[i]):
            levels.setdefault(width, set()).add(down_depths[i])
    for i, width in enumerate(reversed(channels)):
        if i < len(up_types) and "CrossAttn" in str(up_types[i]):
            levels.setdefault(width, set()).update(int(d) for d in up_depths[i])
    return levels


def _read_json(path: Path, folder: Path) -> dict[str, object]:
    if not path.is_file():
        raise UnknownArchitecture(f"model folder: {folder.name} has no {path.relative_to(folder)}; not a diffusers folder")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(f"model folder: {path.relative_to(folder)} is not readable JSON ({e})") from e
    if not isinstance(value, dict):
        raise BadInput(f"model folder: {path.relative_to(folder)} must hold a JSON object")
    return value
