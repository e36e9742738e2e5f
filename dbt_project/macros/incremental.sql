{#
    Incremental staging (docs/adr/0002). New landing data arrives as new files, so an
    incremental model reads only the files it has not read before. The watermark is the set of
    files already in the model's table, not the largest file name or event time: file names
    need not sort in load order, and events arrive late.

    The list is read when the model runs and written into the SQL as literals, so the engine can
    skip the files it names without opening them (DuckDB prunes files on a filter over the
    `filename` column). A file none of whose rows were staged (all duplicates or quarantined)
    is not in the table and is read again next time; its rows lose to the same staged rows
    again, so that costs time, never correctness.
#}
{% macro landed_file_is_new(file_column) -%}
    {{ file_not_in(file_column, landed_files_seen()) }}
{%- endmacro %}

{#- The landed files already in this model's table (`landed_file`), when it runs incrementally;
    `where` narrows them (e.g. to some landing tables). -#}
{% macro landed_files_seen(where='1 = 1') -%}
    {%- if execute and is_incremental() -%}
        {%- set seen = run_query(
            'select distinct landed_file from ' ~ this ~ ' where landed_file is not null and ' ~ where
        ) -%}
        {{ return(seen.columns[0].values() | list) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{% macro file_not_in(file_column, files) -%}
    {%- if files | length > 0 -%}
        {{ file_column }} not in (
        {%- for file in files -%}
            '{{ file | replace("'", "''") }}'{{ ', ' if not loop.last }}
        {%- endfor -%}
        )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}



{#
    Change propagation past staging (docs/adr/0004). A model downstream of identity refreshes
    only the keys the new data touched: internal tables stamp the rows a run (re)wrote with
    `changed_at` (run_stamp()), and a model reads the changes made since its own last
    successful run, which audit.incremental_runs records (a post-hook, in the model's own
    transaction on DuckDB). A failed run therefore never loses changes: the next run reads
    everything since the last run that succeeded.
#}
{% macro incremental_runs_relation() -%}
    {{ return('audit.incremental_runs') }}
{%- endmacro %}

{#- on-run-start: the table of successful incremental runs, made once.

    Not on Spark: concurrent appends to one Parquet table from dbt's threads collide in the
    table's `_temporary` directory, and past staging Spark rebuilds whole tables anyway (it
    cannot delete rows). Without the log, a model there sees every row as changed. -#}
{% macro incremental_runs_logged() -%}
    {{ return(target.type != 'spark') }}
{%- endmacro %}

{% macro create_incremental_runs() -%}
    {%- if execute and incremental_runs_logged() -%}
        {%- do run_query('create schema if not exists audit') -%}
        {%- do run_query(
            'create table if not exists ' ~ incremental_runs_relation() ~ ' ('
            ~ 'model_id ' ~ dbt.type_string() ~ ', '
            ~ 'run_started_at ' ~ dbt.type_timestamp() ~ ', '
            ~ 'as_of ' ~ dbt.type_timestamp() ~ ')'
            ~ (' using parquet' if target.type == 'spark' else '')
        ) -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- The run's start as a timestamp literal: the `changed_at` of every row a run writes. -#}
{% macro run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- post-hook: record that this model's run succeeded, and the as_of it computed at. Set for
    whole folders (dbt_project.yml), so only the models that run incrementally log: a table is
    rebuilt whole and reads no changes since a previous run. -#}
{% macro record_incremental_run() -%}
    {%- if not incremental_runs_logged()
        or config.get('materialized') not in ('incremental', 'connected_components') -%}
        {{ return('') }}
    {%- endif %}
    insert into {{ incremental_runs_relation() }} (model_id, run_started_at, as_of)
    values ('{{ model.unique_id }}', {{ run_stamp() }}, {{ as_of() }})
{%- endmacro %}

{#- is_incremental(), also for the connected_components materialization (which can update
    only the components new data touched). -#}
{% macro runs_incrementally() -%}
    {%- if not execute or this is none or model.resource_type != 'model' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if config.get('materialized') != 'connected_components' -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
    {#- Spark's Parquet tables cannot delete rows: there the components are rebuilt whole. -#}
    {%- set relation = load_cached_relation(this) -%}
    {{ return(
        target.type != 'spark' and relation is not none and relation.type == 'table'
        and not should_full_refresh()
    ) }}
{%- endmacro %}

{#-
    The start of this model's last successful run, as a timestamp literal, when the model runs
    incrementally; none on a first build or a full refresh (then there is no "since": every
    key is affected).
-#}
{% macro incremental_since() -%}
    {%- if not execute or not incremental_runs_logged() or not runs_incrementally() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        'select cast(max(run_started_at) as ' ~ dbt.type_string() ~ ') from '
        ~ incremental_runs_relation() ~ " where model_id = '" ~ model.unique_id ~ "'"
    ).columns[0].values()[0] -%}
    {%- if found is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return("cast('" ~ found ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{#- The as_of this model last computed at (a timestamp literal), or none. -#}
{% macro incremental_previous_as_of() -%}
    {%- if not execute or not incremental_runs_logged() or not runs_incrementally() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        'select cast(max(as_of) as ' ~ dbt.type_string() ~ ') from '
        ~ incremental_runs_relation() ~ " where model_id = '" ~ model.unique_id ~ "'"
        ~ ' and run_started_at = (select max(run_started_at) from ' ~ incremental_runs_relation()
        ~ " where model_id = '" ~ model.unique_id ~ "')"
    ).columns[0].values()[0] -%}
    {{ return(none if found is none else "cast('" ~ found ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}


{#
    The relations a model reads, handed to the macros below (which never call ref() themselves,
    so every dependency is written in the model). A model builds them once at its top, outside
    any `is_incremental()` branch so dbt sees every ref when it parses:

        {%- set inputs = model_inputs(ref('int_identity__customer_changes'), ...) -%}

    and passes `inputs` to the macros (`affected_customers(inputs)`). The replace strategy,
    which runs the model's `affected_keys` macro after the model's SQL, hands it the same
    relations: upstream_relations(), every model the model reads, from the project graph.
#}
{% macro model_inputs() -%}
    {%- set inputs = {} -%}
    {%- for relation in varargs -%}
        {%- do inputs.update({relation.identifier: relation}) -%}
    {%- endfor -%}
    {{ return(inputs) }}
{%- endmacro %}

{#- The relation of model `name` among `inputs`; a clear error when the model does not hand it
    (while dbt parses, refs are placeholders, and nothing is read). -#}
{% macro model_input(inputs, name) -%}
    {%- if name in inputs -%}
        {{ return(inputs[name]) }}
    {%- endif -%}
    {%- if execute -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ " reads " ~ name ~ " through a macro: hand it in the"
            ~ " model_inputs(...) at the top of the model's SQL"
        ) }}
    {%- endif -%}
    {{ return(name) }}
{%- endmacro %}

{#- Every model and seed the calling model reads (its refs), by name, as relations: what the
    replace strategy hands the model's `affected_keys` macro. -#}
{% macro upstream_relations() -%}
    {%- set inputs = {} -%}
    {%- if execute -%}
        {%- for unique_id in model.depends_on.nodes if unique_id in graph.nodes -%}
            {%- set node = graph.nodes[unique_id] -%}
            {%- do inputs.update({node.name: api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.alias
            )}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(inputs) }}
{%- endmacro %}


{#
    The `replace` incremental strategy: delete every row of the affected keys, then insert the
    new batch. Unlike delete+insert it also removes keys that now have no row at all (a
    customer id retired by a merge, a member who left a segment, a record whose identifiers
    became suppressed). The model names, in its `affected_keys` config, the macro that returns
    the SQL selecting the affected keys (columns named as `unique_key`); the model's own SQL
    selects the new rows of the same keys.
    A model may also name, in `affects_everyone`, a macro that says when every key is affected:
    then every row is deleted, with no set of keys to match. A model rebuilt whole on every run
    that reads its own previous rows first names `every_row_is_affected` there, and needs no
    `affected_keys`.
#}
{% macro get_incremental_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set affected_macro = config.get('affected_keys') -%}
    {%- set everyone_macro = config.get('affects_everyone') -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- if everyone_macro and context[everyone_macro](upstream_relations()) %}
    delete from {{ target }};
    {%- else %}
    {%- if not affected_macro -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": the replace strategy needs an `affected_keys` config (a macro name)"
        ) }}
    {%- endif -%}
    {%- set affected = context[affected_macro](upstream_relations()) %}
    delete from {{ target }}
    where exists (
        select 1 from ({{ affected }}) as affected_keys
        where
        {%- for key in keys %}
            affected_keys.{{ key }} = {{ target }}.{{ key }}{{ ' and' if not loop.last }}
        {%- endfor %}
    );
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- affects_everyone of a model whose every run replaces all of its rows. -#}
{% macro every_row_is_affected(inputs) -%}
    {{ return(true) }}
{%- endmacro %}


{#-
    The customers a customer-level model must recompute (as SQL selecting `customer_id`): the
    customers logged in int_identity__customer_changes since the model's last successful run
    (found once per run there: rewritten records, retired ids, erasure). With no previous run:
    every current customer and every id in the model's table. The calling model must depend on
    int_identity__customer_changes and int_identity__identifier_customers (in its
    model_inputs).
-#}
{% macro affected_customers(inputs) -%}
    {%- set since = incremental_since() -%}
    {%- if since is not none -%}
        select customer_changes.customer_id
        from {{ model_input(inputs, 'int_identity__customer_changes') }} as customer_changes
        where customer_changes.changed_at > {{ since }}
    {%- else -%}
        select current_customers.customer_id
        from {{ model_input(inputs, 'int_identity__identifier_customers') }} as current_customers
        {% if is_incremental() -%}
            union
            select previous_rows.customer_id from {{ this }} as previous_rows
        {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- The oldest last successful run among the models that depend on this one (a timestamp
    literal), for a table that serves what they read since their own last runs; none when none
    of them has run incrementally, or on a full refresh. -#}
{% macro oldest_dependent_since() -%}
    {%- if not execute or not incremental_runs_logged() or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set dependents = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and model.unique_id in node.depends_on.nodes -%}
        {%- do dependents.append("'" ~ node.unique_id ~ "'") -%}
    {%- endfor -%}
    {%- set runs = adapter.get_relation(
        database=target.database, schema='audit', identifier='incremental_runs'
    ) -%}
    {%- if dependents | length == 0 or runs is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        'select cast(min(last_run) as ' ~ dbt.type_string() ~ ') from ('
        ~ 'select max(run_started_at) as last_run from ' ~ incremental_runs_relation()
        ~ ' where model_id in (' ~ dependents | join(', ') ~ ') group by model_id) as last_runs'
    ).columns[0].values()[0] -%}
    {{ return(none if found is none else "cast('" ~ found ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{#- The int_identity__record_customers rows of the customers in the calling model's
    `affected_customers` CTE: from int_customers__affected_records when the model reads the
    changes since a previous run (the calling model hands both in its model_inputs),
    otherwise from every record. -#}
{% macro records_of_affected_customers(inputs) -%}
    {%- if incremental_since() is not none -%}
        select * from {{ model_input(inputs, 'int_customers__affected_records') }}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {%- else -%}
        select * from {{ model_input(inputs, 'int_identity__record_customers') }}
        {% if is_incremental() -%}
            where customer_id in (select affected_customers.customer_id from affected_customers)
        {%- endif %}
    {%- endif -%}
{%- endmacro %}


{#- Identity (docs/adr/0004): the identifiers whose customer may have changed since this model's
    last successful run (recomputed identifiers, and every member of a recomputed component),
    as SQL selecting `identifier_key`; every identifier when there is no previous run. -#}
{% macro affected_identifier_keys(inputs) -%}
    {%- set since = incremental_since() -%}
    select changed_identifiers.identifier_key
    from {{ model_input(inputs, 'int_identity__identifiers') }} as changed_identifiers
    {% if since is not none -%}
        where changed_identifiers.changed_at > {{ since }}

        union

        select component_identifiers.identifier_key
        from {{ model_input(inputs, 'int_identity__identifiers') }} as component_identifiers
        inner join {{ model_input(inputs, 'int_identity__components') }} as changed_components
            on component_identifiers.node_id = changed_components.node_id
        where changed_components.changed_at > {{ since }}
    {%- endif %}
{%- endmacro %}

{#- The nodes whose customer may have changed since this model's last successful run, as SQL
    selecting `node_id`: identifiers recomputed that link people or whose linking changed (an
    identifier suppressed before and after links nobody, whatever its counts), and every node
    of a recomputed component; every node when there is no previous run. -#}
{% macro affected_node_ids(inputs) -%}
    {%- set since = incremental_since() -%}
    select changed_identifiers.node_id
    from {{ model_input(inputs, 'int_identity__identifiers') }} as changed_identifiers
    {% if since is not none -%}
        where
            changed_identifiers.changed_at > {{ since }}
            and (
                not changed_identifiers.is_suppressed
                or changed_identifiers.linking_changed_at > {{ since }}
            )

        union

        select changed_components.node_id
        from {{ model_input(inputs, 'int_identity__components') }} as changed_components
        where changed_components.changed_at > {{ since }}
    {%- endif %}
{%- endmacro %}

{#- The records whose customer may have changed: records observed since (new or changed), and
    records carrying a node whose customer may have changed (affected_node_ids()), as SQL
    selecting `record_source, record_key`. All of such a record's linking identifiers are then
    either rewritten or affected (they are in one component, recomputed whole), so
    affected_record_observations() finds its observations in one pass. -#}
{% macro affected_records(inputs) -%}
    select distinct affected_observations.record_source, affected_observations.record_key
    from ({{ affected_record_observations(inputs) }}) as affected_observations
{%- endmacro %}

{#- The observations of affected_records(): rewritten since, or of an affected node (two
    branches rather than an `or`, so the engine filters each scan before reading its rows). -#}
{% macro affected_record_observations(inputs) -%}
    {%- set since = incremental_since() -%}
    {%- if since is none -%}
        select * from {{ model_input(inputs, 'int_identity__observations') }}
    {%- else -%}
        select * from {{ model_input(inputs, 'int_identity__observations') }} as rewritten_observations
        where rewritten_observations.changed_at > {{ since }}
        union all
        select * from {{ model_input(inputs, 'int_identity__observations') }} as node_observations
        where
            node_observations.node_id in ({{ affected_node_ids(inputs) }})
            and node_observations.changed_at <= {{ since }}
    {%- endif %}
{%- endmacro %}

{#- The parent records of child rows that landed since this model's last successful run (the
    order of a late order line: its customer's purchases changed), as SQL selecting
    `record_source, record_key`; none on a first build. -#}
{% macro changed_parent_records(inputs) -%}
    {%- set since = incremental_since() -%}
    {%- set parts = [] -%}
    {%- for table in landing_tables() if table.get('parent') -%}
        {%- do parts.append(
            "select '" ~ table.parent.table ~ "' as record_source,"
            ~ ' changed_children.parent_record_key as record_key'
            ~ ' from ' ~ model_input(inputs, 'int_landing__row_dispositions') ~ ' as changed_children'
            ~ " where changed_children.landing_table = '" ~ table.name ~ "'"
            ~ ' and changed_children.parent_record_key is not null'
            ~ (' and changed_children.changed_at > ' ~ since if since is not none else '')
        ) -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        {%- do parts.append(
            'select cast(null as ' ~ dbt.type_string() ~ ') as record_source,'
            ~ ' cast(null as ' ~ dbt.type_string() ~ ') as record_key where 1 = 0'
        ) -%}
    {%- endif -%}
    {{ return(parts | join('\nunion\n')) }}
{%- endmacro %}

{#- The records a record-level identity model must recompute (as SQL selecting `record_source,
    record_key`): those logged in int_identity__record_changes since the model's last
    successful run; every record with an observation when there is no previous run. The
    calling model hands int_identity__record_changes in its model_inputs. -#}
{% macro changed_records(inputs) -%}
    {%- set since = incremental_since() -%}
    {%- if since is not none -%}
        select record_changes.record_source, record_changes.record_key
        from {{ model_input(inputs, 'int_identity__record_changes') }} as record_changes
        where record_changes.changed_at > {{ since }}
    {%- else -%}
        {{ affected_records(inputs) }}
    {%- endif %}
{%- endmacro %}

{#-
    A filter for a staged table read by a customer-level model: in an incremental run, only the
    rows of records in the model's `record_customers` CTE (the records of the affected
    customers); every row otherwise.
-#}
{% macro records_of_customers(record_source, key_column) -%}
    {%- if is_incremental() -%}
        {{ key_column }} in (
            select record_customers.record_key from record_customers
            where record_customers.record_source = '{{ record_source }}'
        )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The rows of int_customers__versioned_identifiers whose record is now under erasure: the
    replace strategy deletes them (the model inserts no row of such a record). -#}
{% macro erased_versioned_identifiers(inputs) -%}
    select
        stored.record_source,
        stored.record_key,
        stored.landed_file,
        stored.row_hash
    from {{ this }} as stored
    inner join {{ model_input(inputs, 'int_privacy__erased_records') }} as erased_records
        on
            stored.record_source = erased_records.record_source
            and stored.record_key = erased_records.record_key
{%- endmacro %}
