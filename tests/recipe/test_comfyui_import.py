"""ComfyUI PNGs: the API-format `prompt` graph is translated to a Recipe."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from sfumato.errors import BadInput
from sfumato.comfyui_graph import recipe_from_comfyui
from sfumato.picture_file import read_metadata
from sfumato.recipe import AdapterRef

# ComfyUI's default text-to-image graph (API format, as SaveImage writes it) with two LoRAs and a hires pass.
GRAPH: dict[str, Any] = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208, "steps": 25, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "denoise": 1.0, "model": ["11", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "SD1.5\\v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 2}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {
        "text": "beautiful scenery, glass bottle: purple galaxy", "clip": ["11", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["11", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    "10": {"class_type": "LoraLoader", "inputs": {
        "lora_name": "add_detail.safetensors", "strength_model": 0.5, "strength_clip": 0.5,
        "model": ["4", 0], "clip": ["4", 1]}},
    "11": {"class_type": "LoraLoader", "inputs": {
        "lora_name": "styles/watercolor.safetensors", "strength_model": 0.8, "strength_clip": 1.0,
        "model": ["10", 0], "clip": ["10", 1]}},
    "12": {"class_type": "LatentUpscaleBy", "inputs": {
        "upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]}},
    "13": {"class_type": "KSampler", "inputs": {
        "seed": 1, "steps": 10, "cfg": 5, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5,
        "model": ["11", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["12", 0]}},
}
WORKFLOW = {"last_node_id": 13, "nodes": [{"id": 3, "type": "KSampler"}], "links": [], "version": 0.4}


def _comfy_png(path: Path, graph: dict[str, Any]) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    info.add_text("workflow", json.dumps(WORKFLOW))
    Image.new("RGB", (16, 16), "purple").save(path, pnginfo=info)
    return path


def test_comfyui_png_reads_to_the_first_pass_recipe(tmp_path: Path) -> None:
    meta = read_metadata(_comfy_png(tmp_path / "ComfyUI_00001_.png", GRAPH))
    recipe = meta.recipe
    assert meta.source == "comfyui" and meta.batch is None and meta.raw["3"]["class_type"] == "KSampler"
    assert recipe.prompt == "beautiful scenery, glass bottle: purple galaxy"
    assert recipe.negative_prompt == "text, watermark"
    assert recipe.model == "v1-5-pruned-emaonly"
    assert (recipe.seed, recipe.steps, recipe.guidance_scale) == (156680208, 25, 6.5)
    assert (recipe.sampler, recipe.schedule_type) == ("DPM++ 2M", "Karras")
    assert (recipe.width, recipe.height, recipe.batch_size) == (512, 768, 2)
    assert recipe.denoising_strength is None
    assert recipe.adapters == (AdapterRef(name="add_detail", weight=0.5), AdapterRef(name="watercolor", weight=0.8))
    assert recipe.extra == (("ComfyUI LoRA clip strength watercolor", "1.0"),)


@pytest.mark.parametrize(("sampler", "scheduler", "ours", "extra"), [
    ("euler_ancestral", "normal", ("Euler a", "Uniform"), ()),
    ("dpmpp_2m_sde_gpu", "exponential", ("DPM++ 2M SDE", "Exponential"), ()),
    ("dpmpp_3m_sde", "sgm_uniform", ("DPM++ 3M SDE", "SGM Uniform"), ()),
    ("uni_pc", "simple", ("UniPC", "Simple"), ()),
    ("lcm", "beta", ("LCM", "Beta"), ()),
    ("dpm_2_ancestral", "karras", ("DPM2 a", "Karras"), ()),
    ("euler_cfg_pp", "kl_optimal", ("DPM++ 2M", "Karras"),
     (("ComfyUI sampler", "euler_cfg_pp"), ("ComfyUI scheduler", "kl_optimal"))),
])
def test_comfyui_sampler_and_scheduler_names(
    sampler: str, scheduler: str, ours: tuple[str, str], extra: tuple[tuple[str, str], ...]
) -> None:
    graph = copy.deepcopy(GRAPH)
    graph["3"]["inputs"] |= {"sampler_name": sampler, "scheduler": scheduler}
    recipe = recipe_from_comfyui(graph)
    assert (recipe.sampler, recipe.schedule_type) == ours
    assert tuple(pair for pair in recipe.extra if not pair[0].startswith("ComfyUI LoRA")) == extra


def test_comfyui_img2img_and_big_seed() -> None:
    graph = copy.deepcopy(GRAPH)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}
    graph["21"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["4", 2]}}
    graph["3"]["inputs"] |= {"latent_image": ["21", 0], "denoise": 0.6, "seed": 2**40}
    recipe = recipe_from_comfyui(graph)
    assert recipe.denoising_strength == 0.6
    assert ("ComfyUI seed", str(2**40)) in recipe.extra
    assert (recipe.width, recipe.height) == (512, 512)  # no empty latent to read a size from


def test_comfyui_advanced_sampler_with_linked_seed() -> None:
    graph = copy.deepcopy(GRAPH)
    inputs = graph["3"]["inputs"]
    graph["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **{k: v for k, v in inputs.items() if k not in ("seed", "denoise")},
        "add_noise": "enable", "noise_seed": ["30", 0], "start_at_step": 0, "end_at_step": 10000,
        "return_with_leftover_noise": "disable"}}
    graph["30"] = {"class_type": "Seed (rgthree)", "inputs": {"seed": 77}}
    assert recipe_from_comfyui(graph).seed == 77


def test_comfyui_graph_without_sampler_is_bad_input(tmp_path: Path) -> None:
    graph = {key: node for key, node in GRAPH.items() if node["class_type"] != "KSampler"}
    with pytest.raises(BadInput, match="no KSampler"):
        read_metadata(_comfy_png(tmp_path / "x.png", graph))
