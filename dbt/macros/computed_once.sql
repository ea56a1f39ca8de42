{#
  Put between a CTE's name and its body: `patients as {{ computed_once() }} (`. On PostgreSQL the CTE is then
  `materialized`, computed once however the planner joins it. The marts use it for the distinct patient counts
  (macros/distinct_patients.sql) and for the doctor and clinic dimensions (each the latest snapshot per id, a window
  over every snapshot). On a young warehouse, statistics that expected one doctor planned doctor_performance as
  nested loops with these on the inner side, so they ran again for every doctor: the month's distinct count (39.6 s
  instead of 1.7 s on the bench's second day), then, with it materialized, the dimensions (16.8 s).
  test/integration/dbt-incremental.test.ts forces such plans. Redshift has no such keyword.
#}
{% macro computed_once() -%}
    {%- if target.type == 'postgres' %}materialized{% endif -%}
{%- endmacro %}
