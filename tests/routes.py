"""Every URL route of the site, walked once, for the tests that must cover them all.

Ids in a route are named after what they point at: ``api/items/<int:item_id>/`` is
``/api/items/{item}/``, ready for ``str.format``.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import get_resolver

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    template: str  # "/api/items/{item}/"
    callback: object

    @property
    def has_id(self) -> bool:
        return "{" in self.template

    @property
    def is_api(self) -> bool:
        return self.template.startswith("/api/")

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods a class-based view answers; function views cannot tell."""
        view = getattr(self.callback, "view_class", None)
        assert view is not None, f"{self.template}: cannot tell which methods a function view takes"
        return tuple(method for method in METHODS if hasattr(view, method))


def template(route: str) -> str:
    """``api/items/<int:item_id>/`` as ``/api/items/{item}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+?)(?:_id)?>", r"{\1}", route)


def _walk(patterns, prefix: str) -> Iterator[Route]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield Route(template(route), pattern.callback)


def routes() -> list[Route]:
    """Every route of the site, Django's admin left out."""
    return [
        route
        for route in _walk(get_resolver().url_patterns, "")
        if not route.template.startswith("/admin/")
    ]


def api_endpoints() -> set[tuple[str, str]]:
    """(method, template) for every method of every view under /api/."""
    return {
        (method, route.template) for route in routes() if route.is_api for method in route.methods
    }


def api_endpoints_with_an_id() -> set[tuple[str, str]]:
    """The endpoints an outsider must get 404 from: every method of every route with an id."""
    return {(method, path) for method, path in api_endpoints() if "{" in path}


def pages_with_an_id() -> set[str]:
    """The templates of the HTML pages (not /api/) whose URL names an object."""
    return {route.template for route in routes() if route.has_id and not route.is_api}
