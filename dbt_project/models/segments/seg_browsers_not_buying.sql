{{ segment(
    traits=ref('customer_traits'),
    customers=ref('customers'),
    events=ref('int_segments__customer_events'),
    changes=model_inputs(
        ref('int_identity__identifier_customers'),
        ref('int_identity__customer_changes'),
        ref('int_privacy__erased_customers'),
        ref('int_traits__order_metrics'),
        ref('int_traits__email_engagement'),
        ref('int_traits__web_activity'),
        ref('int_traits__top_category'),
        ref('int_traits__support')
    )
) }}
