{#
  Incremental marts: each build adds or replaces one batch, the run date's (var('run_date')), so a day's build costs
  what the day's rows cost, not what the warehouse's history costs.

  - Batch-keyed models (grain below the batch: appointments, no_show_daily) are delete+insert on `batch_on`: a build
    replaces every row of its batch and no other, so reruns and backfills in any order give the same table as a
    full rebuild. Their rows depend on their own batch only: an appointment joins the patient and doctor snapshots
    and the record and feedback of its own batch.
  - Monthly aggregates are delete+insert on `month_start_on` and recompute whole months from the appointments mart:
    the months the batch touches, plus the oldest month left (the one retention trims).
  - Retention deletes old rows from raw (retentionCleanup, after the day's build). The next build purges what no
    longer has a source: batch-keyed rows below the oldest batch left in their upstream, months below the oldest
    month left (purge_below as a post-hook, an index range on PostgreSQL, a sort-key range on Redshift).

  A full rebuild (`dbt build --full-refresh`, the weekly `dbt-full-refresh` schedule) recomputes everything from raw
  and is what the incremental tables are tested equal to (test/integration/dbt-incremental.test.ts).
#}

{#
  Post-hook: deletes this model's rows whose `column` is below the smallest `upstream_column` left in `upstream`
  (everything when `upstream` is empty). Rows below it have lost their source (retention deleted it).
#}
{% macro purge_below(column, upstream, upstream_column) -%}
    delete from {{ this }}
    where {{ column }} < (
        select coalesce(min({{ upstream_column }}), cast('9999-12-31' as date)) from {{ upstream }}
    )
{%- endmacro %}
