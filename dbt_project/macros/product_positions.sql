{#- The products of var('products') with their 0-based positions, as a derived table with columns
    (product, product_index): bit `product_index` of a holding pattern stands for `product`.
    Usage: `select * from {{ product_positions() }}`. -#}
{% macro product_positions(alias='product_positions') -%}
    (values
        {%- for product in var('products') %}
        ('{{ product }}', {{ loop.index0 }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as {{ alias }} (product, product_index)
{%- endmacro %}
