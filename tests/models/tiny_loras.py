"""Tiny LoRA files for tests, from a fixed seed: kohya/A1111 keys (LoRA and LoCon), diffusers/peft keys, LoHa.

Key names are written by hand from the tiny pipeline's module names, as kohya_ss names them: SD 1.x keys use
diffusers' module names with `_` for `.`; SDXL keys use the SGM (original) UNet names, as kohya's SDXL trainer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

import torch
from safetensors.torch import save_file

from sfumato.models.families import Family
from sfumato.models.ldm_layout import unet_to_original
from sfumato.models.tiny import build_tiny_pipeline

Layout = Literal["kohya", "locon", "peft", "loha"]
# What kohya's default LoRA network targets: attention and feed-forward linears, projections, CLIP attention/MLP.
_LINEAR = re.compile(r"(attn[12]\.to_(q|k|v|out\.0)|ff\.net\.(0\.proj|2)|proj_in|proj_out|"
                     r"self_attn\.(q|k|v|out)_proj|mlp\.fc[12])$")
_CONV = re.compile(r"resnets\.\d+\.conv[12]$")


def _targets(module: torch.nn.Module, *, conv: bool) -> list[tuple[str, torch.nn.Module]]:
    found = []
    for name, child in module.named_modules():
        if isinstance(child, torch.nn.Linear) and _LINEAR.search(name):
            found.append((name, child))
        elif isinstance(child, torch.nn.Conv2d) and (_LINEAR.search(name) or conv and _CONV.search(name)):
            found.append((name, child))
    return found


def _pair(child: torch.nn.Module, rank: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # (down, up); up is not zero (as after training) so the LoRA visibly changes pictures.
    if isinstance(child, torch.nn.Linear):
        return (torch.randn(rank, child.in_features, generator=generator) * 0.3,
                torch.randn(child.out_features, rank, generator=generator) * 0.3)
    assert isinstance(child, torch.nn.Conv2d)
    return (torch.randn(rank, child.in_channels, *child.kernel_size, generator=generator) * 0.3,
            torch.randn(child.out_channels, rank, 1, 1, generator=generator) * 0.3)


def _kohya_unet_name(pipe: Any, name: str, child: torch.nn.Module, *, sgm: bool) -> str:
    if sgm:
        name = next(iter(unet_to_original({f"{name}.weight": child.weight}, pipe.unet.config)))
        name = name.removesuffix(".weight")
    return "lora_unet_" + name.replace(".", "_")


def _encoders(pipe: Any) -> list[tuple[str, str, torch.nn.Module]]:
    """(kohya prefix, diffusers prefix, module) per CLIP text encoder of the pipeline."""
    second = getattr(pipe, "text_encoder_2", None)
    if second is None:
        return [("lora_te_", "text_encoder", pipe.text_encoder)]
    return [("lora_te1_", "text_encoder", pipe.text_encoder), ("lora_te2_", "text_encoder_2", second)]


def build_lora(pipe: Any, layout: Layout, *, seed: int, rank: int = 2,
               text_encoder: bool = True) -> dict[str, torch.Tensor]:
    """A LoRA state dict in `layout` whose keys match `pipe`'s modules; the same seed gives the same tensors."""
    generator = torch.Generator().manual_seed(seed)
    sgm = getattr(pipe, "text_encoder_2", None) is not None
    tensors: dict[str, torch.Tensor] = {}
    unet = [(_kohya_unet_name(pipe, n, c, sgm=sgm) if layout != "peft" else f"unet.{n}", c)
            for n, c in _targets(pipe.unet, conv=layout == "locon")]
    encoders = [(kohya + n.replace(".", "_") if layout != "peft" else f"{prefix}.{n}", c)
                for kohya, prefix, enc in (_encoders(pipe) if text_encoder else []) for n, c in _targets(enc, conv=False)]
    for key, child in unet + encoders:
        down, up = _pair(child, rank, generator)
        if layout == "peft":
            tensors[f"{key}.lora_A.weight"], tensors[f"{key}.lora_B.weight"] = down, up
        elif layout == "loha":
            tensors[f"{key}.hada_w1_a"], tensors[f"{key}.hada_w1_b"] = up, down
            tensors[f"{key}.hada_w2_a"], tensors[f"{key}.hada_w2_b"] = up.clone(), down.clone()
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
        else:
            tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"] = down, up
            tensors[f"{key}.alpha"] = torch.tensor(rank / 2)  # alpha/rank = 0.5 scales the update, as kohya
    return tensors


def save_lora(tensors: dict[str, torch.Tensor], path: Path, *, metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


KOHYA_SD1: Final = {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"}


def lora_home(root: Path) -> Path:
    """A sfumato home with a tiny SDXL model and LoRAs in A1111's and ComfyUI's folders:
    ink (kohya SD1, with text encoder), styles/locon (LoCon), peft (diffusers layout, models/loras), loha, xl (SDXL).
    """
    sd1 = build_tiny_pipeline(Family.SD1)  # the same module layout as the built-in sfumato-tiny
    sdxl = build_tiny_pipeline(Family.SDXL, seed=1)
    sdxl.save_pretrained(root / "models" / "Stable-diffusion" / "tiny-xl")
    loras = root / "models" / "Lora"
    save_lora(build_lora(sd1, "kohya", seed=1), loras / "ink.safetensors", metadata=KOHYA_SD1)
    save_lora(build_lora(sd1, "locon", seed=2, text_encoder=False), loras / "styles" / "locon.safetensors")
    save_lora(build_lora(sd1, "peft", seed=3), root / "models" / "loras" / "peft.safetensors")
    save_lora(build_lora(sd1, "loha", seed=4), loras / "loha.safetensors")
    save_lora(build_lora(sdxl, "kohya", seed=5), loras / "xl.safetensors")
    return root
