{#- Several 0/1 counters summed by ONE window aggregate instead of one aggregate each.

    DuckDB evaluates every windowed aggregate separately (about a second per 10 M rows on two
    cores), so summing flags packed into 31-bit fields of one integer cuts a dozen window
    aggregates to a few. Each field holds a count below 2^31 (two billion events of one entity
    in one window), so fields never carry into each other; up to 2 fields fit a BIGINT, up to 4
    a HUGEINT.

        {{ packed_count_sum(['is_attempt', 'is_decline'], 'last_7d') }} as packed_7d
        ...
        {{ unpacked_count('packed_7d', 1) }} as declines_7d

    Spark has no HUGEINT (shifts of a DECIMAL silently become INT shifts) and computes every
    window aggregate that shares a window in one pass anyway: there the "packed" value is an
    array of the plain sums.
-#}
{% macro packed_count_sum(flags, window) -%}
{%- if flags | length > 4 -%}
    {{ exceptions.raise_compiler_error("packed_count_sum packs at most 4 counters into one HUGEINT; got " ~ (flags | length) ~ ". Split them over two calls.") }}
{%- endif -%}
{{ return(adapter.dispatch('packed_count_sum')(flags, window)) }}
{%- endmacro %}

{% macro default__packed_count_sum(flags, window) %}
{%- set field_type = 'bigint' if flags | length <= 2 else 'hugeint' -%}
sum(
    {%- for flag in flags %}
    {{ "+ " if not loop.first }}(cast({{ flag }} as {{ field_type }}){{ " << " ~ (31 * loop.index0) if not loop.first }})
    {%- endfor %}
) over {{ window }}
{%- endmacro %}

{% macro spark__packed_count_sum(flags, window) %}
array(
    {%- for flag in flags %}
    sum(cast({{ flag }} as bigint)) over {{ window }}{{ "," if not loop.last }}
    {%- endfor %}
)
{%- endmacro %}

{#- Field `position` (0-based) of a packed_count_sum, 0 when the window was empty. -#}
{% macro unpacked_count(packed, position) -%}
{{ return(adapter.dispatch('unpacked_count')(packed, position)) }}
{%- endmacro %}

{% macro default__unpacked_count(packed, position) -%}
cast(coalesce(({{ packed }} >> {{ 31 * position }}) & 2147483647, 0) as bigint)
{%- endmacro %}

{% macro spark__unpacked_count(packed, position) -%}
cast(coalesce({{ packed }}[{{ position }}], 0) as bigint)
{%- endmacro %}
