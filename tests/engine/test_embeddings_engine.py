"""Embeddings through the Studio: found in <home>/embeddings, recorded on the picture, `again` refuses a changed file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from sfumato.errors import ModelNotFound, RecipeError
from sfumato.picture_file import read_metadata
from sfumato.recipe import AdapterRef
from sfumato.settings import Settings
from sfumato.studio import Studio


def _write(path: Path, vectors: int, seed: int) -> str:
    save_file({"emb_params": torch.randn(vectors, 32, generator=torch.Generator().manual_seed(seed))}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_picture_records_the_embedding_and_again_checks_its_file(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    home = tmp_path / "home"
    (home / "embeddings").mkdir(parents=True)
    path = home / "embeddings" / "inkstyle.safetensors"
    short_hash = _write(path, 2, seed=1)
    studio = Studio.open(Settings(home=home))
    try:
        recipe = studio.new_recipe({"prompt": "an owl, inkstyle", "negative_prompt": "blurry", "seed": 3, "steps": 2})
        (saved,) = studio.generate(recipe)
        assert saved.recipe.adapters == (AdapterRef(name="inkstyle", kind="embedding", hash=short_hash),)
        assert f'TI hashes: "inkstyle: {short_hash}"' in (read_metadata(saved.path).infotext or "")
        assert studio.again(saved.path).matches
        plain = studio.engine.run(recipe.replace(prompt="an owl, inkstylez"))[0]  # not the word: no embedding
        assert plain.recipe.adapters == ()
        with Image.open(saved.path) as with_word:
            assert not np.array_equal(np.asarray(plain.image), np.asarray(with_word.convert("RGB")))

        _write(path, 3, seed=2)  # the file changes: the recipe's picture cannot be made again
        with pytest.raises(RecipeError, match=f"embedding 'inkstyle' changed.*recorded hash {short_hash}"):
            studio.again(saved.path)
        path.unlink()
        with pytest.raises(ModelNotFound, match="inkstyle"):
            studio.again(saved.path)
    finally:
        studio.close()
