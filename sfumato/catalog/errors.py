"""Errors the catalog raises for a person to read: a missing picture, a bad collection name."""

from __future__ import annotations

from sfumato.errors import BadInput, SfumatoError


class PictureNotFound(SfumatoError):
    """No picture in the catalog has the id asked for."""

    exit_code = 3
    http_status = 404


class InvalidCollectionName(BadInput):
    """A collection name breaks a naming rule (it becomes a folder under the library root)."""
