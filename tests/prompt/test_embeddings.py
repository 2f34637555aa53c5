"""Textual-inversion embeddings on tiny SD1 / SD2 / SDXL encoders: formats, placement, chunking, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from sfumato.engine.embeddings import LibraryEmbeddings, library_embeddings
from sfumato.errors import BadInput, RecipeError, UnsafeCheckpoint
from sfumato.models.embedding_files import read_embedding_info
from sfumato.models.families import Family
from sfumato.models.hashing import HashCache
from sfumato.models.library import ModelLibrary
from sfumato.models.tiny import BIG_G_WIDTH, CLIP_L_WIDTH, build_tiny_pipeline
from sfumato.prompt.chunks import CHUNK_LENGTH, chunk_fragments
from sfumato.prompt.embedding_words import EmbeddingLookup, EmbeddingWord
from sfumato.prompt.encode import PromptComponents, emphasize
from sfumato.prompt.schedule import build_conditioning_schedule


def _vectors(count: int, width: int, seed: int) -> torch.Tensor:
    return torch.randn(count, width, generator=torch.Generator().manual_seed(seed))


def write_embeddings(root: Path) -> dict[str, Path]:
    """Tiny embedding files in every format, from fixed seeds, under `root/embeddings`."""
    folder = root / "embeddings"
    (folder / "more").mkdir(parents=True, exist_ok=True)
    files = {
        "inkstyle": ({"emb_params": _vectors(3, CLIP_L_WIDTH, 1)}, folder / "inkstyle.safetensors"),  # A1111
        "owlconcept": ({"<owlconcept>": _vectors(1, CLIP_L_WIDTH, 2)[0]}, folder / "more" / "owlconcept.safetensors"),
        "xlstyle": ({"clip_l": _vectors(2, CLIP_L_WIDTH, 3), "clip_g": _vectors(2, BIG_G_WIDTH, 4)},
                    folder / "xlstyle.safetensors"),
    }
    for tensors, path in files.values():
        save_file(tensors, str(path))
    torch.save({"string_to_param": {"*": _vectors(1, CLIP_L_WIDTH, 5)}}, folder / "oldpickle.pt")
    return {name: path for name, (_, path) in files.items()}


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> LibraryEmbeddings:
    root = tmp_path_factory.mktemp("ti-home")
    write_embeddings(root)
    return library_embeddings(ModelLibrary((root,), HashCache(root / "cache" / "hashes.json")))


@pytest.fixture(scope="module")
def sd1() -> Any:
    torch.set_num_threads(1)
    return build_tiny_pipeline(Family.SD1)


def _cond(pipe: Any, text: str, embeddings: LibraryEmbeddings | None, **options: Any) -> Any:
    schedule = build_conditioning_schedule(pipe, text, "", 10, syntax="a1111", embeddings=embeddings, **options)
    return schedule, schedule.at_step(0).positives[0][0]


def test_headers_give_vectors_widths_and_format(tmp_path: Path) -> None:
    paths = write_embeddings(tmp_path)
    ink, owl, xl = (read_embedding_info(paths[name]) for name in ("inkstyle", "owlconcept", "xlstyle"))
    assert (ink.vectors, dict(ink.widths), ink.format) == (3, {"": CLIP_L_WIDTH}, "A1111")
    assert (owl.name, owl.vectors, owl.format) == ("owlconcept", 1, "diffusers")
    assert (xl.vectors, dict(xl.widths)) == (2, {"clip_l": CLIP_L_WIDTH, "clip_g": BIG_G_WIDTH})
    with pytest.raises(UnsafeCheckpoint, match="oldpickle.pt") as refused:
        read_embedding_info(tmp_path / "embeddings" / "oldpickle.pt")
    assert "sfumato models convert" in str(refused.value.hint)
    save_file({"a": torch.zeros(1, 4), "b": torch.zeros(1, 4)}, str(tmp_path / "two.safetensors"))
    with pytest.raises(BadInput, match="holds 2 tensors"):
        read_embedding_info(tmp_path / "two.safetensors")


@torch.no_grad()
def test_conditioning_equals_vectors_put_in_by_hand(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    schedule, ours = _cond(sd1, "a (inkstyle:1.2) owl", embeddings)
    assert schedule.embeddings == {"inkstyle"}
    tokenizer, encoder = sd1.tokenizer, sd1.text_encoder
    a, owl = (tokenizer(word, add_special_tokens=False).input_ids for word in ("a", "owl"))
    ids = [tokenizer.bos_token_id, *a, 0, 0, 0, *owl]
    ids += [tokenizer.eos_token_id] * (77 - len(ids))
    token_states = encoder.get_input_embeddings()(torch.tensor([ids]))
    token_states[0, 1 + len(a):4 + len(a)] = embeddings.vectors("inkstyle", "", CLIP_L_WIDTH)
    # The rest of CLIP by hand: positions, the causal transformer, the final norm.
    hidden = token_states + encoder.embeddings.position_embedding(torch.arange(77))[None]
    expected = _run_clip(encoder, hidden)
    weights = torch.ones(77)
    weights[1 + len(a):4 + len(a)] = 1.2
    torch.testing.assert_close(ours.embeds, emphasize(expected, weights))


def _run_clip(encoder: Any, hidden: torch.Tensor) -> torch.Tensor:
    mask = torch.full((77, 77), float("-inf")).triu(1)[None, None]
    states = encoder.encoder(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
    return encoder.final_layer_norm(states)


@torch.no_grad()
def test_unknown_word_is_text_and_the_pipeline_is_untouched(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    _, plain = _cond(sd1, "a inkstyles owl", None)
    schedule, same = _cond(sd1, "a inkstyles owl", embeddings)  # not the trigger word: plain text, as in A1111
    torch.testing.assert_close(same.embeds, plain.embeds)
    assert schedule.embeddings == frozenset()
    _cond(sd1, "inkstyle", embeddings)
    assert not sd1.text_encoder.get_input_embeddings()._forward_hooks  # the hook went away with the call
    assert len(sd1.tokenizer) == 49408


@torch.no_grad()
def test_diffusers_one_vector_file_and_subfolder(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    _, with_word = _cond(sd1, "an owlconcept", embeddings)
    _, without = _cond(sd1, "an owlconcept", None)
    assert not torch.allclose(with_word.embeds, without.embeds)
    assert with_word.embeddings == {"owlconcept"}


def test_chunking_never_splits_an_embedding_and_counts_its_vectors(sd1: Any) -> None:
    lookup = EmbeddingLookup([EmbeddingWord("inkstyle", 3)], sd1.tokenizer)
    text = ", ".join(["cat"] * 36) + " inkstyle"  # 71 tokens, then 3 vectors: 74 fit in the first chunk
    chunks, count = chunk_fragments(((text, 1.0),), sd1.tokenizer, lookup)
    assert (len(chunks), count, chunks[0].fixes) == (1, 74, ((72, "inkstyle"),))
    crowded = "cat " * 73 + "inkstyle"  # 73 tokens before it: 3 more vectors do not fit, so the chunk closes early
    chunks, count = chunk_fragments(((crowded, 1.0),), sd1.tokenizer, lookup)
    assert [c.fixes for c in chunks] == [(), ((1, "inkstyle"),)]
    assert count == CHUNK_LENGTH + 3
    assert chunks[1].tokens[1:4] == (0, 0, 0) and chunks[0].tokens[-2] == sd1.tokenizer.eos_token_id


def test_comma_backtrack_moves_the_embedding_with_its_tokens(sd1: Any) -> None:
    lookup = EmbeddingLookup([EmbeddingWord("inkstyle", 3)], sd1.tokenizer)
    text = "cat " * 60 + ", inkstyle " + "owl " * 20
    chunks, _ = chunk_fragments(((text, 1.0),), sd1.tokenizer, lookup)
    assert chunks[1].moved > 0 and chunks[1].fixes == ((1, "inkstyle"),)
    assert chunks[0].fixes == ()


@torch.no_grad()
def test_wrong_size_and_pickle_errors_name_the_file(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    with pytest.raises(RecipeError, match=r"xlstyle.*clip_g 64 \+ clip_l 32") as wrong:
        _cond(sd1, "an owl, xlstyle", embeddings)
    assert "width 32" in str(wrong.value) and "xlstyle.safetensors" in str(wrong.value)
    with pytest.raises(UnsafeCheckpoint, match="oldpickle.pt"):
        _cond(sd1, "an owl, oldpickle", embeddings)
    sd2 = build_tiny_pipeline(Family.SD2)  # same width (tiny), so SD2 takes the SD1-sized file
    assert _cond(sd2, "inkstyle", embeddings)[0].embeddings == {"inkstyle"}


@torch.no_grad()
def test_sdxl_takes_clip_l_and_clip_g_vectors(embeddings: LibraryEmbeddings) -> None:
    torch.set_num_threads(1)
    sdxl = build_tiny_pipeline(Family.SDXL)
    schedule, ours = _cond(sdxl, "a xlstyle owl", embeddings)
    _, plain = _cond(sdxl, "a xlstyle owl", None)
    assert schedule.embeddings == {"xlstyle"} and ours.embeds.shape == (1, 77, CLIP_L_WIDTH + BIG_G_WIDTH)
    assert not torch.allclose(ours.embeds[..., :CLIP_L_WIDTH], plain.embeds[..., :CLIP_L_WIDTH])
    assert not torch.allclose(ours.embeds[..., CLIP_L_WIDTH:], plain.embeds[..., CLIP_L_WIDTH:])
    assert not torch.allclose(ours.pooled, plain.pooled)
    with pytest.raises(RecipeError, match="inkstyle.*clip_l"):
        _cond(sdxl, "inkstyle", embeddings)


def test_compel_prompt_with_an_embedding_is_refused(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    components = PromptComponents.from_pipeline(sd1, embeddings)
    with pytest.raises(RecipeError, match="Compel-syntax"):
        build_conditioning_schedule(components, "an inkstyle owl++", "", 10)


def test_convert_turns_an_a1111_pt_into_a_usable_embedding(tmp_path: Path, sd1: Any) -> None:
    from sfumato.models.convert import convert_to_safetensors

    write_embeddings(tmp_path)
    converted = convert_to_safetensors(tmp_path / "embeddings" / "oldpickle.pt")
    info = read_embedding_info(converted)
    assert (info.name, info.vectors, info.format) == ("oldpickle", 1, "A1111")
    library = library_embeddings(ModelLibrary((tmp_path,), HashCache(tmp_path / "hashes.json")))
    assert "oldpickle" in library.infos and "oldpickle" not in library.refused  # the .safetensors beside it wins
    torch.testing.assert_close(library.vectors("oldpickle", "", CLIP_L_WIDTH), _vectors(1, CLIP_L_WIDTH, 5))


def test_unknown_compel_embedding_points_at_its_column(sd1: Any, embeddings: LibraryEmbeddings) -> None:
    from sfumato.prompt.errors import PromptError

    with pytest.raises(PromptError, match="unknown embedding <nosuch> at column 10") as unknown:
        build_conditioning_schedule(sd1, "an owl++ <nosuch>", "", 10, embeddings=embeddings)
    assert "inkstyle" in str(unknown.value.hint)
    with pytest.raises(PromptError, match="negative_prompt: unknown embedding <bad>"):
        build_conditioning_schedule(sd1, "an owl", "blurry-- <bad>", 10, embeddings=embeddings)
    with pytest.raises(RecipeError, match="not supported in Compel"):  # a known one: refused, not dropped
        build_conditioning_schedule(sd1, "an owl++ <inkstyle>", "", 10, embeddings=embeddings)
    # In A1111 syntax an unknown word is plain text, as A1111 reads it.
    assert build_conditioning_schedule(sd1, "an owl <nosuch>", "", 10, embeddings=embeddings).embeddings == set()
