from django.apps import AppConfig


class BenchConfig(AppConfig):
    """City-scale data generators and benchmarks (management commands only, no models)."""

    name = "bench"
