package pgvalue

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDateStyleAgainstPostgres: under every DateStyle (four styles, three
// orders) and several time zones, a date, timestamp and timestamptz read
// with Canonical in the session's order and written with Present in its
// style is what PostgreSQL 15 prints for the same input.
func TestDateStyleAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	inputs := map[string][]string{
		"date":        {"2024-02-03", "02/03/2024", "3.2.2024", "12/31/99", "0044-03-15 BC", "infinity"},
		"timestamp":   {"2024-02-03 10:00:00.25", "02/03/2024 23:59:59", "1999-12-31 00:00", "0001-01-01 00:00 BC"},
		"timestamptz": {"2024-02-03 10:00:00.25", "2024-07-04 12:00+02", "02/03/2024 01:30", "2024-11-03 01:30"},
	}
	zones := []string{"UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}
	checked := 0
	for _, style := range []string{"ISO", "SQL", "Postgres", "German"} {
		for _, order := range []string{"MDY", "DMY", "YMD"} {
			for _, zone := range zones {
				setting := style + ", " + order
				if err := exec(ctx, conn, fmt.Sprintf("SET DateStyle = '%s'; SET TimeZone = '%s'", setting, zone)); err != nil {
					t.Fatal(err)
				}
				ds, ok := ParseDateStyle(conn.ParameterStatus("DateStyle"))
				if !ok {
					t.Fatalf("ParseDateStyle(%q)", conn.ParameterStatus("DateStyle"))
				}
				loc, err := time.LoadLocation(zone)
				if err != nil {
					t.Fatal(err)
				}
				c := Converter{TimeZone: loc, DateStyle: ds}
				for typ, ins := range inputs {
					lt := mustType(t, typ)
					for _, in := range ins {
						pg, pgErr := query(ctx, conn, "SELECT $1::"+typ, []byte(in), 25, 0, 0)
						canon, err := c.Canonical(lt, 0, []byte(in))
						if err != nil {
							if pgErr == nil && !isUnsupported(err) {
								t.Errorf("%s, %s: %s %q: PostgreSQL reads it (%s), Canonical fails: %v", setting, zone, typ, in, pg, err)
							}
							continue
						}
						if pgErr != nil {
							t.Errorf("%s, %s: %s %q: PostgreSQL fails (%v), Canonical reads %q", setting, zone, typ, in, pgErr, canon)
							continue
						}
						got, err := c.Present(lt, 0, canon)
						if err != nil || string(got) != string(pg) {
							t.Errorf("%s, %s: %s %q: Present %q (%v), PostgreSQL %q", setting, zone, typ, in, got, err, pg)
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d values compared", checked)
}

func isUnsupported(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Unsupported
}
