"""A DuckDB read holds its columns only (issue 19): a text column that DuckDB exports to
Arrow keeps the buffers of its whole record batch alive (the dates and amounts pandas has
already copied out), so the reader copies text columns out of the batch, into arrays of
64 MiB or more; and an emptied table shares no memory with the loaded one."""

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from salesplan.data import sources
from salesplan.reports.runner import KERNEL_ALLOCATOR_ENV


def _rss_script(path: str) -> str:
    return textwrap.dedent(f"""
        import ctypes
        import gc
        import os

        import duckdb
        import pyarrow

        from salesplan.data.sources import DuckDBSource

        def rss_mib():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

        def released():
            gc.collect()
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except (OSError, AttributeError):  # another C library: nothing to trim
                pass
            return rss_mib()

        source = DuckDBSource("duckdb:///{path}", {path!r})
        source._read_table("small")  # libraries loaded and DuckDB warmed up before measuring
        before = released()
        frame = source._read_table("wide")
        text = frame[["customer_id"]]
        held = text["customer_id"].array._pa_array.nbytes / 2**20
        del frame
        print(released() - before, held)
    """)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident size from /proc")
def test_a_kept_text_column_does_not_hold_the_other_columns(tmp_path):
    path = tmp_path / "wide.duckdb"
    con = duckdb.connect(str(path))
    # 2M rows: a text column (~24 MiB) beside eight float columns (122 MiB)
    con.execute("CREATE TABLE small AS SELECT 'C1' AS customer_id, 1.0 AS x")
    con.execute("CREATE TABLE wide AS SELECT 'C' || (i % 50000)::VARCHAR AS customer_id, "
                + ", ".join(f"random() AS x{k}" for k in range(8)) + " FROM range(2000000) t(i)")
    con.close()
    env = {**os.environ, **KERNEL_ALLOCATOR_ENV}  # as in a notebook's kernel: Arrow on the system allocator
    out = subprocess.run([sys.executable, "-c", _rss_script(str(path))], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    grown, held = float(out[0]), float(out[1])
    # the floats, dropped with the frame, are given back; before the copy they stayed (+135 MiB)
    assert grown < held + 60, (grown, held)


def test_compacted_text_columns_hold_the_same_values(tmp_path, monkeypatch):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t AS SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE '客户-' || i::VARCHAR END AS name, "
                "i::DOUBLE AS x FROM range(300000) r(i)")
    table = con.sql("SELECT * FROM t").to_arrow_table()
    con.close()
    batches = table.column("name").num_chunks  # DuckDB's batches (122,880 rows in DuckDB 1.x-2.0)
    assert batches > 1
    for least, arrays in ((1, batches), (2**40, 1)):  # each batch its own array / all in one
        monkeypatch.setattr(sources, "TEXT_ARRAY_BYTES", least)
        compact = sources._compact_text(table)
        assert compact.equals(table) and compact.schema == table.schema
        assert compact.column("name").num_chunks == arrays
        old = {b.address for c in table.column("name").chunks for b in c.buffers() if b is not None}
        new = {b.address for c in compact.column("name").chunks for b in c.buffers() if b is not None}
        assert not old & new  # the text copied
        assert compact.column("x").chunks[0].buffers()[1].address == table.column("x").chunks[0].buffers()[1].address


def test_without_tables_keeps_no_loaded_column(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE orders AS SELECT DATE '2026-01-01' + (i % 300)::INTEGER AS order_date, "
                "'C' || (i % 97)::VARCHAR AS customer_id, (i % 50)::DOUBLE AS amount FROM range(5000) r(i)")
    con.execute("CREATE TABLE invoices AS SELECT 'I1' AS invoice_id, 'C1' AS customer_id, "
                "DATE '2026-01-01' AS issue_date, DATE '2026-02-01' AS due_date, 10.0 AS amount")
    con.close()
    path = str(tmp_path / "t.duckdb")
    data = sources.DuckDBSource(f"duckdb:///{path}", path).load()
    out = data.without_tables("orders", "invoices")
    assert out.invoices is None and out.customers is data.customers and len(out.orders) == 0
    assert list(out.orders.columns) == list(data.orders.columns)
    assert list(out.orders.dtypes) == list(data.orders.dtypes)
    ids = data.orders["customer_id"].array._pa_array
    kept = out.orders["customer_id"].array._pa_array
    old = {b.address for c in ids.chunks for b in c.buffers() if b is not None}
    assert not old & {b.address for c in kept.chunks for b in c.buffers() if b is not None}
    with pytest.raises(ValueError, match="unknown table"):
        data.without_tables("order")
