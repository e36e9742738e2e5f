{#
    Consent events and deletion requests name a person by (identifier_type, identifier_value).
    These macros map the landing vocabulary onto the identity graph's
    (email, phone, shop_customer_id, crm_contact_id) and normalize the value the same way the
    rest of staging does. The model must select phone_parse_columns(value, none) beforehand.
#}

{% macro identity_identifier_type(landing_type_expression) -%}
    case lower({{ clean_text(landing_type_expression) }})
        when 'email' then 'email'
        when 'phone' then 'phone'
        when 'user_id' then 'shop_customer_id'
        when 'contact_id' then 'crm_contact_id'
    end
{%- endmacro %}


{% macro normalized_identifier_value(identity_type_column, raw_value_expression) -%}
    case {{ identity_type_column }}
        when 'email' then {{ normalize_email(raw_value_expression) }}
        when 'phone' then {{ e164_from_parsed() }}
        else {{ clean_text(raw_value_expression) }}
    end
{%- endmacro %}
