{#
  Date helpers built only from dbt's cross-database macros and ANSI SQL, so they compile to valid SQL
  on PostgreSQL and Redshift alike.
#}

{# First day of the month of a date or timestamp, as a date. #}
{% macro month_start(expr) -%}
    cast({{ dbt.date_trunc('month', expr) }} as date)
{%- endmacro %}

{# Whole days from `from_expr` to `to_expr` (both cast to date first). #}
{% macro days_between(from_expr, to_expr) -%}
    {{ dbt.datediff('cast(' ~ from_expr ~ ' as date)', 'cast(' ~ to_expr ~ ' as date)', 'day') }}
{%- endmacro %}

{#
  Completed years of age on `on_expr` for someone born on `born_expr`: whole months elapsed (minus one when
  the day of month is not reached yet), divided by twelve and floored. Exact on birthdays, unlike datediff('year').
#}
{% macro age_in_years(born_expr, on_expr) -%}
    cast(floor(
        ({{ dbt.datediff(born_expr, on_expr, 'month') }}
         - case when extract(day from {{ on_expr }}) < extract(day from {{ born_expr }}) then 1 else 0 end
        ) / 12.0
    ) as {{ dbt.type_int() }})
{%- endmacro %}

{# Money columns: two decimals on every warehouse. #}
{% macro type_money() -%}
    {{ return(adapter.dispatch('type_money', 'healthsynth')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
    numeric(12, 2)
{%- endmacro %}

{# A ratio as numeric, 0 when the denominator is 0 (no division-by-zero, no integer division). #}
{% macro safe_ratio(numerator, denominator, scale=4) -%}
    case when {{ denominator }} = 0 then 0
         else round(cast({{ numerator }} as {{ dbt.type_numeric() }}) / {{ denominator }}, {{ scale }}) end
{%- endmacro %}
