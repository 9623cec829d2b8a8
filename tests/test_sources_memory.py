"""A DuckDB read holds its columns only (issue 19): a text column that DuckDB exports to
Arrow keeps the buffers of its whole record batch alive (the dates and amounts pandas has
already copied out), so the reader copies text columns out of the batch."""

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from salesplan.data.sources import _compact_text
from salesplan.reports.runner import KERNEL_ALLOCATOR_ENV


def _rss_script(path: str) -> str:
    return textwrap.dedent(f"""
        import ctypes
        import gc

        import duckdb
        import pyarrow

        from salesplan.data.sources import DuckDBSource

        def rss_mib():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 / 2**20

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


def test_compacted_text_columns_hold_the_same_values(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t AS SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE '客户-' || i::VARCHAR END AS name, "
                "i::DOUBLE AS x FROM range(300000) r(i)")
    table = con.sql("SELECT * FROM t").to_arrow_table()
    compact = _compact_text(table)
    assert compact.equals(table) and compact.schema == table.schema
    assert compact.column("x").chunks[0].buffers()[1].address == table.column("x").chunks[0].buffers()[1].address
    assert all(a.buffers()[2].address != b.buffers()[2].address  # the text copied, the numbers not
               for a, b in zip(compact.column("name").chunks, table.column("name").chunks))
    con.close()
