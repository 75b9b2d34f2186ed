"""The Django workload's models: a Patient with PII (name, ssn, birthdate,
balance, mrn, registered) and plaintext columns, and its Visit and Address rows. An installed
app, so that Django knows the reverse relations (cascading deletes, lookups
through visits)."""

from django.db import models


class Patient(models.Model):
    name = models.CharField(max_length=100)
    ssn = models.CharField(max_length=11, db_index=True)
    birthdate = models.DateField(null=True)
    balance = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    city = models.CharField(max_length=40)
    active = models.BooleanField(default=True)
    mrn = models.BigIntegerField(null=True)
    registered = models.DateTimeField(null=True)

    class Meta:
        app_label = "clinic"
        db_table = "patient"


class Visit(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    day = models.DateField()
    kind = models.CharField(max_length=20)
    notes = models.TextField()

    class Meta:
        app_label = "clinic"
        db_table = "visit"


class Address(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="addresses")
    street = models.CharField(max_length=100)
    zip = models.CharField(max_length=10)

    class Meta:
        app_label = "clinic"
        db_table = "address"
