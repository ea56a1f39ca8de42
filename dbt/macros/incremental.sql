{#
  Incremental marts: each build adds or replaces one batch, the run date's (var('run_date')), so a day's build costs
  what the day's rows cost, not what the warehouse's history costs.

  - Batch-keyed models (grain below the batch: appointments, doctor_days, diagnosis_days, no_show_daily) are
    delete+insert on `batch_on`: a build replaces every row of its batch and no other, so reruns and backfills in
    any order give the same table as a full rebuild. Their rows depend on their own batch only: an appointment
    joins the patient and doctor snapshots and the record and feedback of its own batch.
  - Monthly aggregates are delete+insert on `month_start_on` and recompute whole months from the daily sums
    (doctor_days, diagnosis_days): the months the batch touches, plus the oldest month left (the one retention
    trims).
  - Retention deletes old rows from raw (retentionCleanup, after the day's build). The next build purges what no
    longer has a source: batch-keyed rows below the oldest batch left in their upstream, months below the oldest
    month left (purge_below as a post-hook, an index range on PostgreSQL, a sort-key range on Redshift).

  A full rebuild (`dbt build --full-refresh`, the weekly `dbt-full-refresh` schedule) recomputes everything from raw
  and is what the incremental tables are tested equal to (test/integration/dbt-incremental.test.ts).
#}

{#
  Post-hook: deletes this model's rows whose `column` is below the smallest `upstream_column` left in `upstream`
  (everything when `upstream` is empty). Rows below it have lost their source (retention deleted it).
  The bound is read first and written into the delete as a literal: with a subquery the planner cannot know how
  few rows lie below it, guesses a third of the table and scans all of it (1.6-1.9 s a day on the 12M-row
  no_show_features of 120 medium days, for a delete that usually finds nothing); with the literal it reads the
  column's statistics and probes its index (PostgreSQL) or skips blocks by the sort key (Redshift).
#}
{% macro purge_below(column, upstream, upstream_column) -%}
    {%- if execute -%}
        {%- set bound = run_query(
            "select cast(coalesce(min(" ~ upstream_column ~ "), cast('9999-12-31' as date)) as varchar(10)) from "
            ~ upstream
        ).columns[0].values()[0] -%}
    {%- else -%}
        {%- set bound = '9999-12-31' -%}
    {%- endif -%}
    delete from {{ this }}
    where {{ column }} < cast('{{ bound }}' as date)
{%- endmacro %}

{#
  delete+insert on PostgreSQL, with the delete found through the key's index. dbt's own statement is
  `delete from <target> where (<key>) in (select distinct <key> from <the new rows>)`; the new rows are a temporary
  table without statistics, so the planner guesses 200 keys and scans the whole target in a hash join: every daily
  build of a batch-keyed mart read all of its history to delete one batch (measured on a 6.4M-row copy of the
  appointments mart: 3.0 s, against 0.15 s through the index). `<key> = any(array(...))` reads the keys once and
  probes the index for each. Same rows deleted, same insert; for a composite key, and on Redshift (no arrays; its
  delete finds rows through sort-key zone maps), dbt's own statement is used.
#}
{% macro postgres__get_incremental_delete_insert_sql(arg_dict) -%}
    {%- set unique_key = arg_dict["unique_key"] -%}
    {%- set key = unique_key if unique_key is string else (unique_key[0] if unique_key | length == 1 else none) -%}
    {%- if target.type != 'postgres' or key is none -%}
        {{ return(dbt.default__get_incremental_delete_insert_sql(arg_dict)) }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ arg_dict["target_relation"] }} as DBT_INTERNAL_DEST
    where {{ key }} = any(array(
        select distinct {{ key }}
        from {{ arg_dict["temp_relation"] }} as DBT_INTERNAL_SOURCE
    ))
    {%- for predicate in arg_dict["incremental_predicates"] or [] %}
        and {{ predicate }}
    {%- endfor %};

    insert into {{ arg_dict["target_relation"] }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ arg_dict["temp_relation"] }}
    )
{%- endmacro %}

{#
  Pre-hook of the incremental marts: ANALYZE the table when PostgreSQL holds no statistics of it, which is the case
  right after a full refresh or the first build (dbt does not analyze what it creates, and autovacuum reaches a
  table of millions of rows minutes later). Without statistics the next daily build's plans guess: purge_below's
  delete scanned all 12M rows of no_show_features (1.9 s) on the day after the 120-day bench build. Once analyzed
  it is a lookup in pg_stats. Redshift analyzes new tables itself.
#}
{% macro analyze_if_unanalyzed() -%}
    {%- if target.type == 'postgres' and is_incremental() -%}
    do $$
    begin
        if not exists (
            select 1 from pg_catalog.pg_stats
            where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
        ) then
            execute 'analyze {{ this.schema }}.{{ this.identifier }}';
        end if;
    end
    $$
    {%- endif -%}
{%- endmacro %}

{#
  Post-hook of the daily sums (doctor_days, diagnosis_days), after the purge: ANALYZE the columns the marts filter and
  join on (`columns`), on PostgreSQL. On a young warehouse a day's rows are a large share of the table, and until
  autovacuum's analyze a minute later the planner sees none of them: doctor_performance, which reads the month's
  rows of doctor_days, then planned one row per side and re-ran its distinct count for each of the 597 doctors, 69 s
  against 1.0 s after an ANALYZE (the bench's empty warehouse, reproduced with the day deleted, analyzed and put
  back). Not the id arrays: their element statistics took most of 20 s a day for diagnosis_days' five arrays at 120
  medium days, and no query filters on them. Redshift analyzes on its own.
#}
{% macro analyze_after_build(columns) -%}
    {%- if target.type == 'postgres' -%}
    analyze {{ this }} ({{ columns | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#
  Post-hook of no_show_features on PostgreSQL: the index its daily build probes for each patient's latest earlier
  row, over the rows with an outcome only (`where is_no_show is not null`). The probes ask only for those; the
  schedule's rows (the next day's appointments, about two in five of the table) were in the index too, so every day
  wrote 165k entries at random places instead of 100k, and each probe read a larger index (at 120 medium days: 491 MB
  for 20.0M rows against 372 MB for the 12.3M with an outcome). dbt's `indexes` config has no partial indexes, so
  the hook makes it when the table has none, and drops the whole-table (patient_id, appointment_on) index that
  builds before it made (a warehouse upgraded in place). The index is left unnamed: during a full refresh the old
  table, with its index, still exists when the hook runs, and PostgreSQL picks a free name.
#}
{% macro patient_history_index() -%}
    {%- if target.type == 'postgres' -%}
    do $$
    declare
        replaced regclass;
    begin
        for replaced in
            select indexrelid::regclass from pg_catalog.pg_index
            where indrelid = '{{ this }}'::regclass and indpred is null
            and pg_catalog.pg_get_indexdef(indexrelid) like '%(patient_id, appointment_on)'
        loop
            execute 'drop index ' || replaced;
        end loop;
        if not exists (
            select 1 from pg_catalog.pg_index
            where indrelid = '{{ this }}'::regclass and indpred is not null
        ) then
            create index on {{ this }} (patient_id, appointment_on) where is_no_show is not null;
        end if;
    end
    $$
    {%- endif -%}
{%- endmacro %}
