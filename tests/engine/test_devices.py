"""Device and memory policy: decisions from fake probes, and a plan applied to a tiny real pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from sfumato.engine.devices import (
    GIB,
    CudaDevice,
    DevicePlan,
    DeviceProbe,
    DeviceRequest,
    apply_plan,
    plan_device,
    probe_devices,
)
from sfumato.errors import RecipeError
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline

SDXL_BYTES = 6_938_040_682  # sd_xl_base_1.0.safetensors (fp16)
SD15_BYTES = 2_132_625_894  # v1-5-pruned-emaonly.safetensors (fp16)
CPU = DeviceProbe()


def gpu(name: str, total_gib: float, *, bf16: bool = True) -> CudaDevice:
    # A desktop leaves ~0.4 GiB of a card to the display and the CUDA context.
    return CudaDevice(name, int((total_gib - 0.4) * GIB), int(total_gib * GIB), bf16)


CARD_4 = DeviceProbe(cuda=(gpu("GTX 1650", 4, bf16=False),))
CARD_8 = DeviceProbe(cuda=(gpu("RTX 3070", 8),))
CARD_24 = DeviceProbe(cuda=(gpu("RTX 4090", 24),))
MAC = DeviceProbe(mps_available=True, mps_bf16=True, mps_memory_bytes=21 * GIB)


def plan(request: DeviceRequest | None = None, *, probe: DeviceProbe = CPU, model_bytes: int = SDXL_BYTES,
         side: int = 1024, batch_size: int = 1, vae_fp32: bool = False) -> DevicePlan:
    return plan_device(request or DeviceRequest(), model_bytes=model_bytes, width=side, height=side, batch_size=batch_size,
                       probe=probe, vae_fp32=vae_fp32)


def test_cuda_before_mps_before_cpu() -> None:
    both = DeviceProbe(cuda=CARD_24.cuda, mps_available=True)
    assert plan(probe=both).device == torch.device("cuda", 0)
    assert plan(probe=MAC).device == torch.device("mps")
    assert plan(probe=CPU).device == torch.device("cpu")
    assert plan(DeviceRequest(device="cpu"), probe=both).device == torch.device("cpu")


def test_auto_picks_the_cuda_device_with_most_free_memory() -> None:
    two = DeviceProbe(cuda=(gpu("small", 8), gpu("big", 24)))
    chosen = plan(probe=two)
    assert chosen.device == torch.device("cuda", 1)
    assert any("big" in reason for reason in chosen.reasons)
    assert plan(DeviceRequest(device="cuda:0"), probe=two).device == torch.device("cuda", 0)


def test_default_dtypes() -> None:
    assert plan(probe=CARD_24).dtype == torch.float16
    assert plan(probe=MAC).dtype == torch.float16
    assert plan(probe=DeviceProbe(cpu_bf16=True)).dtype == torch.float32


def test_bf16_only_where_supported() -> None:
    assert plan(DeviceRequest(dtype="bf16"), probe=CARD_24).dtype == torch.bfloat16
    assert plan(DeviceRequest(dtype="bf16"), probe=DeviceProbe(cpu_bf16=True)).dtype == torch.bfloat16
    for probe in (CARD_4, CPU):
        with pytest.raises(RecipeError) as caught:
            plan(DeviceRequest(dtype="bf16"), probe=probe)
        assert caught.value.field == "dtype" and "'bf16'" in str(caught.value) and "fp32" in str(caught.value)


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(RecipeError) as caught:
        plan(DeviceRequest(dtype="fp16"), probe=CPU)
    assert caught.value.field == "dtype"
    assert "supported there: fp32" in str(caught.value)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps", "xpu"])
def test_a_missing_device_is_refused_with_what_is_there(device: str) -> None:
    with pytest.raises(RecipeError) as caught:
        plan(DeviceRequest(device=device), probe=DeviceProbe(cuda=CARD_8.cuda) if device == "cuda:1" else CPU)
    assert caught.value.field == "device"
    assert repr(device) in str(caught.value) and "cpu" in str(caught.value)


def test_roomy_card_runs_sdxl_without_tricks() -> None:
    chosen = plan(probe=CARD_24, vae_fp32=True)
    assert (chosen.offload, chosen.vae_slicing, chosen.vae_tiling) == ("none", False, False)
    assert chosen.attention == "sdpa"


def test_8gb_card_offloads_sdxl() -> None:
    chosen = plan(probe=CARD_8, vae_fp32=True)
    assert chosen.offload == "model" and not chosen.vae_tiling
    assert any(reason.startswith("offload model:") for reason in chosen.reasons)
    assert plan(probe=CARD_8, model_bytes=SD15_BYTES, side=512).offload == "none"


def test_8gb_card_at_2048_offloads_sequentially_and_tiles() -> None:
    chosen = plan(probe=CARD_8, side=2048, vae_fp32=True)
    assert chosen.offload == "sequential" and chosen.vae_tiling


def test_4gb_card_tiles_because_decoding_does_not_fit() -> None:
    chosen = plan(probe=CARD_4, vae_fp32=True)
    assert chosen.offload == "sequential" and chosen.vae_tiling
    assert any("decoding needs" in reason for reason in chosen.reasons)


def test_a_big_batch_on_a_small_card_slices_the_vae() -> None:
    assert plan(probe=CARD_8, model_bytes=SD15_BYTES, side=1024, batch_size=4, vae_fp32=True).vae_slicing
    assert not plan(probe=CARD_24, model_bytes=SD15_BYTES, side=512, batch_size=4).vae_slicing


def test_large_images_tile_on_every_device() -> None:
    assert plan(probe=CPU, side=2048).vae_tiling
    assert plan(probe=MAC, side=2048).vae_tiling
    assert not plan(probe=CPU, side=1536).vae_tiling


def test_explicit_requests_win() -> None:
    asked = DeviceRequest(offload="none", vae_slicing=True, vae_tiling=False)
    chosen = plan(asked, probe=CARD_4, side=2048)
    assert (chosen.offload, chosen.vae_slicing, chosen.vae_tiling) == ("none", True, False)
    assert plan(DeviceRequest(offload="sequential"), probe=CARD_24).offload == "sequential"
    assert "asked for" in " ".join(chosen.reasons)


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_needs_cuda(offload: str) -> None:
    for probe in (CPU, MAC):
        with pytest.raises(RecipeError) as caught:
            plan(DeviceRequest(offload=offload), probe=probe)  # type: ignore[arg-type]
        assert caught.value.field == "offload" and "CUDA" in str(caught.value)


def test_fp32_vae_only_where_fp16_would_overflow() -> None:
    assert plan(probe=CARD_24, vae_fp32=True).vae_dtype == torch.float32
    assert plan(DeviceRequest(dtype="bf16"), probe=CARD_24, vae_fp32=True).vae_dtype is None
    assert plan(probe=CPU, vae_fp32=True).vae_dtype is None
    assert plan(probe=CARD_24).vae_dtype is None


def test_every_choice_has_a_reason() -> None:
    reasons = plan(probe=CARD_8, vae_fp32=True).reasons
    for topic in ("device", "dtype", "attention", "offload", "vae slicing", "vae tiling", "vae fp32"):
        assert any(reason.startswith(topic) for reason in reasons), topic


def test_probe_reads_this_machine() -> None:
    probe = probe_devices()
    assert probe.cuda_available == torch.cuda.is_available()
    assert probe.cuda_device_count == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert probe.devices()[-1] == "cpu"
    for device in probe.cuda:
        assert 0 < device.free_bytes <= device.total_bytes


def test_nothing_is_probed_at_import() -> None:
    code = ("import torch; torch.cuda.is_available = torch.cuda.device_count = lambda: 1 / 0; "
            "import sfumato.engine.devices")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def tiny_pipe() -> StableDiffusionPipeline:
    torch.set_num_threads(1)
    return build_tiny_pipeline(Family.SD1, seed=0)


def run(pipe: StableDiffusionPipeline) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red fox", num_inference_steps=2, height=16, width=16, output_type="pt",
               generator=torch.Generator().manual_seed(0))
    return out.images


def test_apply_a_cpu_plan_to_a_real_pipeline(tiny_pipe: StableDiffusionPipeline) -> None:
    tiny_pipe.unet.set_attn_processor(AttnProcessor())  # the classic, non-SDPA processor
    chosen = plan(DeviceRequest(vae_slicing=True, vae_tiling=True), probe=CPU, side=16)
    apply_plan(tiny_pipe, chosen)
    assert all(type(p) is AttnProcessor2_0 for p in tiny_pipe.unet.attn_processors.values())
    assert tiny_pipe.vae.use_slicing and tiny_pipe.vae.use_tiling
    assert tiny_pipe.unet.dtype == torch.float32 and tiny_pipe.device == torch.device("cpu")
    assert torch.isfinite(run(tiny_pipe)).all()
    # Applying another plan leaves nothing of the first one behind.
    apply_plan(tiny_pipe, DevicePlan(torch.device("cpu"), torch.bfloat16))
    assert not tiny_pipe.vae.use_slicing and not tiny_pipe.vae.use_tiling
    assert tiny_pipe.unet.dtype == torch.bfloat16 and tiny_pipe.text_encoder.dtype == torch.bfloat16


def test_apply_keeps_the_vae_in_fp32_when_planned(tiny_pipe: StableDiffusionPipeline) -> None:
    apply_plan(tiny_pipe, DevicePlan(torch.device("cpu"), torch.bfloat16, vae_dtype=torch.float32))
    assert tiny_pipe.unet.dtype == torch.bfloat16 and tiny_pipe.vae.dtype == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("offload", ["none", "model", "sequential"])
def test_apply_a_cuda_plan(tiny_pipe: StableDiffusionPipeline, offload: str) -> None:
    chosen = plan(DeviceRequest(device="cuda", offload=offload), probe=probe_devices(), side=16)  # type: ignore[arg-type]
    apply_plan(tiny_pipe, chosen)
    assert chosen.dtype == torch.float16
    assert torch.isfinite(run(tiny_pipe)).all()
