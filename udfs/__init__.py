"""payloom UDFs: compiled models registered as DuckDB functions (see issue on in-SQL scoring)."""
