"""ComfyUI graphs: read the API-format `prompt` graph a ComfyUI PNG carries and translate it to a Recipe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

from sfumato.errors import BadInput
from sfumato.recipe import MAX_SEED, Recipe, recipe_from

# --- ComfyUI ---------------------------------------------------------------------------------------------
# API-format graph: {"3": {"class_type": "KSampler", "inputs": {"positive": ["6", 0], "seed": 42, ...}}, ...};
# a list [node_id, output_index] is a link to another node's output.

COMFYUI_SAMPLERS: Final[Mapping[str, str]] = MappingProxyType({
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS", "dpmpp_2s_ancestral": "DPM++ 2S a", "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE", "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE", "ddim": "DDIM", "uni_pc": "UniPC",
    "lcm": "LCM", "ddpm": "DDPM", "deis": "DEIS",
})
# ComfyUI "normal" spaces timesteps evenly from the model's largest to smallest sigma: A1111 "Uniform" in our table.
COMFYUI_SCHEDULERS: Final[Mapping[str, str]] = MappingProxyType({
    "normal": "Uniform", "karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform",
    "simple": "Simple", "beta": "Beta",
})
_COMFY_SAMPLER_NODES: Final = ("KSampler", "KSamplerAdvanced")
_COMFY_TEXT_INPUT: Final[Mapping[str, str]] = MappingProxyType({"CLIPTextEncode": "text", "CLIPTextEncodeSDXL": "text_g"})
_COMFY_CHECKPOINT_INPUT: Final[Mapping[str, str]] = MappingProxyType({
    "CheckpointLoaderSimple": "ckpt_name", "CheckpointLoader": "ckpt_name", "UNETLoader": "unet_name",
})
_COMFY_EMPTY_LATENTS: Final = ("EmptyLatentImage", "EmptySD3LatentImage")
# The input followed through nodes that only pass conditioning, a model or a latent along.
_THROUGH_CONDITIONING: Final = ("conditioning", "conditioning_1", "conditioning_to")
_THROUGH_MODEL: Final = ("model",)
_THROUGH_LATENT: Final = ("samples", "latent", "latent_image")
_COMFY_VALUE_INPUTS: Final = ("value", "seed", "noise_seed", "text", "string", "int", "float")
_WEIGHT_SUFFIXES: Final = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
_MAX_HOPS: Final = 50


def recipe_from_comfyui(graph: Mapping[str, Any], *, where: str = "ComfyUI graph") -> Recipe:
    """Translate a ComfyUI API-format graph: its first-pass KSampler and the nodes feeding it."""
    inputs = graph[_comfy_sampler(graph, where)]["inputs"]
    data: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    seed = _comfy_value(graph, inputs.get("seed", inputs.get("noise_seed")))
    if isinstance(seed, int) and seed > MAX_SEED:
        extra.append(("ComfyUI seed", str(seed)))  # ComfyUI seeds are 64-bit; ours stop at 2**32 - 1
    elif seed is not None:
        data["seed"] = seed
    for key, target in (("steps", "steps"), ("cfg", "guidance_scale")):
        if (value := _comfy_value(graph, inputs.get(key))) is not None:
            data[target] = value
    for key, table, target in (("sampler_name", COMFYUI_SAMPLERS, "sampler"),
                               ("scheduler", COMFYUI_SCHEDULERS, "schedule_type")):
        name = _comfy_value(graph, inputs.get(key))
        if name in table:
            data[target] = table[name]
        elif name is not None:
            extra.append((f"ComfyUI {key.removesuffix('_name')}", str(name)))
    for key, target in (("positive", "prompt"), ("negative", "negative_prompt")):
        if (text := _comfy_text(graph, inputs.get(key))) is not None:
            data[target] = text
    _comfy_model(graph, inputs.get("model"), data, extra)
    _comfy_latent(graph, inputs.get("latent_image"), _comfy_value(graph, inputs.get("denoise")), data, extra)
    data["extra"] = extra
    return recipe_from(data)


def _comfy_link(graph: Mapping[str, Any], value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        node = graph.get(value[0])
        return node if isinstance(node, Mapping) and isinstance(node.get("inputs"), Mapping) else None
    return None


def _comfy_value(graph: Mapping[str, Any], value: Any, hops: int = 0) -> Any:
    """A literal input, or the literal behind a link to a primitive-like node (seed, string, int...)."""
    node = _comfy_link(graph, value)
    if node is None or hops > _MAX_HOPS:
        return None if isinstance(value, list) else value
    found = next((key for key in _COMFY_VALUE_INPUTS if key in node["inputs"]), None)
    return None if found is None else _comfy_value(graph, node["inputs"][found], hops + 1)


def _comfy_walk(graph: Mapping[str, Any], value: Any, through: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
    """The nodes met following a link, then each node's first `through` input, upstream."""
    for _ in range(_MAX_HOPS):
        node = _comfy_link(graph, value)
        if node is None:
            return
        yield node
        value = next((node["inputs"][key] for key in through if key in node["inputs"]), None)


def _comfy_text(graph: Mapping[str, Any], link: Any) -> str | None:
    for node in _comfy_walk(graph, link, _THROUGH_CONDITIONING):
        if (key := _COMFY_TEXT_INPUT.get(node.get("class_type", ""))) is not None:
            text = _comfy_value(graph, node["inputs"].get(key))
            return text if isinstance(text, str) else None
    return None


def _weight_stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return next((base[: -len(s)] for s in _WEIGHT_SUFFIXES if base.lower().endswith(s)), base)


def _comfy_model(graph: Mapping[str, Any], link: Any, data: dict[str, Any], extra: list[tuple[str, str]]) -> None:
    adapters = []
    for node in _comfy_walk(graph, link, _THROUGH_MODEL):
        inputs, kind = node["inputs"], node.get("class_type", "")
        if kind in _COMFY_CHECKPOINT_INPUT and isinstance(name := inputs.get(_COMFY_CHECKPOINT_INPUT[kind]), str):
            data["model"] = _weight_stem(name)
        elif kind.startswith("LoraLoader") and isinstance(inputs.get("lora_name"), str):
            name = _weight_stem(inputs["lora_name"])
            weight = _comfy_value(graph, inputs.get("strength_model", 1.0))
            clip = _comfy_value(graph, inputs.get("strength_clip", weight))
            adapters.append({"name": name, "weight": weight})
            if clip != weight:
                extra.append((f"ComfyUI LoRA clip strength {name}", str(clip)))
    # Walking from the sampler meets the last-applied LoRA first; a Recipe lists them in applying order.
    data["adapters"] = adapters[::-1]


def _comfy_empty_latent(graph: Mapping[str, Any], link: Any) -> Mapping[str, Any] | None:
    """The empty latent a sampler starts from, or None (an encoded image, or another sampler's output)."""
    for node in _comfy_walk(graph, link, _THROUGH_LATENT):
        if node.get("class_type") in _COMFY_EMPTY_LATENTS:
            inputs: Mapping[str, Any] = node["inputs"]
            return inputs
        if node.get("class_type") in _COMFY_SAMPLER_NODES:
            return None
    return None


def _comfy_latent(graph: Mapping[str, Any], link: Any, denoise: Any, data: dict[str, Any],
                  extra: list[tuple[str, str]]) -> None:
    empty = _comfy_empty_latent(graph, link)
    if empty is None:
        if denoise is not None:
            data["denoising_strength"] = denoise  # the latent comes from an image: img2img
        return
    for key in ("width", "height", "batch_size"):
        if (value := _comfy_value(graph, empty.get(key))) is not None:
            data[key] = value
    if denoise is not None and denoise != 1:
        extra.append(("ComfyUI denoise", str(denoise)))


def _comfy_sampler(graph: Mapping[str, Any], where: str) -> str:
    # A hires-fix graph has a second sampler fed by an upscaled latent; the first pass starts from an empty one.
    samplers = sorted(
        (key for key, node in graph.items()
         if isinstance(node, Mapping) and node.get("class_type") in _COMFY_SAMPLER_NODES
         and isinstance(node.get("inputs"), Mapping)),
        key=lambda key: (len(key), key),
    )
    if not samplers:
        raise BadInput(f"{where}: ComfyUI graph has no KSampler or KSamplerAdvanced node to read a recipe from")
    first_pass = [
        key for key in samplers
        if _comfy_empty_latent(graph, graph[key]["inputs"].get("latent_image")) is not None
    ]
    return (first_pass or samplers)[0]
