from django.urls import path

from . import views

# Included by console/urls.py (namespace "console").
urlpatterns = [
    path("", views.audit_log, name="audit_log"),
]
