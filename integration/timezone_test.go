package integration

import (
	"fmt"
	"testing"
)

// TestTimeZoneAsPostgreSQL (issue 12, session state): an encrypted
// timestamptz column is written and read under the session's TimeZone,
// as PostgreSQL does for a plaintext one: a literal or parameter without
// an offset is read in the zone, and text results are printed in it.
// Zone names, a DST boundary, and a fixed offset (SET TIME ZONE INTERVAL),
// in both protocols.
func TestTimeZoneAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "tz",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"seen", "timestamptz", "{mode: randomized, key: tz-pii, type: timestamptz}"})
	id := 0
	for _, zone := range []string{"'America/New_York'", "'Asia/Kolkata'", "INTERVAL '-03:30' HOUR TO MINUTE", "'UTC'"} {
		for _, mode := range bothModes {
			tw.both(t, "SET TIME ZONE "+zone)
			id++
			tw.exec(t, fmt.Sprintf("INSERT INTO %%s (id, seen) VALUES (%d, '2024-03-10 02:30'), (%d, $1)", id, id+1000), mode, "2024-11-03 01:30")
			// Every row so far, printed in this zone.
			tw.same(t, "SELECT id, seen FROM %s ORDER BY id", mode, "TimeZone "+zone)
		}
	}
}

// TestDateStyleAsPostgreSQL (issue 12, session state): encrypted date,
// timestamp and timestamptz columns are read in the session's DateStyle
// order ('02/03/2024' under DMY is 2 March) and printed in its style, as
// PostgreSQL does for plaintext ones, in both protocols.
func TestDateStyleAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "ds",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"born", "date", "{mode: randomized, key: ds-pii, type: date}"},
		twinColumn{"seen", "timestamp", "{mode: randomized, key: ds-pii, type: timestamp}"},
		twinColumn{"at", "timestamptz", "{mode: randomized, key: ds-pii, type: timestamptz}"})
	id := 0
	for _, style := range []string{"SQL, DMY", "German", "Postgres, MDY", "Postgres, DMY", "ISO, DMY", "SQL, MDY"} {
		for _, mode := range bothModes {
			tw.both(t, "SET DateStyle = '"+style+"'; SET TimeZone = 'Europe/Berlin'")
			id++
			tw.exec(t, fmt.Sprintf("INSERT INTO %%s VALUES (%d, '02/03/2024', '02/03/2024 10:30:15.5', $1)", id), mode, "11/12/2024 08:00")
			tw.same(t, "SELECT id, born, seen, at FROM %s ORDER BY id", mode, "DateStyle "+style)
		}
	}
}
