"""Device and memory policy, in one place: device, dtype, attention, VAE slicing/tiling and offload.

`probe_devices()` looks at the machine (never at import), `plan_device()` decides from a probe and a
request (pure, so fake probes test every branch), and `apply_plan()` puts a pipeline in that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from sfumato.errors import RecipeError

DtypeName = Literal["fp32", "fp16", "bf16"]
Offload = Literal["none", "model", "sequential"]

DTYPES: Final[Mapping[str, torch.dtype]] = MappingProxyType(
    {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
)
GIB: Final = 1024**3
# Memory model: upper estimates from tensor shapes, not measurements (benchmarks/ should replace them).
# Kept free on a CUDA device for cuBLAS workspaces and allocator fragmentation, on top of a 10% margin.
CUDA_RESERVE_BYTES: Final = GIB // 2
MEMORY_MARGIN: Final = 0.9
# The largest component's share of a pipeline's weights (UNet: SD 1.5 1.72 of 2.13 GB, SDXL 5.14 of 6.94 GB),
# which is what model offload keeps on the device at once; the VAE's share (SD 1.5: 0.17 of 2.13 GB).
UNET_SHARE: Final = 0.8
VAE_SHARE: Final = 0.08
# UNet working memory per output pixel per image with SDPA, CFG's doubled batch included: a few live
# feature maps of 320-640 channels at 1/8 and 1/16 scale (~0.5 GiB for SDXL at 1024x1024).
UNET_ELEMENTS_PER_PIXEL: Final = 256
# VAE decoder peak per output pixel per image: the last up-block holds ~3 full-resolution maps of 256
# channels (SDXL at 1024x1024: 1.5 GiB in fp16, 3 GiB in fp32).
VAE_ELEMENTS_PER_PIXEL: Final = 768
# Sides above this are decoded in tiles whatever the memory: A1111-scale upscales (2048+) need ~6 GiB+.
TILE_ABOVE_SIDE: Final = 1536


@dataclass(frozen=True)
class DeviceRequest:
    """What a Recipe (or the settings) asks for; None leaves the choice to the policy."""

    device: str | None = None
    dtype: DtypeName | None = None
    offload: Offload | None = None
    vae_slicing: bool | None = None
    vae_tiling: bool | None = None


@dataclass(frozen=True)
class CudaDevice:
    """One CUDA device as the probe saw it."""

    name: str
    free_bytes: int
    total_bytes: int
    bf16: bool  # compute capability 8.0 (Ampere) or newer


@dataclass(frozen=True)
class DeviceProbe:
    """What this machine has, taken once by `probe_devices()` (tests build their own)."""

    cuda: tuple[CudaDevice, ...] = ()
    mps_available: bool = False
    mps_bf16: bool = False  # macOS 14 or newer
    mps_memory_bytes: int | None = None  # Metal's recommended working-set size (unified memory)
    cpu_bf16: bool = False  # native bf16 kernels (AVX-512 BF16 / AMX)

    @property
    def cuda_available(self) -> bool:
        return bool(self.cuda)

    @property
    def cuda_device_count(self) -> int:
        return len(self.cuda)

    def devices(self) -> tuple[str, ...]:
        """Every device name a request may use here, best first."""
        cuda = tuple(f"cuda:{index}" for index in range(len(self.cuda)))
        return (("cuda",) if cuda else ()) + cuda + (("mps",) if self.mps_available else ()) + ("cpu",)


@dataclass(frozen=True)
class DevicePlan:
    """The decision for one job, with the reason behind each choice (for logs and for people)."""

    device: torch.device
    dtype: torch.dtype
    attention: Literal["sdpa"] = "sdpa"
    vae_slicing: bool = False
    vae_tiling: bool = False
    offload: Offload = "none"
    vae_dtype: torch.dtype | None = None  # None: the same as dtype
    reasons: tuple[str, ...] = ()


def probe_devices() -> DeviceProbe:
    """Look at the machine now: CUDA devices with their free memory, MPS, CPU bf16 support."""
    cuda: tuple[CudaDevice, ...] = ()
    if torch.cuda.is_available():
        cuda = tuple(_probe_cuda(index) for index in range(torch.cuda.device_count()))
    mps = torch.backends.mps.is_available()
    return DeviceProbe(
        cuda=cuda,
        mps_available=mps,
        mps_bf16=mps and _call_or_false(torch.backends.mps, "is_macos_or_newer", 14, 0),
        mps_memory_bytes=int(torch.mps.recommended_max_memory()) if mps else None,
        # Private but long-standing; without native kernels bf16 on a CPU is emulated and slower than fp32.
        cpu_bf16=_call_or_false(torch.ops.mkldnn, "_is_mkldnn_bf16_supported"),
    )


def _probe_cuda(index: int) -> CudaDevice:
    free, total = torch.cuda.mem_get_info(index)
    capability = torch.cuda.get_device_capability(index)
    return CudaDevice(torch.cuda.get_device_name(index), int(free), int(total), capability >= (8, 0))


def _call_or_false(owner: Any, name: str, *args: object) -> bool:
    try:
        return bool(getattr(owner, name)(*args))
    except (AttributeError, RuntimeError):
        return False


def _choose_device(request: DeviceRequest, probe: DeviceProbe) -> tuple[torch.device, str]:
    available = probe.devices()
    if request.device is not None:
        if request.device not in available:
            raise RecipeError(
                f"device {request.device!r} is not available here; available: {', '.join(available)}",
                field="device",
            )
        if request.device == "cuda":
            return torch.device("cuda", 0), "device cuda:0: asked for cuda"
        return torch.device(request.device), f"device {request.device}: asked for"
    if probe.cuda:
        index = max(range(len(probe.cuda)), key=lambda i: probe.cuda[i].free_bytes)
        return torch.device("cuda", index), f"device cuda:{index} ({probe.cuda[index].name}): most free memory"
    if probe.mps_available:
        return torch.device("mps"), "device mps: no CUDA device, Apple GPU present"
    return torch.device("cpu"), "device cpu: no CUDA or MPS device"


def dtypes_for(device: torch.device, probe: DeviceProbe) -> tuple[DtypeName, ...]:
    """The dtypes the policy allows on `device`, the automatic choice first."""
    if device.type == "cuda":
        return ("fp16", "fp32", "bf16") if probe.cuda[device.index or 0].bf16 else ("fp16", "fp32")
    if device.type == "mps":
        return ("fp16", "fp32", "bf16") if probe.mps_bf16 else ("fp16", "fp32")
    # fp16 on a CPU has no fast kernels and overflows in the VAE; bf16 only where the CPU has native support.
    return ("fp32", "bf16") if probe.cpu_bf16 else ("fp32",)


def _choose_dtype(request: DeviceRequest, device: torch.device, probe: DeviceProbe) -> tuple[torch.dtype, str]:
    allowed = dtypes_for(device, probe)
    if request.dtype is None:
        return DTYPES[allowed[0]], f"dtype {allowed[0]}: the default on {device.type}"
    if request.dtype not in allowed:
        raise RecipeError(
            f"dtype {request.dtype!r} is not supported on {device}; supported there: {', '.join(allowed)}",
            field="dtype",
        )
    return DTYPES[request.dtype], f"dtype {request.dtype}: asked for"


def _budget(device: torch.device, probe: DeviceProbe) -> float | None:
    """Bytes a job may plan to use on `device`; None for the CPU, whose (system) memory is not planned."""
    if device.type == "cuda":
        return probe.cuda[device.index or 0].free_bytes * MEMORY_MARGIN - CUDA_RESERVE_BYTES
    if device.type == "mps" and probe.mps_memory_bytes is not None:
        return probe.mps_memory_bytes * MEMORY_MARGIN
    return None


@dataclass(frozen=True)
class _Workload:
    """The job's memory needs, in bytes, from the estimates above."""

    model_bytes: int
    unet_bytes: int  # UNet working memory for the whole batch
    vae_bytes: int  # decoder peak for one image
    batch_size: int
    longest_side: int


def _gib(value: float) -> str:  # for reasons people read
    return f"{value / GIB:.1f} GiB"


def _choose_offload(request: DeviceRequest, work: _Workload, budget: float | None) -> tuple[Offload, str]:
    if request.offload is not None:
        return request.offload, f"offload {request.offload}: asked for"
    full = work.model_bytes + work.unet_bytes  # decoding is kept within bounds by slicing and tiling
    if budget is None or full <= budget:
        return "none", "offload none: " + ("no memory plan on cpu" if budget is None else f"fits in {_gib(budget)}")
    if work.model_bytes * UNET_SHARE + work.unet_bytes <= budget:
        return "model", f"offload model: weights and work need {_gib(full)}, {_gib(budget)} usable"
    return "sequential", f"offload sequential: even the UNet alone does not fit in {_gib(budget)}"


def _choose_vae(
    request: DeviceRequest, work: _Workload, budget: float | None, offload: Offload
) -> tuple[bool, bool, tuple[str, ...]]:
    # Weights on the device while the VAE decodes.
    resident = {"none": work.model_bytes, "model": work.model_bytes * VAE_SHARE, "sequential": 0.0}[offload]
    room = None if budget is None else budget - resident
    if request.vae_tiling is not None:
        tiling, tiling_reason = request.vae_tiling, "asked for"
    elif work.longest_side > TILE_ABOVE_SIDE:
        tiling, tiling_reason = True, f"a {work.longest_side} px side is over {TILE_ABOVE_SIDE} px"
    elif room is not None and work.vae_bytes > room:
        tiling, tiling_reason = True, f"decoding needs {_gib(work.vae_bytes)}, {_gib(room)} left"
    else:
        tiling, tiling_reason = False, "the image decodes in one piece"
    batch_bytes = work.vae_bytes * work.batch_size
    if request.vae_slicing is not None:
        slicing, slicing_reason = request.vae_slicing, "asked for"
    elif work.batch_size > 1 and room is not None and batch_bytes > room:
        slicing, slicing_reason = True, f"decoding {work.batch_size} at once needs {_gib(batch_bytes)}"
    else:
        slicing, slicing_reason = False, "the batch decodes at once"
    return slicing, tiling, (f"vae slicing {slicing}: {slicing_reason}", f"vae tiling {tiling}: {tiling_reason}")


def plan_device(
    request: DeviceRequest,
    *,
    model_bytes: int,
    width: int,
    height: int,
    batch_size: int,
    probe: DeviceProbe,
    vae_fp32: bool = False,
) -> DevicePlan:
    """Decide device, dtype, attention, VAE slicing/tiling and offload for one job.

    Args:
        model_bytes: size of the pipeline's weights as stored (the checkpoint's size), taken as their
            size on the device.
        vae_fp32: the family's VAE overflows in fp16 (SDXL's): with an fp16 plan it runs in fp32.

    Raises:
        RecipeError: a request this machine cannot meet (field "device", "dtype" or "offload").
    """
    device, device_reason = _choose_device(request, probe)
    dtype, dtype_reason = _choose_dtype(request, device, probe)
    if request.offload not in (None, "none") and device.type != "cuda":
        raise RecipeError(
            f"offload {request.offload!r} needs a CUDA device, the job runs on {device}; allowed there: none",
            field="offload",
        )
    vae_dtype = torch.float32 if vae_fp32 and dtype == torch.float16 else dtype
    work = _Workload(
        model_bytes, UNET_ELEMENTS_PER_PIXEL * dtype.itemsize * width * height * batch_size,
        VAE_ELEMENTS_PER_PIXEL * vae_dtype.itemsize * width * height, batch_size, max(width, height),
    )
    budget = _budget(device, probe)
    offload, offload_reason = _choose_offload(request, work, budget)
    slicing, tiling, vae_reasons = _choose_vae(request, work, budget, offload)
    reasons = (device_reason, dtype_reason, "attention sdpa: torch's scaled_dot_product_attention",
               offload_reason, *vae_reasons)
    if vae_dtype == dtype:
        return DevicePlan(device, dtype, "sdpa", slicing, tiling, offload, None, reasons)
    reasons += ("vae fp32: this family's VAE overflows in fp16",)
    return DevicePlan(device, dtype, "sdpa", slicing, tiling, offload, vae_dtype, reasons)


def _use_sdpa(pipe: Any) -> None:
    """Swap the classic attention processor for SDPA; IP-adapter and other special processors stay."""
    for component in pipe.components.values():
        processors = getattr(component, "attn_processors", None)
        if not processors or not any(type(p) is AttnProcessor for p in processors.values()):
            continue
        component.set_attn_processor({
            name: AttnProcessor2_0() if type(processor) is AttnProcessor else processor
            for name, processor in processors.items()
        })


def apply_plan(pipe: Any, plan: DevicePlan) -> None:
    """Put a diffusers pipeline on the plan's device and dtype, with its attention, VAE and offload."""
    _use_sdpa(pipe)
    pipe.remove_all_hooks()  # a cached pipeline may carry an earlier plan's offload hooks
    home = plan.device if plan.offload == "none" else torch.device("cpu")
    if pipe.device != home or pipe.dtype != plan.dtype:  # a no-op .to() still logs a float32 warning
        pipe.to(home, plan.dtype)
    if plan.vae_dtype is not None:
        pipe.vae.to(dtype=plan.vae_dtype)
    if plan.offload == "model":
        pipe.enable_model_cpu_offload(device=plan.device)
    elif plan.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=plan.device)
    # The VAE's own switches (the pipeline-level ones are deprecated in diffusers), set both ways so a
    # pipeline keeps no setting from an earlier plan.
    (pipe.vae.enable_slicing if plan.vae_slicing else pipe.vae.disable_slicing)()
    (pipe.vae.enable_tiling if plan.vae_tiling else pipe.vae.disable_tiling)()
