from django.urls import path

from partners.webhooks.api import views

urlpatterns = [
    path("webhook-endpoints", views.WebhookEndpointsApi.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        views.WebhookEndpointApi.as_view(),
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
