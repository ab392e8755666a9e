"""A commune's news (actualités) and who has read them. Tenant tables."""
