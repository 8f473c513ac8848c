{#- The instant after which a raw timestamp counts as "in the future" (UTC TIMESTAMP).
    Default: now; tests pin it with --vars '{load_started_at: "..."}'. -#}
{% macro load_started_at() -%}
  {%- if var('load_started_at', none) is not none -%}
    cast('{{ var("load_started_at") }}' as timestamp)
  {%- else -%}
    cast(now() as timestamp)
  {%- endif -%}
{%- endmacro %}
