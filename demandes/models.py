"""A commune's requests (demandes): categories, the families' requests, their history and
attachments. Tenant tables: they live in each commune's schema."""
