"""A titled row-cursor table that sorts by any column (with an indicator in the header)
and filters its rows by text, keeping the cursor on the same row when refilled."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

#: The header's sort indicators: ascending, descending.
ASCENDING, DESCENDING = "▲", "▼"


@dataclass(frozen=True)
class Column:
    """A table column: its header ``label`` and the direction it is first sorted in
    (``descending``: largest first, as counts and ages are)."""

    label: str
    descending: bool = False


@dataclass(frozen=True)
class Row:
    """A table row: its ``key`` (the same document keeps the same key), the ``cells`` shown,
    one sortable ``values`` entry per column (None sorts last) and the ``text`` the filter
    searches (the cells' full values, ids uncut, names)."""

    key: str
    cells: Sequence[Any]
    values: Sequence[Any]
    text: str


@dataclass(frozen=True)
class Sort:
    """Sorted by column ``column`` (an index), largest first when ``descending``."""

    column: int
    descending: bool


def sort_rows(rows: Iterable[Row], sort: Sort | None) -> list[Row]:
    """``rows`` ordered by ``sort`` (ties by key; rows without a value last, whichever the
    direction); in their given order when ``sort`` is None."""
    rows = list(rows)
    if sort is None:
        return rows
    rows.sort(key=lambda r: r.key)
    known = [r for r in rows if r.values[sort.column] is not None]
    unknown = [r for r in rows if r.values[sort.column] is None]
    known.sort(key=lambda r: r.values[sort.column], reverse=sort.descending)
    return known + unknown


def filter_rows(rows: Iterable[Row], text: str) -> list[Row]:
    """The rows whose text contains ``text`` (case-insensitive; empty keeps every row)."""
    needle = text.strip().lower()
    return [r for r in rows if needle in r.text.lower()] if needle else list(rows)


class TableView(Vertical):
    """A title line over a sortable, filterable row-cursor table.

    Subclasses set :attr:`COLUMNS`, :attr:`TABLE_ID`, :attr:`NOUN` (what a row is, for the
    title) and :attr:`DEFAULT_SORT`, and call :meth:`fill` with their rows. A change of
    sort posts :class:`TableView.Sorted`."""

    class Sorted(Message):
        """The view's sort changed (by a key or a click on a header)."""

        def __init__(self, view: TableView) -> None:
            super().__init__()
            self.view = view

    DEFAULT_CSS = """
    TableView { height: 1fr; }
    TableView > .title { height: auto; padding: 0 1; background: $boost; }
    TableView > DataTable { height: 1fr; }
    """
    COLUMNS: tuple[Column, ...] = ()
    TABLE_ID = ""
    NOUN = "row"
    DEFAULT_SORT: Sort | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sort: Sort | None = self.DEFAULT_SORT
        self.filter_text = ""
        self.rows: list[Row] = []  # as last given, before filtering and sorting
        self.shown: list[Row] = []  # as shown: filtered and sorted
        self._title: str | Text = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="title")
        table: DataTable[Any] = DataTable(id=self.TABLE_ID or None, cursor_type="row",
                                          zebra_stripes=True)
        table.add_columns(*self.labels())
        yield table

    @property
    def table(self) -> DataTable[Any]:
        """The view's table."""
        return self.query_one(DataTable)

    def labels(self) -> list[str]:
        """The column headers, the sorted column's with its direction's arrow."""
        labels = [c.label for c in self.COLUMNS]
        if self.sort is not None:
            arrow = DESCENDING if self.sort.descending else ASCENDING
            labels[self.sort.column] += f" {arrow}"
        return labels

    # -- title, sort and filter ----------------------------------------------------------

    def set_title(self, title: str | Text) -> None:
        """Replace the title line(s) above the table (the filter is added after it)."""
        self._title = title
        self._show_title()

    def _show_title(self) -> None:
        title = Text(self._title) if isinstance(self._title, str) else self._title.copy()
        if self.filter_text.strip():
            # A line of its own: the title's lines can already fill the width.
            title.append(f"\nfilter {self.filter_text.strip()!r}: {len(self.shown)} of "
                         f"{len(self.rows)} {self.NOUN}s (escape clears)", "bold yellow")
        self.query_one(".title", Static).update(title)

    def sort_by(self, column: int, descending: bool | None = None) -> None:
        """Sort by ``column`` in its first direction (``descending`` when given); the same
        column again reverses the direction."""
        if not 0 <= column < len(self.COLUMNS):
            raise ValueError(f"no column {column} in {self.NOUN}s")
        if descending is None:
            descending = (not self.sort.descending
                          if self.sort is not None and self.sort.column == column
                          else self.COLUMNS[column].descending)
        self.sort = Sort(column, descending)
        self._show_rows()
        self.post_message(self.Sorted(self))

    def cycle_sort(self, step: int = 1) -> None:
        """Sort by the next column (``step`` 1: the first one when unsorted) or the previous
        one (-1: the last one when unsorted), in that column's first direction."""
        if self.sort is None:
            column = 0 if step > 0 else len(self.COLUMNS) - 1
        else:
            column = (self.sort.column + step) % len(self.COLUMNS)
        self.sort_by(column, self.COLUMNS[column].descending)

    def reverse_sort(self) -> None:
        """Reverse the direction of the sort (sorting by the first column when unsorted)."""
        if self.sort is None:
            self.sort_by(0)
        else:
            self.sort_by(self.sort.column, not self.sort.descending)

    def set_filter(self, text: str) -> None:
        """Show only the rows whose text contains ``text`` (empty: every row)."""
        self.filter_text = text
        self._show_rows()

    # -- rows ----------------------------------------------------------------------------

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def fill(self, rows: Iterable[Row]) -> None:
        """Replace the rows, then show them filtered and sorted."""
        self.rows = list(rows)
        self._show_rows()

    def _show_rows(self) -> None:
        """Show :attr:`rows` filtered and sorted, keeping the cursor on the same key.

        The columns get widths measured here: DataTable's own measuring happens later and
        its cell cache can keep cells drawn at the header's width meanwhile."""
        self.shown = sort_rows(filter_rows(self.rows, self.filter_text), self.sort)
        table = self.table
        keep, index = self.selected_key(), table.cursor_row
        table.clear(columns=True)
        for column, label in enumerate(self.labels()):
            width = max([cell_len(label), *(_cell_width(r.cells[column]) for r in self.shown)])
            table.add_column(label, width=width)
        for row in self.shown:
            table.add_row(*row.cells, key=row.key)
        self._show_title()
        if not self.shown:
            return
        if keep is not None and keep in table.rows:
            index = table.get_row_index(keep)
        table.move_cursor(row=min(index, len(self.shown) - 1))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by its column (again: the other way)."""
        event.stop()
        self.sort_by(event.column_index)


def _cell_width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))
