package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/backfill"
)

// TestBackfillMoreTypes (issue 12): a table whose columns of the added
// types hold plaintext is encrypted in place by phiguard encrypt (each
// column converted to text with col::text and sealed as its canonical
// text), and then reads through phiguard exactly as its plaintext copy
// does directly, in text and binary.
func TestBackfillMoreTypes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("bft_plain"), uniqueName("bft_enc")
	var defs, pol []string
	for _, c := range moreTypeColumns {
		defs = append(defs, c.name+" "+c.typ)
		if c.policy != "" {
			pol = append(pol, fmt.Sprintf("      %s: %s", c.name, c.policy))
		}
	}
	su := superuser(t)
	cols := "id, u, c, v, r, d, t, tz, i, b, j, jb"
	for _, table := range []string{plain, enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); GRANT ALL ON %s TO %s", table, strings.Join(defs, ", "), table, appUser)); err != nil {
			t.Fatal(err)
		}
		for i, row := range moreTypeRows {
			if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%d, %s)", table, cols, i+1, row)); err != nil {
				t.Fatal(err)
			}
		}
	}
	prot := protection(t, fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n%s\n", enc, strings.Join(pol, "\n")))
	conn := connect(t, directURL(pg.Superuser, pg.Password, appDB))
	if _, err := backfill.Run(ctx, conn, backfill.Options{Op: backfill.Encrypt, Policy: prot.Policy, Keyring: prot.Keyring, Batch: 2,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, appDB))
		}}); err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	p := startProxy(t, proxyOptions{protect: prot})
	tw := &twin{plain: plain, enc: enc, via: p.app(t), dir: direct(t)}
	for _, mode := range bothModes {
		tw.same(t, "SELECT "+cols+" FROM %s ORDER BY id", mode, "after the backfill")
	}
	sameBinary(t, tw, "SELECT "+cols+" FROM %s ORDER BY id")
	var left int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM "+enc+" WHERE u NOT LIKE '~phg~%' OR jb NOT LIKE '~phg~%' OR b NOT LIKE '~phg~%'").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left in plaintext (%v)", left, err)
	}
}
