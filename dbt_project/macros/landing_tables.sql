{#
    Generated from cdp/landing.py by `cdp landing-contract`: do not edit.

    The landing tables of the contract (cdp/landing.py, docs/adr/0013): the base model that
    reads each, its record key, the time a record was observed, which columns carry which
    identity-graph identifiers (SQL expressions over the base model), and the columns its
    files carry. Staging, identity, the landing audit and erasure all read this.

    `parent`: a table whose rows carry no identifier but belong to a record of another table
    (an order line to its order): a new or changed row changes what its parent record's
    customer has, so identity rewrites the parent record (docs/adr/0004).

    `incremental`: the table's staging model is incremental, so its base model stops before
    dispositions (the staging model ranks only new files against what it staged before) and
    int_landing__row_dispositions ranks every row of it by `version` (docs/adr/0002).
#}
{% macro landing_tables() -%}
    {{ return([
        {
            'name': 'crm/contacts',
            'model': 'base_crm__contacts',
            'key': 'contact_id',
            'observed_at': 'coalesce(created_at, updated_at)',
            'incremental': true,
            'version': 'updated_at',
            'columns': [
                'contact_id', 'email', 'phone', 'first_name', 'last_name', 'company', 'job_title',
                'country', 'city', 'lifecycle_stage', 'is_deleted', 'created_at', 'updated_at',
            ],
            'identifiers': {
                'crm_contact_id': 'contact_id',
                'email': 'email',
                'phone': 'phone',
            },
        },
        {
            'name': 'shop/customers',
            'model': 'base_shop__customers',
            'key': 'customer_id',
            'observed_at': 'coalesce(created_at, updated_at)',
            'incremental': true,
            'version': 'updated_at',
            'columns': [
                'customer_id', 'email', 'phone', 'first_name', 'last_name', 'country', 'city',
                'accepts_email_marketing', 'created_at', 'updated_at',
            ],
            'identifiers': {
                'shop_customer_id': 'customer_id',
                'email': 'email',
                'phone': 'phone',
            },
        },
        {
            'name': 'shop/orders',
            'model': 'base_shop__orders',
            'key': 'order_id',
            'observed_at': 'ordered_at',
            'incremental': true,
            'version': 'updated_at',
            'columns': [
                'order_id', 'customer_id', 'email', 'ordered_at', 'status', 'subtotal', 'discount',
                'total', 'refunded_amount', 'updated_at',
            ],
            'identifiers': {
                'shop_customer_id': 'customer_id',
                'email': 'email',
            },
        },
        {
            'name': 'shop/order_items',
            'model': 'base_shop__order_items',
            'key': 'order_item_id',
            'observed_at': 'null',
            'incremental': true,
            'columns': [
                'order_id', 'line_number', 'sku', 'product_name', 'category', 'quantity',
                'unit_price',
            ],
            'identifiers': {},
            'parent': {'table': 'shop/orders', 'key': 'order_id'},
        },
        {
            'name': 'events/tracks',
            'model': 'base_events__tracks',
            'key': 'message_id',
            'observed_at': 'event_at',
            'incremental': true,
            'columns': [
                'message_id', 'anonymous_id', 'user_id', 'event', 'timestamp', 'properties',
            ],
            'identifiers': {
                'anonymous_id': 'anonymous_id',
                'shop_customer_id': 'user_id',
            },
        },
        {
            'name': 'events/identifies',
            'model': 'base_events__identifies',
            'key': 'message_id',
            'observed_at': 'identified_at',
            'incremental': true,
            'columns': [
                'message_id', 'anonymous_id', 'user_id', 'email', 'timestamp', 'traits',
            ],
            'identifiers': {
                'anonymous_id': 'anonymous_id',
                'shop_customer_id': 'user_id',
                'email': 'email',
            },
        },
        {
            'name': 'email/events',
            'model': 'base_email__events',
            'key': 'email_event_id',
            'observed_at': 'occurred_at',
            'incremental': true,
            'columns': [
                'event_id', 'email', 'campaign_id', 'event_type', 'occurred_at',
            ],
            'identifiers': {
                'email': 'email',
            },
        },
        {
            'name': 'support/tickets',
            'model': 'base_support__tickets',
            'key': 'ticket_id',
            'observed_at': 'created_at',
            'incremental': true,
            'version': 'coalesce(solved_at, created_at)',
            'columns': [
                'ticket_id', 'requester_email', 'channel', 'priority', 'status', 'created_at',
                'solved_at', 'satisfaction_score',
            ],
            'identifiers': {
                'email': 'requester_email',
            },
        },
        {
            'name': 'consent/events',
            'model': 'base_consent__events',
            'key': 'consent_event_id',
            'observed_at': 'recorded_at',
            'incremental': true,
            'columns': [
                'consent_event_id', 'identifier_type', 'identifier_value', 'purpose', 'status',
                'recorded_at', 'source',
            ],
            'identifiers': {
                'email': "case when identifier_type = 'email' then identifier_value end",
                'phone': "case when identifier_type = 'phone' then identifier_value end",
                'shop_customer_id': "case when identifier_type = 'shop_customer_id' then identifier_value end",
                'crm_contact_id': "case when identifier_type = 'crm_contact_id' then identifier_value end",
            },
        },
        {
            'name': 'privacy/deletion_requests',
            'model': 'base_privacy__deletion_requests',
            'key': 'deletion_request_id',
            'observed_at': 'requested_at',
            'incremental': true,
            'columns': [
                'request_id', 'identifier_type', 'identifier_value', 'requested_at',
            ],
            'identifiers': {},
        },
    ]) }}
{%- endmacro %}


{#- The landing table named `name` (e.g. 'crm/contacts'). -#}
{% macro landing_table(name) -%}
    {%- for table in landing_tables() if table.name == name -%}
        {{ return(table) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        name ~ ': not a landing table of the contract (cdp/landing.py)'
    ) }}
{%- endmacro %}


{#- The identifier types of the identity graph, in a fixed order. -#}
{% macro identity_identifier_types() -%}
    {{ return(['email', 'phone', 'crm_contact_id', 'shop_customer_id', 'anonymous_id']) }}
{%- endmacro %}
