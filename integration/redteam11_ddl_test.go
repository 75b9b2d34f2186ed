package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam11StatisticsAndPublicationOverCells: red team 10 refused
// DDL that has the database evaluate an expression over a protected
// column's cells (CHECK, generated columns, index expressions); extended
// statistics on an expression and a publication's row filter are two
// more: CREATE STATISTICS s ON (name = 'RT11Jon') FROM t ran through
// phiguard and stored the name in clear in the catalog, as did CREATE
// PUBLICATION p FOR TABLE t WHERE (name = 'RT11Jon'). Refused (0A000).
func TestRedTeam11StatisticsAndPublicationOverCells(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt11st",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11st-k, type: text}"})
	su := superuser(t)
	if _, err := su.Exec(ctx, "ALTER TABLE "+tw.enc+" OWNER TO "+appUser+"; GRANT CREATE ON DATABASE "+appDB+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = su.Exec(context.Background(), "REVOKE CREATE ON DATABASE "+appDB+" FROM "+appUser) })
	for _, q := range []string{
		"CREATE STATISTICS %[1]s_s ON (name = 'RT11Jon'), (id) FROM %[1]s",
		"CREATE PUBLICATION %[1]s_p FOR TABLE %[1]s WHERE (name = 'RT11Jon')",
	} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), mode)
			wantCode(t, err, "0A000", "public."+tw.enc+".name")
		}
	}
	n := queryInt(t, su, `SELECT (SELECT count(*) FROM pg_catalog.pg_statistic_ext WHERE pg_catalog.pg_get_statisticsobjdef(oid) LIKE '%RT11%')
		+ (SELECT count(*) FROM pg_catalog.pg_publication_rel WHERE pg_catalog.pg_get_expr(prqual, prrelid) LIKE '%RT11%')`)
	if n != 0 {
		t.Errorf("%d catalog entries hold the name in clear", n)
	}
	// On the column itself, statistics run.
	if _, err := tw.via.Exec(ctx, "CREATE STATISTICS "+tw.enc+"_s2 ON name, id FROM "+tw.enc, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Error(err)
	}
}
