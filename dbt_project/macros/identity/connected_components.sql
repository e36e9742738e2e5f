{#
    Materialization: connected components of an undirected graph, set-based, in the warehouse.

    The model's SQL returns the edges as (node_id, neighbor_id) integer pairs; every node must
    appear in at least one pair (a self pair is fine). The result is one row per node:
    (node_id, component_id), where component_id is the smallest node_id of the component.

    Nodes sharing a label form a tree. Each round is one statement: every tree moves as a whole
    to the smallest label that any of its members sees across an edge (hooking, as in
    Shiloach-Vishkin), then follows up to two further hooks of the trees it joined
    (shortcutting). Whole trees merging, rather than labels creeping one hop per round, makes
    the number of rounds grow with the logarithm of the graph's diameter, not the diameter.
    Rounds repeat until no label changes, so the data decides how many are needed;
    `max_iterations` (default: the `identity_max_iterations` var) only stops a run that would
    never end, with an error.

    Incremental mode (when the model runs incrementally, see runs_incrementally()): the SQL
    returns only the edges of the part of the graph to recompute, plus (node_id, null) for
    nodes that leave the graph. Every node it names is replaced: deleted from the table, then
    inserted again with its new component unless it left. The SQL must name every node of
    each old component it touches (a component is replaced whole or not at all).

    Every row carries `changed_at`, the run that wrote it, for the models downstream.

    Only create/drop table statements and plain SQL are used (and, incrementally, a delete),
    so the materialization works on any adapter that implements create_table_as.
#}
{% materialization connected_components, default %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set max_iterations = config.get('max_iterations', var('identity_max_iterations', 100)) | int -%}
    {%- set incremental = existing_relation is not none and incremental_since() is not none -%}

    {%- set work = {} -%}
    {%- for suffix in ['raw_edges', 'edges', 'labels_a', 'labels_b'] -%}
        {%- do work.update({suffix: api.Relation.create(
            database=this.database, schema=this.schema,
            identifier=this.identifier ~ '__cc_' ~ suffix, type='table'
        )}) -%}
    {%- endfor -%}
    {%- set raw_edges = work['raw_edges'] -%}
    {%- set edges = work['edges'] -%}

    {{ run_hooks(pre_hooks) }}

    {%- for relation in work.values() %}
        {% do adapter.drop_relation(relation) %}
    {%- endfor %}

    {% call statement('raw_edges') -%}
        {{ create_table_as(False, raw_edges, sql) }}
    {%- endcall %}

    {% call statement('edges') -%}
        {{ create_table_as(False, edges, "
            select node_id, neighbor_id
            from (
                select node_id, neighbor_id from " ~ raw_edges ~ " where neighbor_id is not null
                union all
                select neighbor_id as node_id, node_id as neighbor_id from " ~ raw_edges ~ "
                where neighbor_id is not null
                union all
                select node_id, node_id as neighbor_id from " ~ raw_edges ~ "
                where neighbor_id is not null
            ) as both_directions
            group by node_id, neighbor_id
        ") }}
    {%- endcall %}

    {%- set state = namespace(current=work['labels_a'], spare=work['labels_b'], iterations=0, converged=false, label_sum=none) -%}

    {% call statement('labels_initial') -%}
        {{ create_table_as(False, state.current,
            "select node_id, min(neighbor_id) as label from " ~ edges ~ " group by node_id") }}
    {%- endcall %}
    {%- set state.label_sum = run_query(
        "select cast(sum(cast(label as decimal(38, 0))) as " ~ dbt.type_string() ~ ") from " ~ state.current
    ).columns[0].values()[0] -%}

    {%- for iteration in range(1, max_iterations + 1) %}
        {%- if not state.converged %}
            {% call statement('labels_next') -%}
                {{ create_table_as(False, state.spare, "
                    with neighbor_minimum as (
                        select edges.node_id, min(labels.label) as label
                        from " ~ edges ~ " as edges
                        inner join " ~ state.current ~ " as labels
                            on edges.neighbor_id = labels.node_id
                        group by edges.node_id
                    ),

                    hooks as (
                        select labels.label as tree_label, min(neighbor_minimum.label) as hooked_label
                        from " ~ state.current ~ " as labels
                        inner join neighbor_minimum on labels.node_id = neighbor_minimum.node_id
                        group by labels.label
                    )

                    select
                        labels.node_id,
                        coalesce(third.hooked_label, second.hooked_label, first.hooked_label) as label
                    from " ~ state.current ~ " as labels
                    inner join hooks as first on labels.label = first.tree_label
                    left join hooks as second on first.hooked_label = second.tree_label
                    left join hooks as third on second.hooked_label = third.tree_label
                ") }}
            {%- endcall %}
            {#- Labels never increase, so an unchanged sum means no label changed. -#}
            {%- set label_sum = run_query(
                "select cast(sum(cast(label as decimal(38, 0))) as " ~ dbt.type_string() ~ ") from " ~ state.spare
            ).columns[0].values()[0] -%}
            {%- set changed = label_sum != state.label_sum -%}
            {%- set state.label_sum = label_sum -%}
            {% do adapter.drop_relation(state.current) %}
            {%- set previous = state.current -%}
            {%- set state.current = state.spare -%}
            {%- set state.spare = previous -%}
            {%- set state.iterations = iteration -%}
            {{ log(this.identifier ~ ": round " ~ iteration ~ (", labels changed" if changed else ", stable"), info=True) }}
            {%- if not changed %}{% set state.converged = true %}{% endif -%}
        {%- endif %}
    {%- endfor %}

    {%- if not state.converged %}
        {{ exceptions.raise_compiler_error(
            this.identifier ~ ": connected components did not converge in " ~ max_iterations
            ~ " rounds; raise `max_iterations` (var identity_max_iterations)"
        ) }}
    {%- endif %}

    {%- set result_sql = "select node_id, label as component_id, "
        ~ state.iterations ~ " as resolved_in_rounds, " ~ run_stamp() ~ " as changed_at from "
        ~ state.current -%}
    {% if incremental %}
        {% call statement('main') -%}
            delete from {{ target_relation }}
            where node_id in (select node_id from {{ raw_edges }});
            insert into {{ target_relation }} (node_id, component_id, resolved_in_rounds, changed_at)
            {{ result_sql }}
        {%- endcall %}
    {% else %}
        {% if existing_relation is not none %}
            {% do adapter.drop_relation(existing_relation) %}
        {% endif %}
        {% call statement('main') -%}
            {{ create_table_as(False, target_relation, result_sql) }}
        {%- endcall %}
    {% endif %}
    {% do adapter.drop_relation(raw_edges) %}

    {% do adapter.drop_relation(state.current) %}
    {% do adapter.drop_relation(edges) %}

    {{ run_hooks(post_hooks) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
