"""The project's routes plus the benchmark-only views (mounted only when BENCHMARK_VIEWS)."""

from django.urls import include, path

from ecosystem.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("bench/", include("ecosystem.bench_views"))]
