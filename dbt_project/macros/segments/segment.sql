{#
    Segments as code. A segment is a model `seg_<name>` whose SQL is just a call of segment()
    with the relations it reads (the same in every segment) and
    whose rules and metadata live in its YAML properties under `config.meta.segment`:

        segment:
          owner: lifecycle-marketing          # who answers for it
          kpi: repeat purchase rate           # what it is meant to move
          version: 1                          # bump when the rules change meaning
          refresh: hourly                     # hourly | nightly | realtime (also on the stream, cdp/stream)
          holdout_share: 0.1                  # members kept out of every send, for lift
          consent_purpose: email_marketing    # email_marketing | sms_marketing | ads_personalization | data_sale_sharing
          size_bounds: {min: 1, max: 1000000} # expected size; tests/assert_segment_sizes_within_bounds warns outside it
          rules: <condition>                  # who is in
          exclude: <condition>                # optional: who is never in

    A condition is one of:
        {all: [<condition>, ...]}   every one holds
        {any: [<condition>, ...]}   at least one holds
        {not: <condition>}          it does not hold
        {trait: <column of customer_traits>, op: <operator>, value: <value>}
            operators by the trait's type (from customer_traits' declared columns):
              number     eq ne gt gte lt lte in not_in between is_null is_not_null
              text       eq ne in not_in is_null is_not_null
              boolean    eq ne is_null is_not_null
              timestamp  gt gte lt lte between (values as 'YYYY-MM-DD' text) is_null is_not_null
                         within_last_days more_than_days_ago (value = whole days before as_of)
            A comparison with a missing (null) trait value is false.
        {event: <event name>, within_days: N, min_count: 1, max_count: M, since_last: <event>}
            the customer has between min_count (default 1) and max_count such events in the
            last N days (default: all history), counting only those after their last
            `since_last` event when given; event names: int_segments__customer_events, and a
            new event name must be added to segment_known_events() below
        {sql: "<boolean SQL over customer_traits columns>"}
            the explicit escape hatch, used as written

    Validation happens when the model compiles: an unknown trait, an operator that does not fit
    the trait's type, a value of the wrong type, an unknown event or missing metadata fails the
    build with the segment's name and the path of the offending field.
#}

{% macro segment(traits, customers, events, changes) %}
    {#-
        `traits`, `customers`, `events`: the relations of customer_traits, customers and
        int_segments__customer_events; `changes`: model_inputs() of what only an incremental
        run reads (affected_segment_customers() below). The folder's configuration
        (dbt_project.yml) makes the model incremental over the customers whose membership can
        have changed since its last successful run (macros/as_of_windows.sql).
    -#}
    {%- set inputs = {} -%}
    {%- do inputs.update(changes) -%}
    {%- do inputs.update({
        'customer_traits': traits, 'customers': customers, 'int_segments__customer_events': events,
    }) -%}
    {%- set segment_name = model.name -%}
    {%- set definition = segment_definition() -%}
    {%- set rules_under_test = var('segment_rules_under_test', none) -%}
    {%- set traits_relation = traits -%}
    {%- set customers_relation = customers -%}
    {%- set events_relation = events -%}
    {%- if not execute -%}
        {#- Parsing: YAML properties are not applied yet. -#}
        {{ return('select 1 as customer_id') }}
    {%- endif -%}
    {%- if definition is none -%}
        {{ segment_error(segment_name, 'config.meta.segment', 'is missing: a segment needs its rules and metadata') }}
    {%- endif -%}
    {%- set validate = rules_under_test is none -%}
    {%- if validate -%}{{ segment_validate_metadata(segment_name, definition) }}{%- endif -%}
    {%- set filtered = is_incremental() and not segment_affects_everyone(inputs) -%}
    {{ return(segment_query(
        segment_name, definition, traits_relation, customers_relation, events_relation,
        affected=affected_segment_customers(inputs) if filtered else none, validate=validate,
    )) }}
{% endmacro %}


{#-
    The membership query of one segment over the given relations: `affected` (SQL selecting
    customer_id) restricts it to those customers. segment() renders it over the build's
    relations, segment_realtime() over the relations of the real-time evaluator.
-#}
{% macro segment_query(segment_name, definition, traits_relation, customers_relation, events_relation, affected=none, validate=true) -%}
    {%- set context = {
        'segment': segment_name, 'traits': segment_known_traits() if validate else {},
        'events': 'customer_events', 'validate': validate,
    } -%}
    {%- set included = segment_condition(definition.get('rules'), 'rules', context) -%}
    {%- set excluded = segment_condition(definition['exclude'], 'exclude', context) if definition.get('exclude') is not none else none -%}
    {%- set holdout_share = definition.get('holdout_share', 0) -%}
    {%- set purpose = definition.get('consent_purpose') -%}
    {%- set filtered = affected is not none -%}
    {%- set sql -%}
with

{% if filtered %}
    affected as (
        {{ affected }}
    ),
{% endif %}

traits as (
    select * from {{ traits_relation }}
    {% if filtered %}
        where customer_id in (select affected.customer_id from affected)
    {% endif %}
),

customer_events as (
    select * from {{ events_relation }}
    {% if filtered %}
        where customer_id in (select affected.customer_id from affected)
    {% endif %}
),

customers as (
    select * from {{ customers_relation }}
),

members as (
    select traits.customer_id
    from traits
    where
        not traits.is_erased
        and ({{ included }})
        {% if excluded is not none %}
            and not ({{ excluded }})
        {% endif %}
),

final as (
    select
        members.customer_id,
        '{{ segment_name }}' as segment_name,
        {{ definition.get('version', 1) }} as segment_version,
        {{ segment_holdout_bucket("'" ~ segment_name ~ "'", 'members.customer_id') }}
        < {{ holdout_share }} as is_holdout,
        coalesce(customers.consent_{{ purpose }}, false) as has_consent,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country
    from members
    inner join customers on members.customer_id = customers.customer_id
)

select * from final
    {%- endset -%}
    {{ return(sql) }}
{%- endmacro %}


{#-
    A `refresh: realtime` segment's membership query for the real-time evaluator
    (cdp/stream): the same rules as the built model, over the relations the evaluator names
    and restricted to the customers of `affected` (SQL selecting customer_id). The as_of is
    the `as_of` var as always; the evaluator compiles this once with a placeholder there and
    binds the evaluation time when it runs the query.
-#}
{% macro segment_realtime(segment_name, traits, customers, events, affected) -%}
    {%- set nodes = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == segment_name -%}
        {%- do nodes.append(node) -%}
    {%- endfor -%}
    {%- if nodes | length == 0 -%}
        {{ exceptions.raise_compiler_error("segment " ~ segment_name ~ ": no such segment model") }}
    {%- endif -%}
    {%- set definition = (nodes[0].config.get('meta') or {}).get('segment') -%}
    {%- if definition is none -%}
        {{ segment_error(segment_name, 'config.meta.segment', 'is missing: a segment needs its rules and metadata') }}
    {%- endif -%}
    {{ segment_validate_metadata(segment_name, definition) }}
    {%- if definition['refresh'] != 'realtime' -%}
        {{ segment_error(segment_name, 'refresh', "is '" ~ definition['refresh'] ~ "'; only a realtime segment is evaluated on the stream") }}
    {%- endif -%}
    {{ return(segment_query(segment_name, definition, traits, customers, events, affected=affected)) }}
{%- endmacro %}


{#- The segment's definition: its YAML, or in a unit test the rules under test. -#}
{% macro segment_definition() -%}
    {%- set definition = (model.config.get('meta') or {}).get('segment') -%}
    {#-
        dbt unit tests cannot see the tested model's YAML, so they test the compiler itself: the
        var `segment_rules_under_test` ({rules: ..., exclude: ...}) stands in for the
        definition, and validation (which needs the project graph) is left to the build.
    -#}
    {%- set rules_under_test = var('segment_rules_under_test', none) -%}
    {%- if execute and rules_under_test is not none -%}
        {%- set definition = {
            'version': 1, 'holdout_share': 0, 'consent_purpose': 'email_marketing',
            'rules': rules_under_test.get('rules'), 'exclude': rules_under_test.get('exclude'),
        } -%}
    {%- endif -%}
    {{ return(definition) }}
{%- endmacro %}


{#-
    Traits computed over all customers at once (ranks, predictions) or that are the as_of
    itself: one customer's new data or the move of the as_of can change them for anyone, so a
    rule on one of them makes its segment recompute every customer (these segments only read
    customer_traits, a cheap scan).
-#}
{% macro segment_global_traits() -%}
    {{ return([
        'as_of', 'recency_score', 'frequency_score', 'monetary_score', 'rfm_segment',
        'churn_risk', 'churn_risk_tier', 'expected_purchases_12m', 'predicted_clv', 'clv_tier',
        'cluster_id', 'cluster_name',
    ]) }}
{%- endmacro %}


{#- What a segment's rules depend on: `everyone` (rules on a global trait, raw SQL naming
    one or the time) and the windows of its event and timestamp conditions. -#}
{% macro segment_dependence(inputs) -%}
    {%- set dependence = {'everyone': [], 'windows': []} -%}
    {%- set context = {
        'segment': model.name, 'traits': {}, 'events': 'customer_events', 'validate': false,
        'dependence': dependence, 'inputs': inputs,
    } -%}
    {%- set definition = segment_definition() -%}
    {%- do segment_condition(definition.get('rules'), 'rules', context) -%}
    {%- if definition.get('exclude') is not none -%}
        {%- do segment_condition(definition['exclude'], 'exclude', context) -%}
    {%- endif -%}
    {{ return(dependence) }}
{%- endmacro %}

{#- An incremental run of a segment that must recheck every customer reads its inputs whole
    and replaces every row (no filter by a set of a million ids). -#}
{% macro segment_affects_everyone(inputs) -%}
    {{ return(affects_every_customer(segment_dependence(inputs).everyone | length > 0)) }}
{%- endmacro %}


{#-
    affected_keys of a segment: the customers whose membership can have changed since its last
    successful run (macros/as_of_windows.sql). Besides the customers whose records changed,
    those of every trait model row rewritten since (changes_from), and the customers whose
    events or timestamp traits crossed a window of the rules as the as_of moved. A rule on a
    global trait, or raw SQL that names one or the time, makes it every customer. Erased
    customers are never members; a deletion request is not a record of its customer, so the
    erased are always rechecked (few, and only their own rows).
-#}
{% macro affected_segment_customers(inputs) -%}
    {%- set dependence = segment_dependence(inputs) -%}
    {{ return(affected_customers_as_of(
        inputs,
        everyone=dependence.everyone | length > 0,
        customer_windows=dependence.windows,
        also=['select erased.customer_id from ' ~ model_input(inputs, 'int_privacy__erased_customers') ~ ' as erased'],
    )) }}
{%- endmacro %}


{#- A number in [0, 1) from the hash of (segment, customer): stable across runs and engines,
    so the same people stay in the holdout as long as the segment keeps its name. -#}
{% macro segment_holdout_bucket(segment_expression, customer_expression) -%}
    {{ return(adapter.dispatch('segment_holdout_bucket', 'cdp')(segment_expression, customer_expression)) }}
{%- endmacro %}

{% macro default__segment_holdout_bucket(segment_expression, customer_expression) -%}
    cast(conv(substr(md5(concat({{ segment_expression }}, ':', {{ customer_expression }})), 1, 8), 16, 10) as bigint) / 4294967296.0
{%- endmacro %}

{% macro duckdb__segment_holdout_bucket(segment_expression, customer_expression) -%}
    cast(('0x' || substr(md5({{ segment_expression }} || ':' || {{ customer_expression }}), 1, 8)) as ubigint) / 4294967296.0
{%- endmacro %}


{% macro segment_error(segment_name, path, message) -%}
    {{ exceptions.raise_compiler_error("segment " ~ segment_name ~ ": " ~ path ~ " " ~ message) }}
{%- endmacro %}


{#- customer_traits' declared columns and the kind of each: number, text, boolean, timestamp. -#}
{% macro segment_known_traits() -%}
    {%- set traits = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'customer_traits' -%}
        {%- for column_name, column in node.columns.items() -%}
            {%- set data_type = (column.data_type or '') | lower -%}
            {%- if data_type in ('boolean', 'bool') -%}
                {%- do traits.update({column_name: 'boolean'}) -%}
            {%- elif 'timestamp' in data_type or data_type == 'date' -%}
                {%- do traits.update({column_name: 'timestamp'}) -%}
            {%- elif data_type in ('varchar', 'text', 'string') -%}
                {%- do traits.update({column_name: 'text'}) -%}
            {%- elif data_type -%}
                {%- do traits.update({column_name: 'number'}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(traits) }}
{%- endmacro %}


{% macro segment_known_events() -%}
    {{ return([
        'Page Viewed', 'Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed',
        'Signed Up', 'Purchase', 'Email Sent', 'Email Delivered', 'Email Opened',
        'Email Clicked', 'Email Bounced', 'Email Unsubscribed', 'Email Marked Spam',
        'Ticket Created',
    ]) }}
{%- endmacro %}


{% macro segment_validate_metadata(segment_name, definition) -%}
    {%- if definition is not mapping -%}
        {{ segment_error(segment_name, 'config.meta.segment', 'must be a mapping') }}
    {%- endif -%}
    {%- for key in ['owner', 'kpi', 'version', 'refresh', 'holdout_share', 'consent_purpose', 'size_bounds', 'rules'] -%}
        {%- if definition.get(key) is none -%}
            {{ segment_error(segment_name, key, 'is required') }}
        {%- endif -%}
    {%- endfor -%}
    {%- for key in ['owner', 'kpi'] if definition[key] is not string or definition[key] | trim == '' -%}
        {{ segment_error(segment_name, key, 'must be non-empty text') }}
    {%- endfor -%}
    {%- if definition['refresh'] not in ('hourly', 'nightly', 'realtime') -%}
        {{ segment_error(segment_name, 'refresh', "must be hourly, nightly or realtime, not '" ~ definition['refresh'] ~ "'") }}
    {%- endif -%}
    {%- set share = definition['holdout_share'] -%}
    {%- if share is string or share is boolean or share is not number or share < 0 or share >= 1 -%}
        {{ segment_error(segment_name, 'holdout_share', 'must be a number in [0, 1), not ' ~ share) }}
    {%- endif -%}
    {%- if definition['consent_purpose'] not in ('email_marketing', 'sms_marketing', 'ads_personalization', 'data_sale_sharing') -%}
        {{ segment_error(segment_name, 'consent_purpose', "is not a known purpose: '" ~ definition['consent_purpose'] ~ "'") }}
    {%- endif -%}
    {%- set version = definition['version'] -%}
    {%- if version is string or version is boolean or version is not integer -%}
        {{ segment_error(segment_name, 'version', 'must be a whole number') }}
    {%- endif -%}
    {%- set bounds = definition['size_bounds'] -%}
    {%- if bounds is not mapping or bounds.get('min') is not integer or bounds.get('max') is not integer or bounds['min'] is boolean or bounds['max'] is boolean or bounds['min'] > bounds['max'] -%}
        {{ segment_error(segment_name, 'size_bounds', 'must be {min: <number>, max: <number>} with min <= max') }}
    {%- endif -%}
{%- endmacro %}


{#- SQL for one condition (recursive). `path` names the field in errors, e.g. rules.all[1].op. -#}
{% macro segment_condition(node, path, context) -%}
    {%- if node is not mapping -%}
        {{ return(segment_error(context.segment, path, 'must be a condition (all, any, not, trait, event or sql)')) }}
    {%- endif -%}
    {%- set kinds = [] -%}
    {%- for kind in ['all', 'any', 'not', 'trait', 'event', 'sql'] if kind in node -%}
        {%- do kinds.append(kind) -%}
    {%- endfor -%}
    {%- if kinds | length != 1 -%}
        {{ return(segment_error(context.segment, path, 'must have exactly one of all, any, not, trait, event, sql; has ' ~ (kinds | join(', ') or 'none'))) }}
    {%- endif -%}
    {%- set kind = kinds[0] -%}
    {%- if kind in ('all', 'any') -%}
        {%- if node[kind] is string or node[kind] is mapping or node[kind] is not iterable or node[kind] | length == 0 -%}
            {{ return(segment_error(context.segment, path ~ '.' ~ kind, 'must be a non-empty list of conditions')) }}
        {%- endif -%}
        {%- set parts = [] -%}
        {%- for child in node[kind] -%}
            {%- do parts.append('(' ~ segment_condition(child, path ~ '.' ~ kind ~ '[' ~ loop.index0 ~ ']', context) ~ ')') -%}
        {%- endfor -%}
        {{ return(parts | join(' and ' if kind == 'all' else ' or ')) }}
    {%- elif kind == 'not' -%}
        {{ return('not (' ~ segment_condition(node['not'], path ~ '.not', context) ~ ')') }}
    {%- elif kind == 'sql' -%}
        {%- if node['sql'] is not string or node['sql'] | trim == '' -%}
            {{ return(segment_error(context.segment, path ~ '.sql', 'must be a non-empty SQL expression')) }}
        {%- endif -%}
        {%- if context.get('dependence') is not none -%}
            {%- set text = node['sql'] | lower -%}
            {%- for word in segment_global_traits() + ['current_', 'now(', 'getdate', 'sysdate'] if word in text -%}
                {%- do context.dependence.everyone.append(word) -%}
            {%- endfor -%}
        {%- endif -%}
        {{ return('coalesce((' ~ node['sql'] ~ '), false)') }}
    {%- elif kind == 'trait' -%}
        {{ return(segment_trait_condition(node, path, context)) }}
    {%- else -%}
        {{ return(segment_event_condition(node, path, context)) }}
    {%- endif -%}
{%- endmacro %}


{% macro segment_literal(value) -%}
    {%- if value is boolean -%}
        {{ return('true' if value else 'false') }}
    {%- elif value is number -%}
        {{ return(value | string) }}
    {%- else -%}
        {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{% macro segment_value_fits(value, kind) -%}
    {%- if kind == 'number' -%}
        {{ return(value is number and value is not boolean) }}
    {%- elif kind == 'boolean' -%}
        {{ return(value is boolean) }}
    {%- else -%}
        {{ return(value is string) }}
    {%- endif -%}
{%- endmacro %}


{% macro segment_trait_condition(node, path, context) -%}
    {%- set name = node['trait'] -%}
    {%- set op = node.get('op') -%}
    {%- set value = node.get('value') -%}
    {%- set column = 'traits.' ~ name -%}
    {%- set operators = {
        'eq': '=', 'ne': '<>', 'gt': '>', 'gte': '>=', 'lt': '<', 'lte': '<=',
    } -%}
    {%- if context.validate -%}
        {%- if name not in context.traits -%}
            {{ return(segment_error(context.segment, path ~ '.trait', "unknown trait '" ~ name ~ "' (known: " ~ (context.traits.keys() | sort | join(', ')) ~ ")")) }}
        {%- endif -%}
        {%- for key in node.keys() if key not in ('trait', 'op', 'value') -%}
            {{ return(segment_error(context.segment, path ~ '.' ~ key, 'is not a field of a trait condition (trait, op, value)')) }}
        {%- endfor -%}
        {%- set kind = context.traits[name] -%}
        {%- set allowed = {
            'number': ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'between', 'is_null', 'is_not_null'],
            'text': ['eq', 'ne', 'in', 'not_in', 'is_null', 'is_not_null'],
            'boolean': ['eq', 'ne', 'is_null', 'is_not_null'],
            'timestamp': ['gt', 'gte', 'lt', 'lte', 'between', 'is_null', 'is_not_null', 'within_last_days', 'more_than_days_ago'],
        }[kind] -%}
        {%- if op not in allowed -%}
            {{ return(segment_error(context.segment, path ~ '.op', "'" ~ op ~ "' does not apply to " ~ kind ~ " trait '" ~ name ~ "' (use one of: " ~ (allowed | join(', ')) ~ ")")) }}
        {%- endif -%}
        {%- set value_kind = 'number' if op in ('within_last_days', 'more_than_days_ago') else ('text' if kind == 'timestamp' else kind) -%}
        {%- if op in ('in', 'not_in', 'between') -%}
            {%- if value is string or value is not iterable or value | length == 0 or (op == 'between' and value | length != 2) -%}
                {{ return(segment_error(context.segment, path ~ '.value', 'must be a list' ~ (' of two values [low, high]' if op == 'between' else ''))) }}
            {%- endif -%}
            {%- for item in value if not segment_value_fits(item, value_kind) -%}
                {{ return(segment_error(context.segment, path ~ '.value', "'" ~ item ~ "' is not a " ~ value_kind ~ " value for trait '" ~ name ~ "'")) }}
            {%- endfor -%}
        {%- elif op not in ('is_null', 'is_not_null') and not segment_value_fits(value, value_kind) -%}
            {{ return(segment_error(context.segment, path ~ '.value', "'" ~ value ~ "' is not a " ~ value_kind ~ " value for trait '" ~ name ~ "'")) }}
        {%- endif -%}
        {%- if value is mapping -%}
            {{ return(segment_error(context.segment, path ~ '.value', 'must be a value or a list, not a mapping')) }}
        {%- endif -%}
        {%- if op == 'between' and value[0] > value[1] -%}
            {{ return(segment_error(context.segment, path ~ '.value', 'must be [low, high] with low <= high')) }}
        {%- endif -%}
        {%- if op in ('within_last_days', 'more_than_days_ago') and (value is not integer or value < 0) -%}
            {{ return(segment_error(context.segment, path ~ '.value', 'must be a non-negative whole number of days')) }}
        {%- endif -%}
    {%- endif -%}
    {%- if context.get('dependence') is not none -%}
        {%- if name in segment_global_traits() -%}
            {%- do context.dependence.everyone.append(name) -%}
        {%- elif op in ('within_last_days', 'more_than_days_ago') -%}
            {%- do context.dependence.windows.append({
                'relation': model_input(context.inputs, 'customer_traits'), 'column': name, 'days': [value],
            }) -%}
        {%- endif -%}
    {%- endif -%}
    {#- A comparison with a missing (null) trait value is false, so `not` and `exclude`
        around it behave as written: a customer without an RFM cell is "not Hibernating". -#}
    {%- if op in operators -%}
        {{ return('coalesce(' ~ column ~ ' ' ~ operators[op] ~ ' ' ~ segment_literal(value) ~ ', false)') }}
    {%- elif op in ('in', 'not_in') -%}
        {%- set items = [] -%}
        {%- for item in value %}{% do items.append(segment_literal(item)) %}{% endfor -%}
        {{ return('coalesce(' ~ column ~ (' not' if op == 'not_in' else '') ~ ' in (' ~ (items | join(', ')) ~ '), false)') }}
    {%- elif op == 'between' -%}
        {{ return('coalesce(' ~ column ~ ' between ' ~ segment_literal(value[0]) ~ ' and ' ~ segment_literal(value[1]) ~ ', false)') }}
    {%- elif op == 'is_null' -%}
        {{ return(column ~ ' is null') }}
    {%- elif op == 'is_not_null' -%}
        {{ return(column ~ ' is not null') }}
    {%- elif op == 'within_last_days' -%}
        {{ return('coalesce(' ~ column ~ ' > ' ~ dbt.dateadd('day', -1 * value, as_of()) ~ ', false)') }}
    {%- elif op == 'more_than_days_ago' -%}
        {{ return('coalesce(' ~ column ~ ' <= ' ~ dbt.dateadd('day', -1 * value, as_of()) ~ ', false)') }}
    {%- else -%}
        {{ return(segment_error(context.segment, path ~ '.op', "unknown operator '" ~ op ~ "'")) }}
    {%- endif -%}
{%- endmacro %}


{% macro segment_event_condition(node, path, context) -%}
    {%- set event_name = node['event'] -%}
    {%- set within_days = node.get('within_days') -%}
    {%- set min_count = node.get('min_count', 1) -%}
    {%- set max_count = node.get('max_count') -%}
    {%- set since_last = node.get('since_last') -%}
    {%- if context.validate -%}
        {%- set known = segment_known_events() -%}
        {%- if event_name not in known -%}
            {{ return(segment_error(context.segment, path ~ '.event', "unknown event '" ~ event_name ~ "' (known: " ~ (known | join(', ')) ~ ")")) }}
        {%- endif -%}
        {%- if since_last is not none and since_last not in known -%}
            {{ return(segment_error(context.segment, path ~ '.since_last', "unknown event '" ~ since_last ~ "'")) }}
        {%- endif -%}
        {%- for key in ['within_days', 'min_count', 'max_count'] if node.get(key) is not none and (node[key] is not integer or node[key] is boolean or node[key] < 0) -%}
            {{ return(segment_error(context.segment, path ~ '.' ~ key, 'must be a non-negative whole number')) }}
        {%- endfor -%}
        {%- if max_count is not none and min_count > max_count -%}
            {{ return(segment_error(context.segment, path ~ '.max_count', 'must not be below min_count')) }}
        {%- endif -%}
        {%- for key in node.keys() if key not in ('event', 'within_days', 'min_count', 'max_count', 'since_last') -%}
            {{ return(segment_error(context.segment, path ~ '.' ~ key, 'is not a field of an event condition (event, within_days, min_count, max_count, since_last)')) }}
        {%- endfor -%}
    {%- endif -%}
    {%- set filters = [
        'events.customer_id = traits.customer_id',
        'events.event_name = ' ~ segment_literal(event_name),
    ] -%}
    {%- if within_days is not none -%}
        {%- do filters.append('events.occurred_at > ' ~ dbt.dateadd('day', -1 * within_days, as_of())) -%}
        {%- if context.get('dependence') is not none -%}
            {%- do context.dependence.windows.append({
                'relation': model_input(context.inputs, 'int_segments__customer_events'), 'column': 'occurred_at',
                'days': [within_days], 'where': 'windowed.event_name = ' ~ segment_literal(event_name),
            }) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if since_last is not none -%}
        {%- do filters.append(
            'events.occurred_at > coalesce((select max(anchor.occurred_at) from ' ~ context.events
            ~ ' as anchor where anchor.customer_id = events.customer_id and anchor.event_name = '
            ~ segment_literal(since_last) ~ "), cast('1900-01-01' as " ~ dbt.type_timestamp() ~ '))'
        ) -%}
    {%- endif -%}
    {%- set counted = '(select count(*) from ' ~ context.events ~ ' as events where ' ~ (filters | join(' and ')) ~ ')' -%}
    {%- set checks = [counted ~ ' >= ' ~ min_count] -%}
    {%- if max_count is not none -%}
        {%- do checks.append(counted ~ ' <= ' ~ max_count) -%}
    {%- endif -%}
    {{ return(checks | join(' and ')) }}
{%- endmacro %}
