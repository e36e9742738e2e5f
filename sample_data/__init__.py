"""Sample data for the platform: a generator of messy landing files with their ground truth
(`sample_data.generator`) and converters of public data sets into landing files
(`sample_data.datasets`).

Nothing in the application imports this package except the `cdp generate` command (lazily,
inside the command) and the tests; it reads the landing contract from `cdp.landing`.
"""
