{#- Cast a raw column to its contract type; NULL when the value does not parse exactly.
    Unlike try_cast, '12.5' does not become the BIGINT 13: an integer must be whole. -#}
{% macro cast_strictly(column, data_type) -%}
  {%- if data_type | lower in ('bigint', 'integer') -%}
    case when try_cast({{ column }} as double) = floor(try_cast({{ column }} as double))
         then try_cast({{ column }} as {{ data_type }}) end
  {%- else -%}
    try_cast({{ column }} as {{ data_type }})
  {%- endif -%}
{%- endmacro %}
