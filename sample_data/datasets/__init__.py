"""Converters that turn public data sets into landing files the pipeline can build from."""
