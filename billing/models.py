"""Invoices, numbering, credit notes, payments and provider accounts of a commune
(commune schema). Content arrives with the billing issue."""
