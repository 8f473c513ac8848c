{#- The `products` var (holding columns of customer_features) and the products seed agree. -#}
with

from_var as (
    select * from (values
        {%- for product in var('products') %}
        ('{{ product }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as products (product)
),

from_seed as (
    select product from {{ ref('products') }}
)

select coalesce(from_var.product, from_seed.product) as product
from from_var
full outer join from_seed on from_var.product = from_seed.product
where from_var.product is null or from_seed.product is null
