"""Properties: any text parses (or fails with a SfumatoError); parsing is torch-free."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato.errors import SfumatoError
from sfumato.prompt.parse import parse_prompt

PROMPTISH = st.lists(st.sampled_from(list("ab ()[]:|\\,.0123+-\"\n") + ["BREAK", " AND ", "<lora:x:", ">", "1.5",
                                                                          ").and()", ".blend(", "++"]),
                     max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(PROMPTISH, st.text(max_size=40)), st.integers(1, 30))
def test_any_text_parses_or_raises_a_sfumato_error(text: str, steps: int) -> None:
    for negative in (False, True):
        try:
            parsed = parse_prompt(text, steps=steps, negative=negative)
        except SfumatoError:
            continue
        for sub in parsed.sub_prompts:
            assert sub.schedule[-1].end_at_step == steps
            assert [e.end_at_step for e in sub.schedule] == sorted({e.end_at_step for e in sub.schedule})


def test_parsing_does_not_import_torch() -> None:
    code = ("import sys; from sfumato.prompt.parse import parse_prompt; import sfumato.cli.prompt; "
            "parse_prompt('a (cat:1.2) [x:y:3] AND b', steps=5); parse_prompt('a cat++', steps=5); "
            "heavy = {'torch', 'diffusers', 'transformers'} & set(sys.modules); assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
