"""Pickle checkpoints (.ckpt/.pt/.pth/.bin) -> .safetensors, loading them with torch's weights-only unpickler.

Nothing here ever runs a full unpickle: a file whose pickle asks for anything beyond tensors and plain
containers is refused with `UnsafeCheckpoint`. The output is written beside the source, atomically.
"""

from __future__ import annotations

import os
import pickle
import secrets
import zipfile
from pathlib import Path
from typing import Final

import torch
from safetensors.torch import save_file

from sfumato.errors import BadInput, ModelNotFound, UnsafeCheckpoint

PICKLE_SUFFIXES: Final = (".ckpt", ".pt", ".pth", ".bin")


def convert_to_safetensors(src: Path, dst: Path | None = None) -> Path:
    """Convert one pickle checkpoint to safetensors (`x.ckpt` -> `x.safetensors`); returns the new path.

    Raises:
        ModelNotFound: `src` does not exist.
        BadInput: `src` is not a pickle checkpoint, holds no tensors, or `dst` already exists.
        UnsafeCheckpoint: the file cannot be read without a full (code-running) unpickle.
    """
    src = Path(src)
    if not src.is_file():
        raise ModelNotFound(f"checkpoint to convert: no file at {str(src)!r}")
    if src.suffix.lower() not in PICKLE_SUFFIXES:
        raise BadInput(
            f"checkpoint to convert: suffix must be one of {', '.join(PICKLE_SUFFIXES)}, got {src.suffix!r} "
            f"({src.name})"
        )
    target = Path(dst) if dst is not None else src.with_suffix(".safetensors")
    if target.exists():
        raise BadInput(
            f"conversion target: {str(target)!r} already exists; sfumato never overwrites a model file",
            hint="delete or rename it, or pass another destination",
        )
    tensors = _tensors_only(_unwrap(_load_weights_only(src)), src)
    _save_atomically(_unshare(tensors), target, source_name=src.name)
    return target


def _load_weights_only(src: Path) -> object:
    # mmap keeps a 7 GB checkpoint out of RAM; only the zip format (torch >= 1.6) supports it.
    use_mmap = zipfile.is_zipfile(src)
    try:
        return torch.load(src, map_location="cpu", weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpoint(
            f"refused to convert {src.name}: its pickle needs more than tensors and plain containers, and "
            f"loading it fully would run code stored in the file ({_first_line(e)})",
            hint="only a tool you trust with this file can unpickle it; ask its author for a .safetensors",
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise BadInput(
            f"checkpoint to convert: {src.name} is not a readable torch file ({_first_line(e)})"
        ) from e


def _unwrap(loaded: object) -> object:
    # A1111-era .ckpt files wrap the weights with training state: {"state_dict": {...}, "global_step": ...}.
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        return loaded["state_dict"]
    # An A1111 textual-inversion .pt: {"string_to_param": {"*": (n, width)}, "name": ..., "step": ...}; its one
    # tensor becomes `emb_params`, the key A1111 and kohya write in .safetensors embeddings.
    if isinstance(loaded, dict) and isinstance(loaded.get("string_to_param"), dict) and len(loaded["string_to_param"]) == 1:
        return {"emb_params": next(iter(loaded["string_to_param"].values()))}
    return loaded


def _tensors_only(loaded: object, src: Path) -> dict[str, torch.Tensor]:
    if not isinstance(loaded, dict):
        raise BadInput(
            f"checkpoint to convert: {src.name} holds a {type(loaded).__name__}, not a dict of tensors"
        )
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise BadInput(f"checkpoint to convert: {src.name} holds no tensors")
    return tensors


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Give every tensor its own contiguous storage; safetensors refuses shared or strided memory."""
    seen: set[tuple[str, int]] = set()
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        shared = key in seen and storage.nbytes() > 0
        seen.add(key)
        whole = tensor.storage_offset() == 0 and tensor.nbytes == storage.nbytes()
        if shared or not whole or not tensor.is_contiguous():
            # A contiguous copy of exactly the viewed elements: same values, bit for bit, own storage.
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        out[name] = tensor
    return out


def _save_atomically(tensors: dict[str, torch.Tensor], target: Path, *, source_name: str) -> None:
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        save_file(tensors, str(temp), metadata={"format": "pt", "sfumato_converted_from": source_name})
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
