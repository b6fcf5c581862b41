"""The API's JSON parser: DRF's, with the one input it turns into a 500 refused instead."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # A body nested thousands deep exhausts the decoder's recursion (RecursionError is no
        # ValueError, so DRF lets it through as a 500); it is malformed input like any other.
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
