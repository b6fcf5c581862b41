from django.urls import path

from ecosystem.api.routing import by_method
from partners.webhooks.api import views

urlpatterns = [
    path(
        "webhook-endpoints",
        by_method(get=views.WebhookEndpointListApi, post=views.WebhookEndpointCreateApi),
        name="webhook-endpoints",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        by_method(
            get=views.WebhookEndpointDetailApi,
            patch=views.WebhookEndpointUpdateApi,
            delete=views.WebhookEndpointDeleteApi,
        ),
        name="webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/test",
        views.WebhookEndpointTestApi.as_view(),
        name="webhook-endpoint-test",
    ),
    path("webhook-deliveries", views.DeliveryListApi.as_view(), name="webhook-deliveries"),
    path(
        "webhook-deliveries/<str:delivery_id>/retry",
        views.DeliveryRetryApi.as_view(),
        name="webhook-delivery-retry",
    ),
    path("events", views.EventListApi.as_view(), name="events"),
]
