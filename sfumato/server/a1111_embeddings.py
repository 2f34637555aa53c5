"""/sdapi/v1/embeddings in A1111's shape: the library's embeddings, "loaded" where they fit the current model.

A1111 loads only embeddings whose width matches the loaded checkpoint and lists the rest as "skipped"; here the
current model is the A1111 `sd_model_checkpoint` option. Files that cannot be used (pickles) are in neither.
"""

from __future__ import annotations

from typing import Any

from sfumato.errors import SfumatoError
from sfumato.models.embedding_files import EmbeddingInfo, scan_embeddings
from sfumato.models.library import ModelKind, ModelLibrary


def _item(info: EmbeddingInfo) -> dict[str, Any]:
    # step and the training checkpoint live in A1111's .pt files only; safetensors embeddings do not carry them.
    return {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None, "shape": info.shape,
            "vectors": info.vectors}


def embeddings_response(library: ModelLibrary, model: str) -> dict[str, dict[str, Any]]:
    """{"loaded": {name: {step, sd_checkpoint, sd_checkpoint_name, shape, vectors}}, "skipped": {...}}."""
    infos, _ = scan_embeddings(library.scan(ModelKind.EMBEDDING))
    try:
        family = library.find(model.split(" [")[0], with_hashes=False).family
    except SfumatoError:
        family = None
    loaded = {name: _item(info) for name, info in sorted(infos.items()) if family is not None and info.fits(family)}
    skipped = {name: _item(info) for name, info in sorted(infos.items()) if name not in loaded}
    return {"loaded": loaded, "skipped": skipped}
