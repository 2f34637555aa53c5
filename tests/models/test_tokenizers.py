"""The shipped CLIP tokenizer files: real CLIP ids, both pad variants, and consistency with the build script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from sfumato.models.tiny import CLIP_TOKENIZER, CLIP_TOKENIZER_PAD0, load_clip_tokenizer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_clip_tokenizer.py"
CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # openai/clip-vit-large-patch14 on "a photo of a cat"


@pytest.mark.parametrize("folder", [CLIP_TOKENIZER, CLIP_TOKENIZER_PAD0], ids=["clip", "clip-pad0"])
def test_real_clip_ids(folder: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    assert tokenizer("a photo of a cat").input_ids == CAT_IDS
    assert len(tokenizer) == 49408
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (49406, 49407)
    assert tokenizer.model_max_length == 77
    # Lower-casing, punctuation and bytes outside ASCII all tokenize (no unknown tokens in byte-level BPE).
    ids = tokenizer("A RED Apple, élan 🚀!").input_ids
    assert ids[0] == 49406 and ids[-1] == 49407 and all(0 <= i < 49408 for i in ids)
    assert "a red apple , élan 🚀" in tokenizer.decode(ids[1:-1])


def test_pad_tokens_differ_as_in_sd_repos() -> None:
    sd1 = load_clip_tokenizer()
    openclip = load_clip_tokenizer(pad_zero=True)
    # Same ids except around "!", which the pad-0 variant registers as a special token (as diffusers' SD2 does).
    assert sd1("A RED Apple, élan 🚀").input_ids == openclip("A RED Apple, élan 🚀").input_ids
    assert sd1.pad_token_id == 49407  # SD1 / SDXL tokenizer: pads with <|endoftext|>
    assert openclip.pad_token_id == 0  # SD2 / SDXL tokenizer_2: pads with "!"
    padded = openclip("a cat", padding="max_length", max_length=77).input_ids
    assert padded[:4] == [49406, 320, 2368, 49407] and set(padded[4:]) == {0} and len(padded) == 77


def test_shipped_files_match_the_build_script() -> None:
    spec = importlib.util.spec_from_file_location("make_clip_tokenizer", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    lines = (CLIP_TOKENIZER / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) - 1 == script.N_MERGES
    merges = [tuple(line.split()) for line in lines[1:]]
    vocab = json.loads((CLIP_TOKENIZER / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == script.build_vocab(merges)
    for name in ("vocab.json", "merges.txt"):
        assert (CLIP_TOKENIZER / name).read_bytes() == (CLIP_TOKENIZER_PAD0 / name).read_bytes()
