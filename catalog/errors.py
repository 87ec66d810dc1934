"""The catalog's errors, grouped by what the caller did wrong. The gateway maps them to HTTP
in one place (gateway/errors.py).

    CatalogError
    ├── NotFoundError            unknown unit or dataset                        (404)
    ├── AlreadyExistsError       a unit or dataset id that is taken             (409)
    ├── InvalidError             a located list of problems in what was sent   (422)
    └── TransitionError          a lifecycle change the rules do not allow      (409)
"""

from __future__ import annotations

from typing import Any


class CatalogError(Exception):
    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class NotFoundError(CatalogError):
    pass


class AlreadyExistsError(CatalogError):
    pass


class InvalidError(CatalogError):
    pass


class TransitionError(CatalogError):
    pass
