"""The Django app of the ORM workload (django_workload.py)."""
