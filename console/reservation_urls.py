"""Console pages for reservations (catalogue, enrolments, attendance, cancellations)."""

urlpatterns: list = []
