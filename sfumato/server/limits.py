"""Server limits on what one request may ask for (size, steps, batch, body bytes), checked at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from sfumato.errors import SfumatoError
from sfumato.recipe import Recipe


class LimitExceeded(SfumatoError):
    """A request asks for more than this server allows; the message says what is allowed."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


@dataclass(frozen=True)
class Limits:
    """Per-request ceilings. The defaults fit one consumer GPU; `sfumato serve` options change them."""

    max_side: int = 2048
    max_steps: int = 150
    max_batch_size: int = 8
    max_batch_count: int = 16
    max_body_bytes: int = 16 * 1024 * 1024  # a 2048x2048 PNG in base64 fits with room to spare

    def check_count(self, pictures: int) -> None:
        """A template expands into one Recipe per picture: all of them together stay within batch x count."""
        ceiling = self.max_batch_size * self.max_batch_count
        if pictures > ceiling:
            raise LimitExceeded(f"batch_size: this server makes at most {ceiling} pictures per request "
                                f"(batch_size x batch_count), got {pictures}", field="batch_size")

    def check(self, recipe: Recipe) -> Recipe:
        """Return `recipe` when it is within the limits, else raise LimitExceeded naming the field."""
        ceilings = (
            ("width", recipe.width, self.max_side), ("height", recipe.height, self.max_side),
            ("steps", recipe.steps, self.max_steps), ("batch_size", recipe.batch_size, self.max_batch_size),
            ("batch_count", recipe.batch_count, self.max_batch_count),
        )
        if recipe.hires_upscaler is not None:  # hires fix (issue #7): the second pass's size and steps count too
            hires_width, hires_height = recipe.hires_size()
            ceilings += (("hires_width", hires_width, self.max_side), ("hires_height", hires_height, self.max_side),
                         ("hires_steps", recipe.hires_steps, self.max_steps))
        for field, value, ceiling in ceilings:
            if value > ceiling:
                raise LimitExceeded(f"{field}: this server allows at most {ceiling}, got {value}", field=field)
        return recipe
