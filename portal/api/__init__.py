"""The REST API of the family portal (session authentication, errors as
``{"code", "message", "extra"}``): the family's week and carts, requests, news and profile.
Public URLs in ``portal.api.urls`` (under /api/), a commune's in ``portal.api.commune_urls``
(under /c/<slug>/api/)."""
