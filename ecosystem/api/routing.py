"""One URL, one view class per operation.

A Django URL pattern names one view, and a DRF view class answers every method it defines.
The conventions want one class per operation (``ReferralListApi``, ``ReferralCreateApi``), so
a path that several operations share is routed by method in the URLconf::

    path("referrals", by_method(get=ReferralListApi, post=ReferralCreateApi), name="referrals")

Each operation keeps everything of its own: scopes, throttle, idempotency, schema. A method
that no operation answers gets what DRF gives any view (the caller authenticated and
throttled, then 405 ``method_not_allowed`` with an ``Allow`` header naming the methods that
are answered); ``OPTIONS`` is answered by the route the same way.

drf-spectacular documents the operations, not the route: ``expand_operations`` is its
preprocessing hook (``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``) and hands each method's
own view to the generator, so each operation has its own ``extend_schema``, scopes and id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from rest_framework.views import APIView

Endpoint = tuple[str, str, str, Callable[..., Any]]  # path, path regex, method, callback


class MethodRoute(APIView):
    """Dispatches a request, untouched, to the view of its method (see ``by_method``)."""

    operations: ClassVar[Mapping[str, Callable[..., HttpResponseBase]]] = {}
    # For the methods no operation answers: any valid partner token may learn that (405).
    required_scopes: ClassVar[list[str]] = []

    @property
    def allowed_methods(self) -> list[str]:
        return [*self.operations, "OPTIONS"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = "GET" if request.method == "HEAD" else request.method
        operation = self.operations.get(method or "")
        if operation is None:
            return super().dispatch(request, *args, **kwargs)
        return operation(request, *args, **kwargs)


def by_method(**views: type[APIView]) -> Callable[..., HttpResponseBase]:
    """A URL callback answering each HTTP method (lower-case keyword) with its own view.

    Each view must answer exactly the method it is routed for, so a class cannot quietly
    serve a second operation that the schema and the URLconf do not show.
    """
    operations: dict[str, Callable[..., HttpResponseBase]] = {}
    for method, view in views.items():
        answered = {m for m in view.http_method_names if m != "options" and hasattr(view, m)}
        if answered != {method}:
            raise ImproperlyConfigured(
                f"{view.__name__} is routed for {method.upper()} but answers "
                f"{', '.join(sorted(m.upper() for m in answered)) or 'nothing'}."
            )
        operations[method.upper()] = view.as_view()
    name = "Route" + "".join(view.__name__ for view in views.values())
    route = type(name, (MethodRoute,), {"operations": operations, "__module__": __name__})
    return route.as_view()


def operations_of(callback: Callable[..., Any]) -> dict[str, type[APIView]]:
    """The view class of each method a URL callback answers (upper-case method names)."""
    view = getattr(callback, "cls", None)
    if view is None:
        return {}
    if issubclass(view, MethodRoute):
        return {method: operation.cls for method, operation in view.operations.items()}
    return {
        method.upper(): view
        for method in view.http_method_names
        if method not in {"options", "head"} and hasattr(view, method)
    }


def expand_operations(endpoints: list[Endpoint]) -> list[Endpoint]:
    """drf-spectacular preprocessing hook: document each routed method by its own view."""
    expanded = []
    for path, path_regex, method, callback in endpoints:
        route = getattr(callback, "cls", None)
        if isinstance(route, type) and issubclass(route, MethodRoute):
            callback = route.operations[method]
        expanded.append((path, path_regex, method, callback))
    return expanded
