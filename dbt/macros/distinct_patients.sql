{#
  A select of the distinct patients per `group_columns` (a list of columns of both the daily sums and the
  appointments mart, e.g. ['doctor_id', 'month_start_on']): `<group_columns>, patients`, over the daily rows of the
  CTE named `days` (a month's or a window's rows of doctor_days or diagnosis_days). Groups without such patients
  are absent.

  On PostgreSQL it reads those rows' arrays of patient ids (the column `ids`), a few thousand rows a day, in the
  order of the groups, so their unnested ids arrive grouped and the count sorts each group's ids on its own (in
  memory) instead of sorting every appointment of the window by the group first (an external sort of 250-290 MB
  for the 90-day window at 120 medium days; 170 MB when the unnested ids were sorted). Redshift has no arrays: it
  counts patient_id over the appointments mart's rows that satisfy `appointments_where` (the same month or window,
  as a condition on the mart's columns, with `appointments_condition` standing for what the array holds, e.g.
  'patient_has_diabetes'), which its columnar scans and sort key make cheap.
#}
{% macro distinct_patients(days, group_columns, appointments_where, ids='patient_ids', appointments_condition='true') -%}
    {%- set groups = group_columns | join(', ') -%}
    {%- if target.type == 'postgres' %}
    select {{ groups }}, count(distinct patient_ids.patient_id) as patients
    from (select {{ groups }}, {{ ids }} as ids from {{ days }} order by {{ groups }}) as days_in_order
    cross join lateral unnest(days_in_order.ids) as patient_ids (patient_id)
    group by {{ groups }}
    {%- else %}
    select {{ groups }}, count(distinct patient_id) as patients
    from {{ ref('appointments') }}
    where ({{ appointments_where }}) and ({{ appointments_condition }})
    group by {{ groups }}
    {%- endif %}
{%- endmacro %}
