"""The canonical model: plain typed objects that know no framework."""

SCHEMA_VERSION = "2.1"
