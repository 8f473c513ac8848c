{{ config(materialized='table') }}

{#- The customers to contact now, each about its next best offer, chosen to maximise the
    expected payoff under a budget (dbt vars):

    - cross_sell_budget_cost_usd: a total contact cost in US dollars. Greedy by expected payoff
      per unit of contact cost (the knapsack's ratio rule): offers are taken in that order while
      the running cost stays within the budget; the first offer that would overflow it ends
      the list.
    - else cross_sell_budget_contacts: k contacts, the k highest expected payoffs.
    - else cross_sell_budget_share (default 0.1): that share of the scored customers, rounded.

    Only offers with a positive expected payoff are ever listed (one that loses money in
    expectation is not worth a contact, whatever the budget). contact_rank is the order of
    the list. -#}

{%- set cost_budget = var('cross_sell_budget_cost_usd', none) -%}
{%- set contact_budget = var('cross_sell_budget_contacts', none) -%}

with

next_best_offers as (
    select * from {{ ref('next_best_offers') }}
),

profitable as (
    select * from next_best_offers
    where is_profitable
),

ordered as (
    select
        *,
        {#- bigint on both engines (Spark's row_number is an int). #}
        cast(row_number() over (
            order by
            {%- if cost_budget is not none %}
                expected_payoff_usd_minor / greatest(contact_cost_usd_minor, 1e-9) desc,
            {%- endif %}
                expected_payoff_usd_minor desc, customer_id
        ) as bigint) as contact_rank
    from profitable
),

budgeted as (
    select
        *,
        sum(contact_cost_usd_minor) over (order by contact_rank rows between unbounded preceding and current row) as running_cost_usd_minor,
        sum(expected_payoff_usd_minor) over (order by contact_rank rows between unbounded preceding and current row) as running_expected_payoff_usd_minor
    from ordered
),

limits as (
    select
        {%- if cost_budget is not none %}
        'cost' as budget_kind,
        cast({{ cost_budget }} as double) as budget,
        {%- elif contact_budget is not none %}
        'contacts' as budget_kind,
        cast({{ contact_budget }} as double) as budget,
        {%- else %}
        'share' as budget_kind,
        cast(round({{ var('cross_sell_budget_share') }} * count(*)) as double) as budget,
        {%- endif %}
        count(*) as scored_customers
    from next_best_offers
),

first_overflow as (
    {#- With a cost budget the list stops at the first offer whose running cost exceeds it. #}
    select min(budgeted.contact_rank) as contact_rank
    from budgeted
    cross join limits
    where limits.budget_kind = 'cost' and budgeted.running_cost_usd_minor > limits.budget * 100
),

final as (
    select
        budgeted.contact_rank,
        budgeted.customer_id,
        budgeted.product,
        budgeted.scored_at,
        budgeted.segment,
        budgeted.payoff_model_version,
        budgeted.p_accept,
        budgeted.contact_cost_usd_minor,
        budgeted.expected_revenue_usd_minor,
        budgeted.expected_payoff_usd_minor,
        budgeted.running_cost_usd_minor,
        budgeted.running_expected_payoff_usd_minor,
        limits.budget_kind,
        limits.budget
    from budgeted
    cross join limits
    cross join first_overflow
    where case limits.budget_kind
        when 'cost' then first_overflow.contact_rank is null or budgeted.contact_rank < first_overflow.contact_rank
        else budgeted.contact_rank <= limits.budget
    end
)

select * from final
