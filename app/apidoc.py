"""The OpenAPI document, built on first request instead of at import.

flask-openapi3 turns every route's models into JSON schemas as the route is declared (about
140 schemas, 0.2 s of each start), though nothing reads them until someone asks for the
document. These subclasses declare routes with only what validation needs, remember what the
document needs, and replay it, in declaration order, the first time the document is read, so
the document is the one flask-openapi3 would have built at start-up.
"""

from __future__ import annotations

import threading
from typing import Any

from flask_openapi3 import APIBlueprint, OpenAPI

# Blueprints are module-level and shared by every app of the process (tests build many).
_LOCK = threading.RLock()


class LazyDocBlueprint(APIBlueprint):
    """An APIBlueprint whose routes are documented only when ``document`` is called."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._undocumented: list[tuple[str, Any, dict]] = []

    def _collect_openapi_info(self, rule, func, **kwargs):
        # Validation needs only the parameter models, which doc_ui=False returns unparsed.
        if self.doc_ui is True and kwargs.get("doc_ui", True) is True:
            self._undocumented.append((rule, func, kwargs))
        return super()._collect_openapi_info(rule, func, **{**kwargs, "doc_ui": False})

    def document(self) -> None:
        """Build the paths, schemas and tags of every route declared so far."""
        with _LOCK:
            pending, self._undocumented = self._undocumented, []
            for rule, func, kwargs in pending:
                super()._collect_openapi_info(rule, func, **kwargs)


class LazyDocOpenAPI(OpenAPI):
    """An OpenAPI app that documents its LazyDocBlueprints on the first read of the document."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy_blueprints: list[LazyDocBlueprint] = []

    def register_api(self, api: APIBlueprint, **options: Any) -> None:
        """Register ``api``; a LazyDocBlueprint's documentation is merged in on demand."""
        super().register_api(api, **options)
        if isinstance(api, LazyDocBlueprint):
            self._lazy_blueprints.append(api)

    @property
    def api_doc(self) -> dict:
        """The OpenAPI document (built once, on first use)."""
        with _LOCK:
            if not self.spec_json:
                self._document_blueprints()
            return OpenAPI.api_doc.fget(self)

    def _document_blueprints(self) -> None:
        # What register_api merges at registration, merged now that there is something to merge.
        for api in self._lazy_blueprints:
            api.document()
            for tag in api.tags:
                if tag.name not in self.tag_names:
                    self.tags.append(tag)
                    self.tag_names.append(tag.name)
            self.paths.update(**api.paths)
            self.components_schemas.update(**api.components_schemas)
