"""The API's request parsers: DRF's JSON, form and multipart parsers that refuse unsafe characters in any text.

Every string of a request body (values at any depth, and the keys of objects) is checked with
`voucherhub.core.text.text_unsafe_characters` as it is parsed, before any serializer or service sees it: one
control characters, lone surrogate or non-character makes the request a 400 whose `fields` names where it
was (`customer_ref`, `items.0.note`). So no serializer has to remember it, and nothing is half-written.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] lists these; a view that sets its own parsers must use them too.
"""

from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers, serializers

from voucherhub.core.text import UNSAFE_TEXT_MESSAGE, text_unsafe_characters


def _problems(value, path: str, out: dict) -> None:
    if isinstance(value, str):
        found = text_unsafe_characters(value)
        if found:
            out.setdefault(path or "non_field_errors", []).append(UNSAFE_TEXT_MESSAGE % {"found": ", ".join(found[:5])})
    elif isinstance(value, dict):
        for key, sub in value.items():
            key_text = str(key)
            if text_unsafe_characters(key_text):
                _problems(key_text, path or "non_field_errors", out)
                continue
            _problems(sub, f"{path}.{key_text}" if path else key_text, out)
    elif isinstance(value, list | tuple):
        for index, sub in enumerate(value):
            _problems(sub, f"{path}.{index}" if path else str(index), out)


def body_text_check(data) -> None:
    """Raise a DRF ValidationError naming every field of `data` whose text holds unsafe characters."""
    if isinstance(data, MultiValueDict | QueryDict):
        data = {key: data.getlist(key) if len(data.getlist(key)) > 1 else data.get(key) for key in data}
    out: dict[str, list[str]] = {}
    _problems(data, "", out)
    if out:
        raise serializers.ValidationError(out)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        body_text_check(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        body_text_check(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        body_text_check(parsed.data)
        return parsed
