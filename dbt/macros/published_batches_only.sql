{#-
  The rows of a raw table whose batch date is published: all six entities of that date are loaded
  (raw._published_batches, written by the pipeline's publishDay after its loads, removed by any load
  that changes a batch of the date). Staging reads raw tables only through this, so a half-loaded day
  (a failed load, a rerun in progress) never reaches the marts or breaks another date's tests.
  Plain SQL, the same on PostgreSQL and Redshift.
-#}
{% macro published_batches_only(relation) -%}
select * from {{ relation }}
where batch_date in (select batch_date from {{ source('raw', '_published_batches') }})
{%- endmacro %}
