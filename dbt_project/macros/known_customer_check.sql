{#- Condition true for a row whose customer_id is not in the customers table, when that table
    has any rows. Users with payments only (no customer tables) lose nothing to this check. -#}
{% macro known_customer_check() -%}
  (exists (select 1 from {{ ref('stg_raw__customers') }})
   and customer_id not in (select customer_id from {{ ref('stg_raw__customers') }}))
{%- endmacro %}
