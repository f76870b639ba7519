from django.urls import include, path
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from osis_async.views import TaskListView

FLOOR_BODY = {"count": 0, "pending_count": 0, "next": None, "previous": None, "results": []}


class FloorView(APIView):
    """The same authentication, permission and renderer as the list, with a constant body."""

    permission_classes = TaskListView.permission_classes
    renderer_classes = [JSONRenderer]
    get_authenticators = TaskListView.get_authenticators

    def get(self, request: Request) -> Response:
        return Response(FLOOR_BODY)


urlpatterns = [
    path("floor/", FloorView.as_view()),
    path("osis_async/", include("osis_async.urls")),
]
