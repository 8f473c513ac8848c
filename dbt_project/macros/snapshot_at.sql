{#- The monthly snapshot a feature point at `timestamp_column` belongs to (a TIMESTAMP, the first
    instant of its month): the grain of the product co-holding statistics
    (`int_snapshot_holding_patterns`, `product_similarity`, `holding_pattern_neighbours`). -#}
{% macro snapshot_at(timestamp_column) -%}
    cast(date_trunc('month', {{ timestamp_column }}) as timestamp)
{%- endmacro %}
