"""A tiny HTML reader for assertions on rendered pages."""

from __future__ import annotations

from html.parser import HTMLParser


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def tags(html: str, name: str | None = None) -> list[dict[str, str]]:
    """Attributes of every start tag (of one name, if given), in document order."""
    collector = _Collector()
    collector.feed(html)
    return [attrs for tag, attrs in collector.tags if name is None or tag == name]
