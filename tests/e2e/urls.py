from django.urls import path

from tests.e2e import views

urlpatterns = [
    path("vendor/<str:name>", views.vendor, name="e2e-vendor"),
    path("<str:flavour>/", views.host, name="e2e-host"),
]
