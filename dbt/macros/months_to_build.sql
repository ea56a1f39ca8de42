{#
  The input of a monthly aggregate: the rows of the months this build recomputes from `appointments`, a model with
  batch_on and month_start_on (the appointments mart, or doctor_days, its daily sums). In an
  incremental build those are the months the run date's batch touches, and the oldest month left when retention
  has trimmed it since this model last built it; a full build reads every month. See macros/incremental.sql.

  Retention only deletes, so a trimmed month has fewer appointments upstream than this model counted when it built
  that month: `built_count` is that count read from this model's rows (an aggregate over one month's rows, e.g.
  'sum(appointments)'), `source_count` the same count over the upstream rows of the month (e.g. 'count(*)' of the
  appointments mart, 'sum(appointments)' of doctor_days; one index range). Rows are only ever added to a month by a batch of that month, which the first half
  recomputes. A month this model lacks, or has with other counts (a doctor missing from stg_doctors), is
  recomputed, as every oldest month was before: that read the oldest month whole on every run, 1.5M appointments
  of a 100k-row day at medium with 120 days of history (README, Cost with history).
#}
{% macro months_to_build(appointments, built_count, source_count) -%}
    select * from {{ appointments }}
    {% if is_incremental() %}
    {%- set months -%}
        select month_start_on from {{ appointments }} where batch_on = {{ run_date() }}
        union
        select min(month_start_on) from {{ appointments }}
        having coalesce((
            select {{ source_count }} from {{ appointments }}
            where month_start_on = (select min(month_start_on) from {{ appointments }})
        ), -1) <> coalesce((
            select {{ built_count }} from {{ this }}
            where month_start_on = (select min(month_start_on) from {{ appointments }})
        ), -1)
    {%- endset %}
    {#- On PostgreSQL `in (<months>)` is planned as a join estimated at the batch's 100k rows, not its one or two
        months: a scan and sort of the whole mart (9.0 s at 12M rows, 120 days). An array is read once and then
        probes the month_start_on index (4.0 s, reading only those months). Redshift has no arrays; its sort key
        prunes blocks either way. #}
    {%- if target.type == 'postgres' %}
    where month_start_on = any(array({{ months }}
    ))
    {%- else %}
    where month_start_on in ({{ months }}
    )
    {%- endif %}
    {% endif %}
{%- endmacro %}

{# The config every monthly aggregate shares: delete+insert of whole months, purged below the oldest month left. #}
{% macro monthly_incremental_config() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='month_start_on',
        on_schema_change='fail',
        indexes=[{'columns': ['month_start_on']}],
        sort=['month_start_on'],
        post_hook="{{ purge_below('month_start_on', ref('appointments'), 'month_start_on') }}",
    ) }}
{%- endmacro %}
