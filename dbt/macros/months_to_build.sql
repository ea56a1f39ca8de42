{#
  The input of a monthly aggregate: the appointments mart's rows of the months this build recomputes. In an
  incremental build those are the months the run date's batch touches and the oldest month left (which retention
  trims day by day); a full build reads every month. See macros/incremental.sql.
#}
{% macro months_to_build(appointments) -%}
    select * from {{ appointments }}
    {% if is_incremental() %}
    where month_start_on in (
        select month_start_on from {{ appointments }} where batch_on = {{ run_date() }}
        union
        select min(month_start_on) from {{ appointments }}
    )
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
