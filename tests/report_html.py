"""A small HTML reader for the report tests (standard library only)."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportParser(HTMLParser):
    """Collects element ids (with their text), tables (by ``data-table``), images and links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.headers: dict[str, list[str]] = {}
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.attrs_by_tag: list[tuple[str, dict[str, str]]] = []
        self._open_ids: list[tuple[str, str, list[str]]] = []  # (tag, id, text parts)
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        self._depth: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        self.tags.add(tag)
        self.attrs_by_tag.append((tag, a))
        for t in self._open_ids:
            if t[0] == tag:
                self._depth[t[1]] = self._depth.get(t[1], 0) + 1
        if "id" in a:
            self._open_ids.append((tag, a["id"], []))
        if tag == "table" and "data-table" in a:
            self._table = a["data-table"]
            self.tables[self._table] = []
            self.headers[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._in_head:
                self.headers[self._table] = self._row
            else:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._table = None
        for i in range(len(self._open_ids) - 1, -1, -1):
            t, ident, parts = self._open_ids[i]
            if t == tag:
                if self._depth.get(ident, 0) > 0:
                    self._depth[ident] -= 1
                    break
                self.ids[ident] = " ".join("".join(parts).split())
                del self._open_ids[i]
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, _, parts in self._open_ids:
            parts.append(data)

    def column(self, table: str, name: str) -> list[str]:
        j = self.headers[table].index(name)
        return [r[j] for r in self.tables[table]]

    def row(self, table: str, first: str) -> dict[str, str]:
        for r in self.tables[table]:
            if r[0] == first:
                return dict(zip(self.headers[table], r, strict=True))
        raise KeyError(f"no row {first!r} in table {table!r}")


def parse(html: str) -> ReportParser:
    p = ReportParser()
    p.feed(html)
    p.close()
    return p
