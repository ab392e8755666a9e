"""Console pages for reservations (catalogue, enrolments, attendance, cancellations)."""

from django.urls import path

from . import reservation_views as views

urlpatterns = [
    # Catalogue (commune administrators)
    path("catalogue/services/", views.service_list, name="service_list"),
    path("catalogue/services/nouveau/", views.service_form, name="service_create"),
    path("catalogue/services/<int:service_id>/", views.service_form, name="service_edit"),
    path("catalogue/sites/", views.site_list, name="site_list"),
    path("catalogue/sites/nouveau/", views.site_form, name="site_create"),
    path("catalogue/sites/<int:site_id>/", views.site_form, name="site_edit"),
    path("catalogue/prestations/", views.prestation_list, name="prestation_list"),
    path("catalogue/prestations/nouvelle/", views.prestation_form, name="prestation_create"),
    path("catalogue/prestations/<int:prestation_id>/", views.prestation_form, name="prestation_edit"),
    path("catalogue/calendrier/", views.calendar, name="calendar"),
    path("catalogue/calendrier/fermetures/", views.closure_add, name="closure_add"),
    path(
        "catalogue/calendrier/fermetures/<int:closure_id>/suppression/",
        views.closure_delete,
        name="closure_delete",
    ),
    path("catalogue/calendrier/vacances/", views.holiday_add, name="holiday_add"),
    path(
        "catalogue/calendrier/vacances/<int:holiday_id>/suppression/",
        views.holiday_delete,
        name="holiday_delete",
    ),
    # A family's enrolments and quotient familial (staff)
    path(
        "familles/<int:membership_id>/inscriptions/",
        views.family_reservations,
        name="family_reservations",
    ),
    path(
        "familles/<int:membership_id>/inscriptions/nouvelle/",
        views.enrolment_create,
        name="enrolment_create",
    ),
    path("familles/<int:membership_id>/quotient/", views.quotient_set, name="quotient_set"),
    # Operations (staff)
    path("pointage/", views.attendance, name="attendance"),
    path("pointage/marquer/", views.attendance_mark, name="attendance_mark"),
    path("annulation-collective/", views.mass_cancellation, name="mass_cancellation"),
    path("demandes-annulation/", views.cancellation_request_list, name="cancellation_request_list"),
    path(
        "demandes-annulation/<int:request_id>/",
        views.cancellation_request_detail,
        name="cancellation_request_detail",
    ),
    path(
        "demandes-annulation/<int:request_id>/justificatif/",
        views.cancellation_request_attachment,
        name="cancellation_request_attachment",
    ),
]
