{#- post-hook of the feature models: where the engine does not write the feature table as
    Parquet itself, write it to PAYLOOM_SPARK_DIR/export/<model>/ (part files), which payloom
    gathers into PAYLOOM_FEATURES_DIR/<model>.parquet. DuckDB's `external` materialisation
    already writes that file, so it gets no hook. -#}
{% macro export_feature_table() -%}
    {{ return(adapter.dispatch('export_feature_table')()) }}
{%- endmacro %}

{% macro default__export_feature_table() -%}
{%- endmacro %}

{% macro spark__export_feature_table() -%}
insert overwrite directory '{{ env_var("PAYLOOM_SPARK_DIR", "build/spark") }}/export/{{ this.identifier }}'
using parquet
select * from {{ this }}
{%- endmacro %}
