{#
    Every identifier carried by every usable landed record (all versions, not only the latest,
    so an email a person used before they changed it still links), as
    (record_source, record_key, observed_at, identifier_type, identifier_value).

    Two models read it: int_identity__observations keeps only a hash of the value (the graph
    never holds personal data), customer_identifiers keeps the value for people who have not
    asked to be erased.
#}
{% macro identifier_observations() -%}
    {%- set sources = [
        {
            'model': 'base_crm__contacts', 'name': 'crm/contacts', 'key': 'contact_id',
            'observed_at': 'coalesce(created_at, updated_at)',
            'identifiers': {'crm_contact_id': 'contact_id', 'email': 'email', 'phone': 'phone'},
        },
        {
            'model': 'base_shop__customers', 'name': 'shop/customers', 'key': 'customer_id',
            'observed_at': 'coalesce(created_at, updated_at)',
            'identifiers': {'shop_customer_id': 'customer_id', 'email': 'email', 'phone': 'phone'},
        },
        {
            'model': 'base_shop__orders', 'name': 'shop/orders', 'key': 'order_id',
            'observed_at': 'ordered_at',
            'identifiers': {'shop_customer_id': 'customer_id', 'email': 'email'},
        },
        {
            'model': 'base_events__identifies', 'name': 'events/identifies', 'key': 'message_id',
            'observed_at': 'identified_at',
            'identifiers': {
                'anonymous_id': 'anonymous_id', 'shop_customer_id': 'user_id', 'email': 'email'
            },
        },
        {
            'model': 'base_events__tracks', 'name': 'events/tracks', 'key': 'message_id',
            'observed_at': 'event_at',
            'identifiers': {'anonymous_id': 'anonymous_id', 'shop_customer_id': 'user_id'},
        },
        {
            'model': 'base_email__events', 'name': 'email/events', 'key': 'email_event_id',
            'observed_at': 'occurred_at',
            'identifiers': {'email': 'email'},
        },
        {
            'model': 'base_support__tickets', 'name': 'support/tickets', 'key': 'ticket_id',
            'observed_at': 'created_at',
            'identifiers': {'email': 'requester_email'},
        },
    ] -%}
    {%- set selects = [] -%}
    {%- for source in sources -%}
        {%- for identifier_type, column in source['identifiers'].items() -%}
            {%- do selects.append(
                "select '" ~ source['name'] ~ "' as record_source, "
                ~ source['key'] ~ " as record_key, "
                ~ source['observed_at'] ~ " as observed_at, '"
                ~ identifier_type ~ "' as identifier_type, "
                ~ column ~ " as identifier_value from " ~ ref(source['model'])
                ~ " where _disposition <> 'quarantined' and " ~ column ~ " is not null"
            ) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do selects.append(
        "select 'consent/events' as record_source, consent_event_id as record_key, "
        ~ "recorded_at as observed_at, identifier_type, identifier_value from "
        ~ ref('base_consent__events') ~ " where _disposition <> 'quarantined'"
    ) -%}
    {{ selects | join('\n    union all\n    ') }}
{%- endmacro %}
