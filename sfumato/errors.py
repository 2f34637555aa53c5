"""The SfumatoError family: one message a person can act on, one CLI exit code, one HTTP status.

Every error the product raises on purpose derives from `SfumatoError`. The CLI wrapper and the
FastAPI exception handler map them, and nothing else does.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar, Final, Mapping


class SfumatoError(Exception):
    """Base of every error sfumato raises for a person to read."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


class RecipeError(SfumatoError):
    """A Recipe field (or a combination of fields) is not allowed: names the field, the rule, the value."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class BadInput(SfumatoError):
    """A file or argument given by the user cannot be used (not a PNG, no metadata, ...)."""

    exit_code = 2
    http_status = 400


class ModelNotFound(SfumatoError):
    """The model (or adapter) asked for is not in the library."""

    exit_code = 3
    http_status = 404


class UnsafeCheckpoint(SfumatoError):
    """A pickle-based checkpoint was refused; the hint says how to convert it safely."""

    exit_code = 3
    http_status = 415


class UnknownArchitecture(SfumatoError):
    """A checkpoint's tensors match no model family sfumato knows."""

    exit_code = 3
    http_status = 422


class OutOfMemory(SfumatoError):
    """The device ran out of memory; the hint suggests what to lower or which offload to try."""

    exit_code = 4
    http_status = 507


class JobCancelled(SfumatoError):
    """Work was stopped on request (interrupt or skip); not a failure of the input."""

    exit_code = 5
    http_status = 409


class NotReproduced(SfumatoError):
    """`sfumato again` regenerated a picture and its pixels differ from the file."""

    exit_code = 6
    http_status = 409


class CatalogError(SfumatoError):
    """The library folder or its index cannot be read or written."""

    exit_code = 7
    http_status = 500


EXIT_CODES: Final[Mapping[str, int]] = MappingProxyType({
    cls.__name__: cls.exit_code
    for cls in (
        SfumatoError,
        RecipeError,
        BadInput,
        ModelNotFound,
        UnsafeCheckpoint,
        UnknownArchitecture,
        OutOfMemory,
        JobCancelled,
        NotReproduced,
        CatalogError,
    )
})
