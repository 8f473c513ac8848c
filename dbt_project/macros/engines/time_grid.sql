{#- One row per step from `start` to `stop` (both included), as a select-list expression:
    `select key, {{ time_grid('first_at', 'last_at', 'interval 1 hour') }} as point_at from spans`. -#}
{% macro time_grid(start, stop, step) -%}
    {{ return(adapter.dispatch('time_grid')(start, stop, step)) }}
{%- endmacro %}

{% macro default__time_grid(start, stop, step) -%}
    unnest(generate_series({{ start }}, {{ stop }}, {{ step }}))
{%- endmacro %}

{% macro spark__time_grid(start, stop, step) -%}
    explode(sequence({{ start }}, {{ stop }}, {{ step }}))
{%- endmacro %}
