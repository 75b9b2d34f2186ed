#!/bin/sh
# Loads the demo EHR schema and the Synthea sample into the compose
# PostgreSQL. The protected birthdate column becomes text first: phiguard
# stores cells as text and presents the column as a date.
set -eu
until pg_isready -q; do sleep 1; done
psql -v ON_ERROR_STOP=1 -q -f /ehrdemo/schema.sql
psql -v ON_ERROR_STOP=1 -q -c "ALTER TABLE patients ALTER COLUMN birthdate TYPE text"
for t in patients organizations providers payers encounters allergies careplans conditions immunizations medications; do
	cols=$(head -1 "/ehrdemo/data/$t.csv" | tr 'A-Z' 'a-z')
	psql -v ON_ERROR_STOP=1 -q -c "\\copy $t ($cols) FROM '/ehrdemo/data/$t.csv' WITH (FORMAT csv, HEADER true)"
done
echo "demo EHR loaded"
