"""The backend seam's memory: each engine's limit in bytes, out-of-memory as a domain error, one size parser.

``memory_limit_bytes`` is part of the ``Backend`` protocol and runs on DuckDB and Spark (``engine`` fixture);
running out of memory is provoked on DuckDB, whose limit a test can set small.
"""
from __future__ import annotations

import inspect

import pytest

import workbench
from tests.handbuilt import tiny_brand
from workbench.engine import Backend, default_memory_limit
from workbench.engine.sizes import parse_size
from workbench.errors import EngineOutOfMemoryError, ParameterError, WorkbenchError

AS_OF = "2025-02-01"


def test_memory_limit_in_bytes_on_each_engine(engine):
    """DuckDB: the limit the workbench set, as bytes; Spark: None."""
    wb = engine(tiny_brand(), as_of=AS_OF)
    assert isinstance(wb.backend, Backend)
    limit = wb.backend.memory_limit_bytes()
    if wb.dialect == "duckdb":  # the default: half the machine, in MB (at least 1 GiB), read back as DuckDB shows it
        expected = parse_size(default_memory_limit())
        assert limit == pytest.approx(expected, rel=0.05) and limit >= 0.95 * 2**30
    else:  # a cluster spills past its executors' memory: no limit to plan SQL for
        assert limit is None


def test_duckdb_limit_as_set_and_unlimited():
    """A limit given on opening reads back as DuckDB rounds it; no limit reads None."""
    wb = workbench.open({"orders": tiny_brand()["orders"]}, as_of=AS_OF, memory_limit="2GB")
    # DuckDB shows 2GB as "1.8 GiB": a tenth of a GiB of rounding, 3.4% under 2·10⁹
    assert wb.backend.memory_limit_bytes() == int(1.8 * 2**30)
    wb.con.execute("SET memory_limit = '-1'")
    assert wb.backend.memory_limit_bytes() is None


class TestOutOfMemory:
    """DuckDB's out-of-memory error leaves the backend as the domain's, through every primitive that runs SQL."""

    @pytest.fixture()
    def small(self):
        """The tiny brand's orders on a DuckDB limited to 8 MB."""
        wb = workbench.open({"orders": tiny_brand()["orders"]}, as_of=AS_OF)
        wb.con.execute("SET memory_limit = '8MB'")
        yield wb
        wb.close()

    # a list aggregate's state does not spill: 2M values in lists of 1,000 need about 16 MB at least
    TOO_BIG = "SELECT g, LIST(i) AS l FROM (SELECT i, i % 2000 AS g FROM range(2000000) t(i)) x GROUP BY g"

    @pytest.mark.parametrize("how", ["query", "scalar", "materialize"])
    def test_duckdb_out_of_memory_is_a_domain_error(self, small, how):
        """A list aggregate past the limit raises EngineOutOfMemoryError with DuckDB's error as the cause."""
        run = {"query": lambda: small.query(self.TOO_BIG),
               "scalar": lambda: small.scalar(f"SELECT SUM(len(l)) FROM ({self.TOO_BIG}) q"),
               "materialize": lambda: small.materialize("__too_big", self.TOO_BIG)}[how]
        with pytest.raises(EngineOutOfMemoryError, match="ran out of memory") as err:
            run()
        assert isinstance(err.value, WorkbenchError) and isinstance(err.value, MemoryError)
        assert type(err.value.__cause__).__name__ == "OutOfMemoryException"  # DuckDB's own error, kept as the cause
        assert small.scalar("SELECT COUNT(*) FROM orders") == 7  # the connection still answers

    def test_a_query_that_fits_runs(self, small):
        """The same limit lets a streaming query of as many rows through."""
        assert small.scalar("SELECT COUNT(*) FROM range(2000000)") == 2_000_000  # streams: no state to hold


class TestSizes:
    """engine.sizes.parse_size: the forms the CLI, the batch planner and DuckDB's own display use."""

    @pytest.mark.parametrize("text, expected", [
        ("8GB", 8 * 10**9), ("8gb", 8 * 10**9), ("512 MB", 512 * 10**6), ("1.5GiB", int(1.5 * 2**30)),
        ("8G", 8 * 2**30), ("2k", 2048), ("100B", 100), ("1TB", 10**12), ("1TiB", 2**40),
        ("4.6 GiB", int(4.6 * 2**30)), ("953.6 MiB", int(953.6 * 2**20)), ("16383.9 PiB", int(16383.9 * 2**50)),
        (1024, 1024),
    ])
    def test_forms(self, text, expected):
        """Decimal and binary units, DuckDB's display, bytes as an int."""
        assert parse_size(text) == expected

    def test_percent_of_the_machine(self, monkeypatch):
        """A percentage is of the physical memory."""
        import workbench.engine.sizes as sizes

        monkeypatch.setattr(sizes, "physical_memory", lambda: 10 * 2**30)
        assert parse_size("50%") == 5 * 2**30

    @pytest.mark.parametrize("bad", ["8", "GB", "8XB", "-1GB", "eight GB", "", True])
    def test_refused_with_the_forms_it_takes(self, bad):
        """A size without a known unit is refused with examples of the forms taken."""
        with pytest.raises(ParameterError, match=r"memory size .*expected a number and a unit, e\.g\. 8GB, 6GiB"):
            parse_size(bad)

    def test_the_batch_planner_reads_sizes_with_the_same_parser(self):
        """reports.schedule.parse_size keeps its name and gives the engine parser's bytes and errors."""
        from workbench.reports.schedule import parse_size as schedule_parse_size

        for text in ("8GB", "6GiB", "512 MB", "8G", "4.6 GiB"):
            assert schedule_parse_size(text) == parse_size(text)
        with pytest.raises(ParameterError, match="memory size"):
            schedule_parse_size("lots")


def test_the_clv_pipeline_reaches_the_engine_only_through_the_backend():
    """The CLV pipeline reads the limit and catches out-of-memory through the seam, not DuckDB."""
    from workbench.clv import pipeline

    source = inspect.getsource(pipeline)
    assert "import duckdb" not in source and "duckdb_settings" not in source
