{#- The instant at which the "current" feature row of every entity is stamped (UTC TIMESTAMP):
    the row the online store serves. It uses events strictly before this instant.
    Default: the load time; the simulator's world is in the past, so the main job passes the
    end of the simulated period. -#}
{% macro feature_cutoff_at() -%}
  {%- if var('feature_cutoff_at', none) is not none -%}
    cast('{{ var("feature_cutoff_at") }}' as timestamp)
  {%- else -%}
    {{ load_started_at() }}
  {%- endif -%}
{%- endmacro %}
