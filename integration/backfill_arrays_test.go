package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/backfill"
)

// TestBackfillArrays: a table whose array columns hold plaintext is
// encrypted in place by phiguard encrypt (col::text is array_out's text
// under DateStyle ISO and TimeZone UTC, the canonical text) and then
// reads through phiguard exactly as its plaintext copy does directly,
// in text and binary.
func TestBackfillArrays(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("bfa_plain"), uniqueName("bfa_enc")
	var defs, pol []string
	for _, c := range arrayColumns {
		defs = append(defs, c.name+" "+c.typ)
		if c.policy != "" {
			pol = append(pol, fmt.Sprintf("      %s: %s", c.name, c.policy))
		}
	}
	su := superuser(t)
	for _, table := range []string{plain, enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); GRANT ALL ON %s TO %s", table, strings.Join(defs, ", "), table, appUser)); err != nil {
			t.Fatal(err)
		}
		for i, row := range arrayRows {
			if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%d, %s)", table, arrayCols, i+1, row)); err != nil {
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
		tw.same(t, "SELECT "+arrayCols+" FROM %s ORDER BY id", mode, "after the backfill")
	}
	sameBinary(t, tw, "SELECT "+arrayCols+" FROM %s ORDER BY id")
	var left int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM "+enc+" WHERE ta NOT LIKE '~phg~%' OR ia NOT LIKE '~phg~%' OR tsa NOT LIKE '~phg~%'").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left in plaintext (%v)", left, err)
	}
}
