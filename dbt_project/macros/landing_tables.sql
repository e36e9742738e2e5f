{#- The landing tables of the contract, with the base model and key column of each. -#}
{% macro landing_tables() -%}
    {{ return([
        {'name': 'crm/contacts', 'model': 'base_crm__contacts', 'key': 'contact_id'},
        {'name': 'shop/customers', 'model': 'base_shop__customers', 'key': 'customer_id'},
        {'name': 'shop/orders', 'model': 'base_shop__orders', 'key': 'order_id'},
        {'name': 'shop/order_items', 'model': 'base_shop__order_items', 'key': 'order_item_id'},
        {'name': 'events/tracks', 'model': 'base_events__tracks', 'key': 'message_id'},
        {'name': 'events/identifies', 'model': 'base_events__identifies', 'key': 'message_id'},
        {'name': 'email/events', 'model': 'base_email__events', 'key': 'email_event_id'},
        {'name': 'support/tickets', 'model': 'base_support__tickets', 'key': 'ticket_id'},
        {'name': 'consent/events', 'model': 'base_consent__events', 'key': 'consent_event_id'},
        {'name': 'privacy/deletion_requests', 'model': 'base_privacy__deletion_requests', 'key': 'deletion_request_id'},
    ]) }}
{%- endmacro %}
