"""Diffusers components -> the original (LDM / SGM) single-file layout that A1111 and ComfyUI checkpoints use.

`to_original_state_dict` renames (and where the layouts differ, reshapes) every tensor; `save_single_file`
writes it as safetensors with an `sfumato_config` metadata entry holding each component's diffusers config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

import torch
from diffusers import DiffusionPipeline
from diffusers.configuration_utils import ConfigMixin
from safetensors.torch import save
from torch import Tensor

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import UnknownArchitecture
from sfumato.models.families import Family

CONFIG_METADATA_KEY: Final = "sfumato_config"
UNET_PREFIX: Final = "model.diffusion_model."
VAE_PREFIX: Final = "first_stage_model."
TextLayout = Literal["clip", "openclip"]

# Where each family's text encoders live in the original file, and in which layout: OpenAI CLIP keeps the
# transformers names under `transformer.text_model.`; OpenCLIP (SD2's ViT-H, SDXL's bigG) has its own names.
_SD1_TEXT: Final = (("text_encoder", "cond_stage_model.transformer.", "clip"),)
_SD2_TEXT: Final = (("text_encoder", "cond_stage_model.model.", "openclip"),)
_SDXL_TEXT: Final = (
    ("text_encoder", "conditioner.embedders.0.transformer.", "clip"),
    ("text_encoder_2", "conditioner.embedders.1.model.", "openclip"),
)
TEXT_ENCODERS: Final[Mapping[Family, tuple[tuple[str, str, TextLayout], ...]]] = MappingProxyType({
    Family.SD1: _SD1_TEXT,
    Family.SFUMATO_TINY: _SD1_TEXT,
    Family.SD2: _SD2_TEXT,
    Family.SD2_V: _SD2_TEXT,
    Family.SD_TURBO: _SD2_TEXT,  # SD-Turbo is distilled from SD 2.1
    Family.SDXL: _SDXL_TEXT,
    Family.SDXL_TURBO: _SDXL_TEXT,
    Family.SSD1B: _SDXL_TEXT,
    Family.SDXL_REFINER: (("text_encoder_2", "conditioner.embedders.0.model.", "openclip"),),
})

_UNET_FIXED: Final = MappingProxyType({
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",  # SDXL's size / crop / aesthetic-score embedding
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
})
_RESNET: Final = MappingProxyType({
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
})
_VAE_ATTENTION: Final = MappingProxyType({
    "group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out",
})
_OPENCLIP_LAYER: Final = MappingProxyType({
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
})


def to_original_state_dict(pipe: DiffusionPipeline, family: Family) -> dict[str, Tensor]:
    """Every weight of `pipe` under the key (and shape) the original single-file layout of `family` uses."""
    if family not in TEXT_ENCODERS:
        raise UnknownArchitecture(
            f"family: {family.value!r} has no original single-file layout; known: {sorted(f.value for f in TEXT_ENCODERS)}"
        )
    out = {UNET_PREFIX + k: v for k, v in unet_to_original(pipe.unet.state_dict(), pipe.unet.config).items()}
    out |= {VAE_PREFIX + k: v for k, v in vae_to_original(pipe.vae.state_dict()).items()}
    for attr, prefix, layout in TEXT_ENCODERS[family]:
        weights = getattr(pipe, attr).state_dict()
        converted = clip_to_original(weights) if layout == "clip" else openclip_to_original(weights)
        out |= {prefix + k: v for k, v in converted.items()}
    return {k: v.detach().contiguous() for k, v in out.items()}


def unet_to_original(weights: Mapping[str, Tensor], config: Mapping[str, object]) -> dict[str, Tensor]:
    """UNet2DConditionModel keys -> `input_blocks` / `middle_block` / `output_blocks` (no prefix)."""
    layers = int(config["layers_per_block"])  # type: ignore[call-overload]
    with_attention = {int(k.split(".")[1]) for k in weights if re.match(r"up_blocks\.\d+\.attentions\.", k)}

    def resnet(rest: str) -> str:
        name, _, param = rest.rpartition(".")
        return f"{_RESNET.get(name, name)}.{param}"

    def up_sampler(m: re.Match[str]) -> str:
        block = int(m[1])
        # The upsampler sits in the block's last layer, after its attention when the level has one.
        return f"output_blocks.{block * (layers + 1) + layers}.{2 if block in with_attention else 1}.conv.{m[2]}"

    rules: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
        (r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda m: f"input_blocks.{1 + int(m[1]) * (layers + 1) + int(m[2])}.0.{resnet(m[3])}"),
        (r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)",
         lambda m: f"input_blocks.{1 + int(m[1]) * (layers + 1) + int(m[2])}.1.{m[3]}"),
        (r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)",
         lambda m: f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{m[2]}"),
        (r"mid_block\.resnets\.(\d+)\.(.+)", lambda m: f"middle_block.{2 * int(m[1])}.{resnet(m[2])}"),
        (r"mid_block\.attentions\.0\.(.+)", lambda m: f"middle_block.1.{m[1]}"),
        (r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda m: f"output_blocks.{int(m[1]) * (layers + 1) + int(m[2])}.0.{resnet(m[3])}"),
        (r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)",
         lambda m: f"output_blocks.{int(m[1]) * (layers + 1) + int(m[2])}.1.{m[3]}"),
        (r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", up_sampler),
        (r"(.+)\.(weight|bias)", lambda m: f"{_UNET_FIXED[m[1]]}.{m[2]}" if m[1] in _UNET_FIXED else ""),
    )
    return {_rename(key, rules, "unet"): value for key, value in weights.items()}


def vae_to_original(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """AutoencoderKL keys -> `encoder.down.N.block.M` / `decoder.up.N` / `mid.attn_1` (no prefix).

    The original VAE's mid-block attention uses 1x1 convolutions where diffusers uses linear layers, so those
    weights gain two trailing unit dimensions: (C, C) -> (C, C, 1, 1).
    """
    n_up = 1 + max((int(k.split(".")[2]) for k in weights if k.startswith("decoder.up_blocks.")), default=-1)

    def attention(m: re.Match[str]) -> str:
        name, _, param = m[3].rpartition(".")
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[name]}.{param}"

    rules: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda m: f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", lambda m: f"encoder.down.{m[1]}.downsample.conv.{m[2]}"),
        # Decoder levels are numbered from the bottom in the original layout, from the top in diffusers'.
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda m: f"decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)",
         lambda m: f"decoder.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}"),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", lambda m: f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"),
        (r"(encoder|decoder)\.mid_block\.attentions\.(0)\.(.+)", attention),
        (r"(encoder|decoder)\.conv_norm_out\.(.+)", lambda m: f"{m[1]}.norm_out.{m[2]}"),
        (r"((?:encoder|decoder)\.conv_(?:in|out)|quant_conv|post_quant_conv)\.(.+)", lambda m: f"{m[1]}.{m[2]}"),
    )
    out: dict[str, Tensor] = {}
    for key, value in weights.items():
        new = _rename(key, rules, "vae")
        is_attention_matrix = ".mid.attn_1." in new and new.endswith(".weight") and ".norm." not in new
        out[new] = value[:, :, None, None] if is_attention_matrix and value.dim() == 2 else value
    return out


def clip_to_original(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """CLIPTextModel keys -> `text_model.*` (transformers 5 dropped that prefix from CLIPTextModel)."""
    return {(k if k.startswith("text_model.") else f"text_model.{k}"): v for k, v in weights.items()}


def openclip_to_original(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """CLIPTextModel(WithProjection) -> OpenCLIP's text tower: fused q/k/v, `resblocks`, `ln_final`, ...

    OpenCLIP multiplies `x @ text_projection`, so its matrix is the transpose of the diffusers Linear weight.
    SD2's encoder has no projection in diffusers (SD never uses it); an identity stands in for it so the
    file has every key an OpenCLIP checkpoint has.
    """
    w = {k.removeprefix("text_model."): v for k, v in weights.items()}
    out: dict[str, Tensor] = {
        "token_embedding.weight": w.pop("embeddings.token_embedding.weight"),
        "positional_embedding": w.pop("embeddings.position_embedding.weight"),
        "ln_final.weight": w.pop("final_layer_norm.weight"),
        "ln_final.bias": w.pop("final_layer_norm.bias"),
    }
    projection = w.pop("text_projection.weight", None)
    width = out["positional_embedding"].shape[-1]
    out["text_projection"] = torch.eye(width) if projection is None else projection.T
    layers = sorted({int(k.split(".")[2]) for k in w if k.startswith("encoder.layers.")})
    for n in layers:
        src, dst = f"encoder.layers.{n}.", f"transformer.resblocks.{n}."
        for param in ("weight", "bias"):
            qkv = [w.pop(f"{src}self_attn.{p}_proj.{param}") for p in "qkv"]
            out[f"{dst}attn.in_proj_{param}"] = torch.cat(qkv, dim=0)  # (3 * width, width) / (3 * width,)
            for old, new in _OPENCLIP_LAYER.items():
                out[f"{dst}{new}.{param}"] = w.pop(f"{src}{old}.{param}")
    if w:
        raise UnknownArchitecture(f"text encoder: keys with no OpenCLIP name: {sorted(w)[:5]}")
    return out


def sfumato_config(pipe: DiffusionPipeline, family: Family) -> dict[str, object]:
    """The diffusers configs of every component, enough to rebuild a config folder for `from_single_file`."""
    components: dict[str, object] = {}
    tokenizers: dict[str, str] = {}
    for name, component in pipe.components.items():
        if component is None:
            continue
        if name.startswith("tokenizer"):
            tokenizers[name] = "clip-pad0" if component.pad_token == "!" else "clip"
        elif isinstance(component, ConfigMixin):  # diffusers model or scheduler
            components[name] = json.loads(component.to_json_string())
        else:  # transformers model
            components[name] = json.loads(component.config.to_json_string(use_diff=False))
    model_index = json.loads(json.dumps(dict(pipe.config), default=list))
    return {"family": family.value, "model_index": model_index, "components": components, "tokenizers": tokenizers}


def save_single_file(
    pipe: DiffusionPipeline, family: Family, path: Path, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write `pipe` as one original-layout safetensors file carrying its configs in `sfumato_config`."""
    header = {"format": "pt", **(metadata or {})}
    header[CONFIG_METADATA_KEY] = json.dumps(sfumato_config(pipe, family), sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: a crash never leaves half a model where the library would find it.
    atomic_write_bytes(path, save(to_original_state_dict(pipe, family), metadata=header))
    return path


def _rename(key: str, rules: tuple[tuple[str, Callable[[re.Match[str]], str]], ...], part: str) -> str:
    for pattern, build in rules:
        if (m := re.fullmatch(pattern, key)) and (new := build(m)):
            return new
    raise UnknownArchitecture(f"{part}: diffusers key {key!r} has no name in the original single-file layout")
