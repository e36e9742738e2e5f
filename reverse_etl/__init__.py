"""Reverse ETL: send warehouse segments to destinations, committing progress per batch."""
