{#
    Incremental traits and segments over time (docs/adr/0005). A trait is computed as of
    as_of(), and the as_of moves between two runs, so a customer's traits can change with no
    new data: an order leaves the 90-day window, an event passes the `<= as_of` cut, a day
    count grows by one. A model recomputes the customers the new data touched
    (affected_customers(), docs/adr/0004) and also the customers the move of the as_of touched:

    - windows: a model declares, in its config, every window it applies to the timestamps of a
      timeline (`as_of_windows={'orders': [0, 90, 365]}`; 0 is the `<= as_of` cut). A row's
      membership of the window `ts > as_of - w` changes between the previous as_of and this one
      exactly when ts lies between (previous - w) and (as_of - w), whichever way the as_of
      moved. The customers of those rows are affected. The model writes its windows through
      as_of_cut() and as_of_window(), which fail the build for a window not declared, so the
      declaration cannot fall behind the SQL.
    - day counts: whole days between a timestamp and the as_of (days_before_as_of()) change for
      everyone when the date of the as_of changes. A model that uses them declares
      `as_of_day_counts=true` and recomputes every customer when the date moved.
    - changes upstream: a model declares, in `changes_from`, the incremental models it reads
      whose rows carry `changed_at`; the customers of rows changed since its last successful
      run are affected. Time effects upstream reach it this way without being declared twice.

    With no previous run (first build, full refresh) every customer is affected.
#}

{#- Where each timeline's timestamps come from: a staging model and the record it belongs to. -#}
{% macro as_of_timelines() -%}
    {{ return({
        'orders': {'model': 'stg_shop__orders', 'record_source': 'shop/orders', 'key': 'order_id', 'at': 'ordered_at'},
        'tracks': {'model': 'stg_events__tracks', 'record_source': 'events/tracks', 'key': 'message_id', 'at': 'event_at'},
        'email_events': {'model': 'stg_email__events', 'record_source': 'email/events', 'key': 'email_event_id', 'at': 'occurred_at'},
        'tickets': {'model': 'stg_support__tickets', 'record_source': 'support/tickets', 'key': 'ticket_id', 'at': 'created_at'},
    }) }}
{%- endmacro %}


{#- Fails the build when the model uses a window its config does not declare. -#}
{% macro as_of_window_declared(timeline, days) -%}
    {%- if execute -%}
        {%- set declared = (config.get('as_of_windows') or {}).get(timeline, []) -%}
        {%- if timeline not in as_of_timelines() or days not in declared -%}
            {{ exceptions.raise_compiler_error(
                model.name ~ ": the window of " ~ days ~ " days on timeline '" ~ timeline
                ~ "' is not declared in config as_of_windows (" ~ (config.get('as_of_windows') or {}) ~ ")"
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- `column <= as_of`: the timeline's rows up to the as_of (window 0). -#}
{% macro as_of_cut(timeline, column) -%}
    {{- as_of_window_declared(timeline, 0) -}}
    {{ column }} <= {{ as_of() }}
{%- endmacro %}

{#- `column > as_of - days`: the timeline's rows in the last `days` days. -#}
{% macro as_of_window(timeline, column, days) -%}
    {{- as_of_window_declared(timeline, days) -}}
    {{ column }} > {{ dbt.dateadd('day', -1 * days, as_of()) }}
{%- endmacro %}

{#- Whole days from `column` to the as_of; needs config as_of_day_counts=true. -#}
{% macro days_before_as_of(column) -%}
    {%- if execute and not config.get('as_of_day_counts') -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": days_before_as_of() needs config as_of_day_counts=true"
        ) }}
    {%- endif -%}
    {{ days_between(column, as_of()) }}
{%- endmacro %}


{#-
    How the as_of moved since this model's last successful run: none without one, else
    {'lower': ..., 'upper': ... (timestamp literals), 'moved': bool, 'same_date': bool}.
-#}
{% macro as_of_movement() -%}
    {%- set previous = incremental_previous_as_of() -%}
    {%- if previous is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set row = run_query(
        'select'
        ~ ' case when cast(' ~ previous ~ ' as date) = cast(' ~ as_of() ~ ' as date) then 1 else 0 end,'
        ~ ' case when ' ~ previous ~ ' < ' ~ as_of() ~ ' then 1 when ' ~ previous ~ ' > ' ~ as_of()
        ~ ' then -1 else 0 end'
    ).rows[0] -%}
    {{ return({
        'lower': previous if row[1] >= 0 else as_of(),
        'upper': as_of() if row[1] >= 0 else previous,
        'moved': row[1] != 0,
        'same_date': row[0] == 1,
    }) }}
{%- endmacro %}


{#- A predicate: `column` crossed the boundary of one of the windows (days) as the as_of moved. -#}
{% macro as_of_crossings(column, windows, movement) -%}
    {%- set crossings = [] -%}
    {%- for days in windows | unique | sort -%}
        {%- set lower = movement.lower if days == 0 else dbt.dateadd('day', -1 * days, movement.lower) -%}
        {%- set upper = movement.upper if days == 0 else dbt.dateadd('day', -1 * days, movement.upper) -%}
        {%- do crossings.append('(' ~ column ~ ' > ' ~ lower ~ ' and ' ~ column ~ ' <= ' ~ upper ~ ')') -%}
    {%- endfor -%}
    {{ return('(' ~ (crossings | join(' or ') or 'false') ~ ')') }}
{%- endmacro %}


{#-
    The customers a trait or segment model recomputes (SQL selecting customer_id): see the top
    of this file. Segments pass what their rules add: `everyone` (a rule no window describes),
    `customer_windows`, windows on tables that carry customer_id
    ({'relation': ..., 'column': ..., 'days': [...], 'where': optional SQL}), and `also`, SQL
    selecting further customers. The model hands, in
    `inputs` (model_inputs()), int_identity__record_customers,
    int_identity__identifier_customers, int_identity__customer_changes, the staging model of
    each timeline it declares windows on and each model of its `changes_from`.
-#}
{#- Whether every customer is affected: no previous run, a rule over every customer
    (`everyone`), or a model counting days whose as_of moved to another date. -#}
{% macro affects_every_customer(everyone=false) -%}
    {%- set since = incremental_since() -%}
    {%- if since is none or everyone -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set movement = as_of_movement() -%}
    {%- if config.get('as_of_day_counts') and (movement is none or not movement.same_date) -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}

{% macro affected_customers_as_of(inputs, everyone=false, customer_windows=[], also=[]) -%}
    {%- set since = incremental_since() -%}
    {%- set movement = as_of_movement() if since is not none else none -%}
    {%- set parts = [] -%}
    {%- if affects_every_customer(everyone) -%}
        {%- do parts.append(
            'select current_customers.customer_id from '
            ~ model_input(inputs, 'int_identity__identifier_customers') ~ ' as current_customers'
        ) -%}
        {%- if is_incremental() -%}
            {%- do parts.append('select previous_rows.customer_id from ' ~ this ~ ' as previous_rows') -%}
        {%- endif -%}
        {{ return(parts | join('\nunion\n')) }}
    {%- endif -%}
    {%- do parts.append('select affected.customer_id from (' ~ affected_customers(inputs) ~ ') as affected') -%}
    {%- do parts.extend(also) -%}
    {%- for upstream in config.get('changes_from') or [] -%}
        {%- do parts.append(
            'select changed.customer_id from ' ~ model_input(inputs, upstream) ~ ' as changed'
            ~ ' where changed.changed_at > ' ~ since
        ) -%}
    {%- endfor -%}
    {%- if movement is not none and movement.moved -%}
        {%- for timeline, windows in (config.get('as_of_windows') or {}).items() -%}
            {%- set source = as_of_timelines()[timeline] -%}
            {%- do parts.append(
                'select record_customers.customer_id from ' ~ model_input(inputs, source.model) ~ ' as timeline'
                ~ ' inner join ' ~ model_input(inputs, 'int_identity__record_customers') ~ ' as record_customers'
                ~ " on record_customers.record_source = '" ~ source.record_source ~ "'"
                ~ ' and record_customers.record_key = timeline.' ~ source.key
                ~ ' where ' ~ as_of_crossings('timeline.' ~ source.at, windows, movement)
            ) -%}
        {%- endfor -%}
        {%- for window in customer_windows -%}
            {%- do parts.append(
                'select windowed.customer_id from ' ~ window.relation ~ ' as windowed where '
                ~ as_of_crossings('windowed.' ~ window.column, window.days, movement)
                ~ (' and (' ~ window.where ~ ')' if window.get('where') else '')
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(parts | join('\nunion\n')) }}
{%- endmacro %}
