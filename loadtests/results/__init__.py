"""The results document: its model and schema, the HDR histogram, the run archive, atomic writes."""
