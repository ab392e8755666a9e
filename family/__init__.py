"""The family layer: what a family sees and does across all its communes and all the commune
apps, and the cross-app use cases (see README, "Where code goes").

* ``family.router``: the family scope and the family router — every unified view (week, carts,
  invoices, requests, categories, news) in one SQL round trip over the family's communes;
* ``family.dashboard``: what the family portal's dashboard shows;
* ``family.address`` and ``family.activation``: the address change that files a request in every
  commune, and an activation that merges a commune's dossier into the family;
* ``family.data_rights`` and ``family.export_archive``: the data export and the account deletion;
* ``family.ical``: the family's private calendar feed;
* ``family.imports``: families imported from a commune's previous software (CSV).

It sits above the commune apps (it calls their services and assembles their SQL parts) and
below the interfaces (portal, console, operators), which call it.
"""
