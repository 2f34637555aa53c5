"""PromptError: a prompt that cannot mean anything, pointing at the column (with a caret line) where it goes wrong."""

from __future__ import annotations

from sfumato.errors import RecipeError


class PromptError(RecipeError):
    """A prompt (or negative prompt) is malformed at `column`; the message shows the prompt and a caret under it."""

    def __init__(self, message: str, *, prompt: str, column: int, field: str = "prompt",
                 hint: str | None = None) -> None:
        self.prompt = prompt
        self.column = column
        super().__init__(f"{field}: {message} at column {column + 1}\n{caret_lines(prompt, column)}",
                         field=field, hint=hint)


def caret_lines(prompt: str, column: int) -> str:
    """The prompt's line holding `column`, and a caret under that column (tabs and newlines shown as spaces)."""
    start = prompt.rfind("\n", 0, column) + 1
    end = prompt.find("\n", column)
    line = prompt[start:] if end == -1 else prompt[start:end]
    shown = line.replace("\t", " ")
    return f"  {shown}\n  {' ' * (column - start)}^"
