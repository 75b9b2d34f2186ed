package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/backfill"
)

const rt29PartPolicy = `version: 1
tables:
  public.%[1]s:
    columns:
      det: {mode: deterministic, key: cc-det, type: text}
`

// TestRedTeam29CellCheckPartition: phiguard encrypt adds the cells-only
// CHECK to a partitioned protected table, and its partition inherits it.
// A trigger on the partition (a path phiguard did not analyse) writes
// plaintext; the CHECK refuses it, and PostgreSQL names the partition in
// its error, which phiguard did not recognise as its CHECK's: the client
// got PostgreSQL's DETAIL "Failing row contains (2, SecretPlain2)."
// Now phiguard words it as for the table (no value shown), both
// protocols, and nothing is stored.
func TestRedTeam29CellCheckPartition(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	p := uniqueName("rt29part")
	for _, q := range []string{
		"CREATE TABLE " + p + " (id int, det text) PARTITION BY RANGE (id)",
		"CREATE TABLE " + p + "_lo PARTITION OF " + p + " FOR VALUES FROM (0) TO (1000)",
		"GRANT ALL ON " + p + ", " + p + "_lo TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(rt29PartPolicy, p))
	app := startProxy(t, proxyOptions{protect: prot}).app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+p+" (id, det) VALUES (1, 'Seal1')"); err != nil {
		t.Fatal(err)
	}
	notes, err := encryptTable(t, ctx, prot, prot.Policy, backfill.Encrypt, "public."+p)
	if err != nil {
		t.Fatalf("encrypt: %v\n%s", err, notes)
	}
	var inherited bool
	if err := su.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND conname = 'phiguard_det_cells')", p+"_lo").Scan(&inherited); err != nil || !inherited {
		t.Fatalf("the partition has no cells-only CHECK (%v): notes\n%s", err, notes)
	}
	for _, q := range []string{
		"CREATE FUNCTION " + p + "_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.det := 'SecretPlain' || NEW.id; RETURN NEW; END $$",
		"CREATE TRIGGER " + p + "_t BEFORE INSERT ON " + p + "_lo FOR EACH ROW EXECUTE FUNCTION " + p + "_f()",
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range bothModes {
		_, err := app.Exec(ctx, "INSERT INTO "+p+" (id, det) VALUES (2, 'Seal2')", mode)
		if err == nil {
			t.Errorf("%v: the plaintext the trigger wrote was stored", mode)
			continue
		}
		pe := wantPgError(t, err, "23514")
		for _, f := range []string{pe.Message, pe.Detail, pe.Hint, pe.Where, pe.InternalQuery} {
			if strings.Contains(f, "SecretPlain") {
				t.Errorf("%v: the refusal shows the value: %q", mode, f)
			}
		}
		if !strings.Contains(pe.Message, "refused for encrypted column public."+p+".det") || pe.Detail == "" {
			t.Errorf("%v: refusal %q (detail %q), want phiguard's wording naming public.%s.det", mode, pe.Message, pe.Detail, p)
		}
	}
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM "+p).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after the refused writes: %d (%v), want 1", n, err)
	}
}
