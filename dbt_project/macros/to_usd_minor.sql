{#- An amount in minor units of any currency, in US cents, given the as-of joined fx row
    (`fx` has minor_unit_exponent and usd_per_unit; see int_fx_rates_dated). -#}
{% macro to_usd_minor(amount, fx='fx_rates') -%}
  ({{ amount }} / pow(10, {{ fx }}.minor_unit_exponent) * {{ fx }}.usd_per_unit * 100)
{%- endmacro %}
