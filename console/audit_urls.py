from django.urls import path

from . import audit_views as views

# Included by console/urls.py (namespace "console").
urlpatterns = [
    path("", views.audit_log, name="audit_log"),
]
