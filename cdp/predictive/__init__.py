"""Predictive traits computed from per-customer aggregates: churn risk, segments, lifetime value."""
