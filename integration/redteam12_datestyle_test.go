package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam12DateStyleInFunction: a function that sets DateStyle
// inside, called before a date literal in the same Query: PostgreSQL
// reads the literal after the function ran (under 'SQL, DMY', 02/03/2024
// is 2 March), phiguard under the DateStyle the backend reported last.
func TestRedTeam12DateStyleInFunction(t *testing.T) {
	t.Skip("HOLE: a date literal after a call, in the same Query, of a function that sets DateStyle inside is encrypted under the DateStyle the backend reported before (3 February where PostgreSQL reads 2 March); README")
	t.Parallel()
	f := newSortFixture(t, 5, nil)
	ctx := testContext(t)
	fn := uniqueName("rt12_dmy")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS text LANGUAGE sql AS $$ SELECT pg_catalog.set_config('DateStyle', 'SQL, DMY', false) $$; GRANT EXECUTE ON FUNCTION %s() TO %s`, fn, fn, appUser)); err != nil {
		t.Fatal(err)
	}
	var stored [2]string
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SELECT "+fn+"(); INSERT INTO "+f.people[side]+" (id, born) VALUES (1001, '02/03/2024')", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Logf("side %d: %v", side, err)
			continue
		}
		var born time.Time
		if err := conn.QueryRow(ctx, "SELECT born FROM "+f.people[side]+" WHERE id = 1001", pgx.QueryExecModeCacheStatement).Scan(&born); err != nil {
			t.Fatal(err)
		}
		stored[side] = born.Format("2006-01-02")
	}
	if stored[0] != "2024-03-02" {
		t.Fatalf("directly: stored %q", stored[0])
	}
	if stored[1] != "" && stored[1] != stored[0] {
		t.Errorf("stored %s through phiguard, %s directly", stored[1], stored[0])
	}
}
