package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestTimeZoneAsPostgreSQL (issue 12, session state): an encrypted
// timestamptz column is written and read under the session's TimeZone,
// as PostgreSQL does for a plaintext one: a literal or parameter without
// an offset is read in the zone, and text results are printed in it.
// Zone names, a DST boundary, and a fixed offset (SET TIME ZONE INTERVAL),
// in both protocols.
func TestTimeZoneAsPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("tz_plain"), uniqueName("tz_enc")
	su := superuser(t)
	for table, typ := range map[string]string{plain: "timestamptz", enc: "text"} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, seen %s); GRANT ALL ON %s TO %s", table, typ, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      seen: {mode: randomized, key: tz-pii, type: timestamptz}
`, enc))})
	via, dir := p.app(t), direct(t)
	id := 0
	for _, zone := range []string{"'America/New_York'", "'Asia/Kolkata'", "INTERVAL '-03:30' HOUR TO MINUTE", "'UTC'"} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			for _, conn := range []*pgx.Conn{via, dir} {
				if _, err := conn.Exec(ctx, "SET TIME ZONE "+zone); err != nil {
					t.Fatal(err)
				}
			}
			id++
			for table, conn := range map[string]*pgx.Conn{plain: dir, enc: via} {
				if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, seen) VALUES (%d, '2024-03-10 02:30'), (%d, $1)", table, id, id+1000), mode, "2024-11-03 01:30"); err != nil {
					t.Fatalf("%s %v %s: %v", zone, mode, table, err)
				}
			}
			// Every row so far, printed in this zone.
			read := "SELECT id, seen FROM %s ORDER BY id"
			want := tableText(t, dir, fmt.Sprintf(read, plain), mode)
			if got := tableText(t, via, fmt.Sprintf(read, enc), mode); got != want {
				t.Fatalf("TimeZone %s, %v: through phiguard\n%s\ndirectly\n%s", zone, mode, got, want)
			}
		}
	}
}

// TestDateStyleAsPostgreSQL (issue 12, session state): encrypted date,
// timestamp and timestamptz columns are read in the session's DateStyle
// order ('02/03/2024' under DMY is 2 March) and printed in its style, as
// PostgreSQL does for plaintext ones, in both protocols.
func TestDateStyleAsPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("ds_plain"), uniqueName("ds_enc")
	su := superuser(t)
	for table, typ := range map[string][3]string{plain: {"date", "timestamp", "timestamptz"}, enc: {"text", "text", "text"}} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, born %s, seen %s, at %s); GRANT ALL ON %s TO %s",
			table, typ[0], typ[1], typ[2], table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      born: {mode: randomized, key: ds-pii, type: date}
      seen: {mode: randomized, key: ds-pii, type: timestamp}
      at:   {mode: randomized, key: ds-pii, type: timestamptz}
`, enc))})
	via, dir := p.app(t), direct(t)
	id := 0
	for _, style := range []string{"SQL, DMY", "German", "Postgres, MDY", "Postgres, DMY", "ISO, DMY", "SQL, MDY"} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			for _, conn := range []*pgx.Conn{via, dir} {
				if _, err := conn.Exec(ctx, "SET DateStyle = '"+style+"'; SET TimeZone = 'Europe/Berlin'"); err != nil {
					t.Fatal(err)
				}
			}
			id++
			for table, conn := range map[string]*pgx.Conn{plain: dir, enc: via} {
				if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d, '02/03/2024', '02/03/2024 10:30:15.5', $1)", table, id), mode, "11/12/2024 08:00"); err != nil {
					t.Fatalf("%s %v %s: %v\n%s", style, mode, table, err, tableText(t, dir, "SELECT * FROM "+table, pgx.QueryExecModeSimpleProtocol))
				}
			}
			read := "SELECT id, born, seen, at FROM %s ORDER BY id"
			want := tableText(t, dir, fmt.Sprintf(read, plain), mode)
			if got := tableText(t, via, fmt.Sprintf(read, enc), mode); got != want {
				t.Fatalf("DateStyle %s, %v: through phiguard\n%s\ndirectly\n%s", style, mode, got, want)
			}
		}
	}
}
