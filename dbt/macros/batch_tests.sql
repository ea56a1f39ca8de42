{#
  Tests scoped to the day. The daily run sets test_scope() to 'batch' (macros/run_date.sql): then every generic data test on a
  relation that carries a batch column looks only at the run date's rows of it (on top of the test's own `where`),
  and a relationships test looks for the parent in the same batch when the parent carries one too: "relationships
  from the batch to its parents" (a batch's appointments point at that batch's patients and doctor snapshot, its
  records and feedback at its appointments). Without the var (CI, the weekly dbt-full-refresh) tests see everything.

  The batch column of a relation is the first of BATCH_COLUMNS it declares in its YAML (sources: batch_date;
  staging and the batch-keyed marts: batch_on; doctor_rating: as_of_on). Relations without one (the dimensions,
  the monthly aggregates, no_show_rates) are small and are tested whole.
#}

{% macro batch_column(relation) -%}
    {#- Looks only at the nodes the test depends on (its model and, for relationships, the parent). -#}
    {%- set candidates = ['batch_date', 'batch_on', 'as_of_on'] -%}
    {%- set found = [] -%}
    {%- if execute and relation is not string and relation.identifier is not none -%}
        {%- for unique_id in model.depends_on.nodes -%}
            {%- set node = graph.sources.get(unique_id) if unique_id.startswith('source.') else graph.nodes.get(unique_id) -%}
            {%- set name = none if node is none else (node.identifier if node.resource_type == 'source' else node.alias) -%}
            {%- if name == relation.identifier and node.schema == relation.schema -%}
                {%- for column in candidates if column in node.columns and not found -%}
                    {%- do found.append(column) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(found[0] if found else none) -}}
{%- endmacro %}

{# The predicate limiting `relation` to the run date's batch, or none when tests see everything. #}
{% macro batch_predicate(relation) -%}
    {%- set column = batch_column(relation) if test_scope() == 'batch' else none -%}
    {{- return(column ~ ' = ' ~ run_date() if column else none) -}}
{%- endmacro %}

{# dbt's hook for a test's `where` config (global_project where_subquery.sql), with the batch filter added. #}
{% macro default__get_where_subquery(relation) -%}
    {%- set predicates = [] -%}
    {%- if config.get('where') -%}{%- do predicates.append('(' ~ config.get('where') ~ ')') -%}{%- endif -%}
    {%- set batch = batch_predicate(relation) -%}
    {%- if batch -%}{%- do predicates.append(batch) -%}{%- endif -%}
    {%- if predicates -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ predicates | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{# dbt's relationships test, with the parent limited to the run date's batch when both sides carry one. #}
{% macro default__test_relationships(model, column_name, to, field) -%}
    {%- set batch = batch_predicate(to) -%}
    {%- set parent = '(select * from ' ~ to ~ ' where ' ~ batch ~ ') dbt_parent' if batch else to -%}
    {{ dbt.default__test_relationships(model, column_name, parent, field) }}
{%- endmacro %}
