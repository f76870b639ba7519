"""``{% load osis_async %}``: ``{{ task.description|linked }}`` shows a description as text with
its safe ``<a href>`` links as links (``osis_async.links``)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from osis_async.links import description_parts

register = template.Library()


@register.filter(is_safe=True)
def linked(text: object) -> SafeString:
    """``text`` escaped, but for the ``http``/``https``/site-relative ``<a href>`` links in it,
    which open in a new tab with ``rel="noopener noreferrer"``."""
    return format_html_join(
        "",
        "{}",
        (
            (
                format_html(
                    '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
                    part.href,
                    part.text,
                )
                if part.href is not None
                else part.text,
            )
            for part in description_parts("" if text is None else str(text))
        ),
    )
