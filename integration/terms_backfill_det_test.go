package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/backfill"
)

// TestBackfilledDeterministicTermsFoundByEquality: phiguard encrypt
// gives a deterministic column with `search` format-2 cells (it refused
// such a column while the proxy's equality looked for format-1 texts
// only); through phiguard, `=`, `<>`, IN and NOT IN as literals in both
// protocols and `=` and IN as text and binary parameters find them, with
// the plaintext twin's answers, including a value held by several rows.
func TestBackfilledDeterministicTermsFoundByEquality(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("bfdt_plain"), uniqueName("bfdt_enc")
	su := superuser(t)
	for _, table := range []string{plain, enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, mrn text); GRANT ALL ON %s TO %s", table, table, appUser)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 12; i++ {
			// MRN-Kelvo1 .. MRN-Kelvo4, three rows each; row 12 NULL.
			v := fmt.Sprintf("'MRN-Kelvo%d'", 1+i%4)
			if i == 12 {
				v = "NULL"
			}
			if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d, %s)", table, i, v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	prot := protection(t, fmt.Sprintf(`version: 1
tables:
  public.%s:
    columns:
      mrn: {mode: deterministic, key: bfdt-mrn, type: text, search: [order, match], search_key_version: 1}
`, enc))
	conn := connect(t, directURL(pg.Superuser, pg.Password, appDB))
	if _, err := backfill.Run(ctx, conn, backfill.Options{Op: backfill.Encrypt, Policy: prot.Policy, Keyring: prot.Keyring, Batch: 5,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, appDB))
		}}); err != nil {
		t.Fatalf("encrypt of a deterministic column with search: %v", err)
	}
	if got := queryInt(t, su, fmt.Sprintf("SELECT count(*) FROM %s WHERE left(mrn, 5) = '~phs~'", enc)); got != 11 {
		t.Fatalf("%d format-2 cells after encrypt, want 11", got)
	}
	p := startProxy(t, proxyOptions{protect: prot})
	tw := &twin{plain: plain, enc: enc, via: p.app(t), dir: direct(t)}
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %s WHERE mrn = 'MRN-Kelvo2' ORDER BY id",
			"SELECT id FROM %s WHERE mrn <> 'MRN-Kelvo2' ORDER BY id",
			"SELECT id FROM %s WHERE mrn IN ('MRN-Kelvo1', 'MRN-Kelvo3') ORDER BY id",
			"SELECT id FROM %s WHERE mrn NOT IN ('MRN-Kelvo1', 'MRN-Kelvo3') ORDER BY id",
			"SELECT mrn, count(*) FROM %s GROUP BY mrn ORDER BY 2, 1",
		} {
			tw.same(t, q, mode, "equality on backfilled deterministic cells with terms")
		}
	}
	for _, format := range []int16{0, 1} {
		for _, q := range []string{
			"SELECT id FROM %s WHERE mrn = $1 ORDER BY id",
			"SELECT id FROM %s WHERE mrn IN ($1, 'none') ORDER BY id",
		} {
			var got [2]string
			for side, c := range []*pgx.Conn{tw.dir, tw.via} {
				res := c.PgConn().ExecParams(ctx, fmt.Sprintf(q, []string{plain, enc}[side]), [][]byte{[]byte("MRN-Kelvo4")}, []uint32{25}, []int16{format}, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s (format %d, side %d): %v", q, format, side, res.Err)
				}
				for _, r := range res.Rows {
					got[side] += string(r[0]) + ","
				}
			}
			if got[0] != got[1] || got[0] == "" {
				t.Errorf("%s (format %d): through phiguard %q, directly %q", q, format, got[1], got[0])
			}
		}
	}
	if got := queryInt(t, tw.via, fmt.Sprintf("SELECT count(*) FROM %s WHERE mrn = $1", enc), "MRN-Kelvo2"); got != 3 {
		t.Errorf("mrn = $1 counts %d rows, want 3", got)
	}
}
