{#- First contract violation of a row as text, or NULL for a clean row.
    `checks` is a list of (reason, condition) pairs, evaluated in order. -#}
{% macro quarantine_reason(checks) -%}
  case
  {%- for reason, condition in checks %}
    when {{ condition }} then '{{ reason }}'
  {%- endfor %}
  end
{%- endmacro %}
