"""dbt-duckdb plugin: registers every promoted model as `score_<model>` on each dbt connection,
so models under `dbt_project/models/scores/` can call them (see the `score` macro).

Enabled in profiles.yml:

    plugins:
      - module: udfs.dbt_plugin
        config:
          registry: "{{ env_var('PAYLOOM_MODEL_REGISTRY', 'build/models') }}"

A registry folder that does not exist yet (before the first training) registers nothing, so
feature builds work before any model is trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from udfs.duckdb_functions import register_artifacts, register_policies
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry


class Plugin(BasePlugin):
    """Registers the registry's promoted models on every DuckDB connection dbt opens."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.registry = ModelRegistry(Path(plugin_config.get("registry", "build/models")))
        self._artifacts: list[ModelArtifact] | None = None

    def configure_connection(self, conn) -> None:
        # Checksums are verified and libraries loaded once per dbt invocation, not per connection.
        if self._artifacts is None:
            self._artifacts = self.registry.load_all()
        register_artifacts(conn, self._artifacts, source=str(self.registry.root))

    def configure_cursor(self, cursor) -> None:
        # Functions registered on the connection reach its cursors; temporary macros do not.
        register_policies(cursor, self._artifacts or [])
