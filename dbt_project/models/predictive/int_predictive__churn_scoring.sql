{#- The same churn features as of as_of, for every customer with a purchase: what gets scored. -#}
{{ churn_features(ref('int_traits__customer_orders'), ref('int_segments__customer_events'), as_of()) }}
