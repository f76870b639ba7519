from django.urls import include, path

urlpatterns = [
    path("e2e/", include("tests.e2e.urls")),
    path("", include("demo.urls")),
]
