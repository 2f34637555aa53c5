"""Catalog.search: FTS5 words typed by a person, ranking, every filter, paging, hostile punctuation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfumato.catalog import Catalog, InvalidCollectionName, PictureRecord, SearchFilters
from sfumato.picture import Picture


def ids(records: list[PictureRecord]) -> list[str]:
    return [record.id for record in records]


def test_all_words_must_appear(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    both = catalog.add(picture("an otter, watercolor"))
    catalog.add(picture("an otter, oil painting"))
    catalog.add(picture("a watercolor heron"))
    assert ids(catalog.search("otter watercolor")) == [both.id]
    assert ids(catalog.search("WATERCOLOR Otter")) == [both.id]
    assert len(catalog.search("otter")) == 2


def test_words_match_exactly_not_as_prefixes(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    otters = catalog.add(picture("three otters"))
    assert catalog.search("otter") == []
    assert catalog.search("otte") == []
    assert ids(catalog.search("otters")) == [otters.id]


def test_search_covers_negative_prompt_and_model_but_ranks_prompt_first(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    avoided = catalog.add(picture("a fox", negative_prompt="blurry"))
    wanted = catalog.add(picture("blurry lights at night, fox"))
    assert ids(catalog.search("blurry")) == [wanted.id, avoided.id]
    other_model = catalog.add(picture("a fox", model="tinydream-v2"))
    assert ids(catalog.search("tinydream")) == [other_model.id]  # the tokenizer splits on '-'
    assert ids(catalog.search("tinydream-v2 fox")) == [other_model.id]
    assert catalog.search("tinydrea") == []


def test_without_text_newest_first_with_paging(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    added = [catalog.add(picture(f"picture {i}")) for i in range(5)]
    newest_first = ids(list(reversed(added)))
    assert ids(catalog.search()) == newest_first
    assert ids(catalog.search("", limit=2)) == newest_first[:2]
    assert ids(catalog.search(None, limit=2, offset=3)) == newest_first[3:]
    assert catalog.count() == 5 and catalog.count("picture") == 5


@pytest.mark.parametrize(
    "text",
    ['"', '"otter', "otter\"'", "-otter", "otter -", "model:otter", "NOT otter", "otter OR", "AND", "(otter",
     "otter)", "*", "otter*", "^otter", "NEAR(otter heron)", "{prompt}: otter", "; DROP TABLE pictures; --",
     "'", "\\", "\x00", "🦦", "   ", "+", "a:b:c", '""""'],
)  # fmt: skip
def test_punctuation_heavy_text_never_raises(
    catalog: Catalog, picture: Callable[..., Picture], text: str
) -> None:
    catalog.add(picture("otter"))
    assert isinstance(catalog.search(text), list)
    assert catalog.count(text) >= 0
    assert catalog.count() == 1


def test_quoted_tokens_still_find_their_words(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("(otter:1.2), [watercolor], 'heron'"))
    for text in ['"otter"', "(otter:1.2)", "otter, watercolor", "-heron", "NOT otter"]:
        found = ids(catalog.search(text))
        assert found == ([] if text == "NOT otter" else [record.id]), text
    assert ids(catalog.search("'; --")) == [record.id]  # no word in it: treated as no text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_text_never_raises(catalog: Catalog, text: str) -> None:
    assert isinstance(catalog.search(text), list)


def test_filter_model_sampler_seed(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    first = catalog.add(picture("a", model="m-one", sampler="Euler a", seed=5))
    second = catalog.add(picture("a", model="m-two", sampler="DDIM", seed=6))
    assert ids(catalog.search(filters=SearchFilters(model="m-one"))) == [first.id]
    assert ids(catalog.search(filters=SearchFilters(sampler="DDIM"))) == [second.id]
    assert ids(catalog.search(filters=SearchFilters(sampler="k_euler_a"))) == [first.id]  # alias
    assert ids(catalog.search(filters=SearchFilters(sampler="no such sampler"))) == []
    assert ids(catalog.search(filters=SearchFilters(seed=6))) == [second.id]
    assert ids(catalog.search("a", SearchFilters(model="m-two", seed=6))) == [second.id]
    assert catalog.search(filters=SearchFilters(model="m-two", seed=5)) == []
    assert catalog.count(filters=SearchFilters(model="m-one")) == 1


def test_filter_since_until(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    record = catalog.add(picture("dated"))
    at, second = record.created_at, timedelta(seconds=1)
    assert ids(catalog.search(filters=SearchFilters(since=at))) == [record.id]  # inclusive
    assert catalog.search(filters=SearchFilters(since=at + second)) == []
    assert catalog.search(filters=SearchFilters(until=at)) == []  # exclusive
    assert ids(catalog.search(filters=SearchFilters(until=at + second))) == [record.id]
    naive_utc = at.replace(tzinfo=None)
    assert ids(catalog.search(filters=SearchFilters(since=naive_utc, until=naive_utc + second))) == [
        record.id
    ]
    in_tokyo = at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert ids(catalog.search(filters=SearchFilters(since=in_tokyo, until=in_tokyo + second))) == [record.id]


def test_filter_collection_includes_sub_collections_only(
    catalog: Catalog, picture: Callable[..., Picture]
) -> None:
    top = catalog.add(picture("a"), collection="workshops")
    nested = catalog.add(picture("a"), collection="workshops/2026-11")
    deeper = catalog.add(picture("a"), collection="workshops/2026-11/day_1")
    catalog.add(picture("a"), collection="workshops-old")  # shares the prefix, not a sub-collection
    catalog.add(picture("a"), collection="work%")
    catalog.add(picture("a"))
    found = set(ids(catalog.search(filters=SearchFilters(collection="workshops"))))
    assert found == {top.id, nested.id, deeper.id}
    found = set(ids(catalog.search(filters=SearchFilters(collection="workshops/2026-11"))))
    assert found == {nested.id, deeper.id}
    assert catalog.search(filters=SearchFilters(collection="work")) == []
    assert catalog.search(filters=SearchFilters(collection="workshops/2026")) == []


def test_collections_lists_counts(catalog: Catalog, picture: Callable[..., Picture]) -> None:
    for collection in ("unsorted", "unsorted", "workshops/2026-11", "workshops", "ünïcode folder"):
        catalog.add(picture("a"), collection=collection)
    assert catalog.collections() == [
        ("unsorted", 2), ("workshops", 1), ("workshops/2026-11", 1), ("ünïcode folder", 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["", "..", "a/../b", "../outside", "/abs", "a\\b", "a//b", "a/", ".hidden", "a/.git", "tab\there", "C:",
     "new\nline", "a/./b", " padded", "what?", "x" * 201],
)  # fmt: skip
def test_invalid_collection_names_are_refused(
    catalog: Catalog, picture: Callable[..., Picture], name: str
) -> None:
    with pytest.raises(InvalidCollectionName, match="collection") as caught:
        catalog.add(picture("a"), collection=name)
    assert caught.value.exit_code == 2
    with pytest.raises(InvalidCollectionName):
        SearchFilters(collection=name)
    record = catalog.add(picture("b"))
    with pytest.raises(InvalidCollectionName):
        catalog.move(record.id, name)
    assert catalog.count() == 1
    assert [path.name for path in catalog.root.iterdir() if path.is_dir()] == ["unsorted"]
