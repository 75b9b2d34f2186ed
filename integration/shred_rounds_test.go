package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
)

// shreddedTwin is a per-subject table with an order term on name, its
// plaintext twin, and 20 patients v-00..v-19 beside 60 others (p-00..
// p-59, named N00..N59). The v patients are named by vname; shred
// destroys their keys (the first step of phiguard shred) and writes
// their twin rows' names as what they now read as (NULL, or the marker).
type shreddedTwin struct {
	twin
	prot   *guard.Protection
	marker string
}

func newShreddedTwin(t *testing.T, marker string, vname func(int) string) *shreddedTwin {
	t.Helper()
	return newShreddedTwinWith(t, shredTwinOptions{marker: marker, search: "order"}, vname)
}

// shredTwinOptions: the marker, the name column's search terms, and a
// byteRelay phiguard reaches PostgreSQL through (nil: directly).
type shredTwinOptions struct {
	marker, search string
	relay          *byteRelay
}

func newShreddedTwinWith(t *testing.T, o shredTwinOptions, vname func(int) string) *shreddedTwin {
	t.Helper()
	requireEnUS(t)
	marker := o.marker
	ctx := testContext(t)
	su := superuser(t)
	tw := &shreddedTwin{twin: twin{plain: uniqueName("shr_plain"), enc: uniqueName("shr_enc")}, marker: marker}
	for _, table := range []string{tw.plain, tw.enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id text PRIMARY KEY, name text COLLATE "en_US"); GRANT ALL ON %s TO %s`, table, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	tw.prot = protection(t, fmt.Sprintf(`version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      name: {mode: randomized, key: shr-pii, type: text, state: encrypted, search: [%s], search_key_version: 1, search_state: ready}
`, tw.enc, o.search))
	tw.prot.ShreddedMarker = marker
	installSearch(t, tw.prot.Policy)
	po := proxyOptions{protect: tw.prot, quiet: true}
	if o.relay != nil {
		po.configure = func(c *config.Config) {
			c.Backend.Port = o.relay.port
			c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
		}
	}
	p := startProxy(t, po)
	tw.via, tw.dir = p.app(t), direct(t)
	for i := range 60 {
		rows := [][2]string{{fmt.Sprintf("p-%02d", i), fmt.Sprintf("N%02d", i)}}
		if i < 20 {
			rows = append(rows, [2]string{fmt.Sprintf("v-%02d", i), vname(i)})
		}
		for _, c := range rows {
			for _, table := range []string{tw.plain, tw.enc} {
				conn := map[bool]*pgx.Conn{true: tw.via, false: tw.dir}[table == tw.enc]
				if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2)", table), c[0], c[1]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return tw
}

// shredKeys is phiguard shred's first step for the v patients: their
// keys destroyed, their cells' terms still the old names'.
func (tw *shreddedTwin) shredKeys(t *testing.T) {
	t.Helper()
	ctx := testContext(t)
	for i := range 20 {
		if _, out, err := tw.prot.Subjects.Shred(ctx, fmt.Sprintf("v-%02d", i)); err != nil || out != keys.ShredDestroyed {
			t.Fatalf("shred: %v %v", out, err)
		}
	}
	shown := any(nil)
	if tw.marker != "" {
		shown = tw.marker
	}
	if _, err := tw.dir.Exec(ctx, fmt.Sprintf("UPDATE %s SET name = $1 WHERE id LIKE 'v-%%'", tw.plain), shown); err != nil {
		t.Fatal(err)
	}
}

// shredTerms is phiguard shred's second step (--terms-only).
func (tw *shreddedTwin) shredTerms(t *testing.T) int64 {
	t.Helper()
	ctx := testContext(t)
	var cells int64
	for i := range 20 {
		res, err := backfill.ShredTerms(ctx, superuser(t), backfill.Options{Policy: tw.prot.Policy, Keyring: tw.prot.Keyring,
			Subjects: tw.prot.Subjects, ShreddedMarker: tw.marker}, fmt.Sprintf("v-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		cells += res.Cells
	}
	return cells
}

// shredRoundQueries order by the per-subject name in every direction,
// with windows that hold shredded rows, leave them out, and reach the
// NULLs; id breaks the ties among NULLs (and the marker's).
var shredRoundQueries = []string{
	"SELECT id, name FROM %s ORDER BY name DESC, id LIMIT 5",
	"SELECT id, name FROM %s ORDER BY name DESC, id LIMIT 3 OFFSET 18",
	"SELECT id, name FROM %s ORDER BY name NULLS FIRST, id LIMIT 5",
	"SELECT id, name FROM %s ORDER BY name, id LIMIT 5",
	"SELECT id, name FROM %s ORDER BY name, id LIMIT 2 OFFSET 1",
	"SELECT id, name FROM %s ORDER BY name, id LIMIT 5 OFFSET 58",
	"SELECT id, name FROM %s ORDER BY name DESC NULLS LAST, id LIMIT 5",
	"SELECT id, name FROM %s ORDER BY name DESC NULLS LAST, id LIMIT 4 OFFSET 57",
	"SELECT id, name FROM %s WHERE id <> 'p-00' ORDER BY name ASC NULLS LAST, id LIMIT 1",
	"SELECT min(name) FROM %s",
	"SELECT max(name) FROM %s",
}

// same runs every shredRoundQueries statement on both sides in both
// protocols: the plaintext twin's answer, or a refusal (0A000) naming
// the column. It returns how many answered (the callers want all).
func (tw *shreddedTwin) same(t *testing.T, label string) int {
	t.Helper()
	col := "public." + tw.enc + ".name"
	answered := 0
	for _, q := range shredRoundQueries {
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
			got, gerr := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case werr != nil:
				t.Fatal(werr)
			case gerr == nil && got == want:
				answered++
			case errors.As(gerr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, col):
			default:
				t.Errorf("%s: %s (%v): through phiguard %v\n%s\nthe table with the shredded names as they read\n%s", label, q, mode, gerr, got, want)
			}
		}
	}
	return answered
}

// TestRedTeam15RoundsShreddedOutsideWindow: a shredded subject's cell
// whose order terms were not rewritten (the shred's window, a proxy that
// held the key cached, a dump restored from before the shred) reads
// NULL, which ORDER BY name DESC (NULLS FIRST) puts first; the database
// ordered it by its old name's term, last, outside the window of rounds,
// so phiguard answered the five highest names where the table with the
// shredded names NULL answers the NULLs (skipped as a HOLE until
// shredcoll). A statement whose order-term key is sealed per subject and
// puts NULLs first now fetches every candidate in its first round; with
// NULLs last a shredded row in the window is sorted among the NULLs and
// not counted as kept, where it failed XX001. Here the shredded names
// (Z00..Z19) sort last by their old terms; every statement of
// shredRoundQueries answers as the plaintext twin, in both protocols,
// before and after the terms are rewritten.
func TestRedTeam15RoundsShreddedOutsideWindow(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwin(t, "", func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	if n, all := tw.same(t, "key destroyed, terms old"), 2*len(shredRoundQueries); n != all {
		t.Errorf("%d of %d answered", n, all)
	}
	if n := tw.shredTerms(t); n != 20 {
		t.Fatalf("%d cells rewritten, want 20", n)
	}
	if n, all := tw.same(t, "terms rewritten"), 2*len(shredRoundQueries); n != all {
		t.Errorf("%d of %d answered", n, all)
	}
}

// TestShredInterruptedBetweenSteps: phiguard shred destroys the key,
// then rewrites the terms; killed between the two (or before its second
// step commits), the database holds the subjects' cells with their old
// names' terms and no key to open them. Shredded names that sort first
// (A00..A19, inside the ascending window), last (Z, outside it, DESC's
// NULLs first) and in the middle (M), and with the shredded marker
// configured (which reads as a value that belongs in the middle of the
// order, wherever the old term put the row): in every such state every
// statement answers as the plaintext twin with the shredded values as
// they read, in both protocols; and again once --terms-only finished.
func TestShredInterruptedBetweenSteps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		label, marker string
		name          func(int) string
	}{
		{"first", "", func(i int) string { return fmt.Sprintf("A%02d", i) }},
		{"middle", "", func(i int) string { return fmt.Sprintf("N%02da", i*3) }},
		{"last, marker", "[shredded]", func(i int) string { return fmt.Sprintf("Z%02d", i) }},
		{"first, marker", "[shredded]", func(i int) string { return fmt.Sprintf("A%02d", i) }},
	} {
		t.Run(c.label, func(t *testing.T) {
			t.Parallel()
			tw := newShreddedTwin(t, c.marker, c.name)
			if n, all := tw.same(t, "before the shred"), 2*len(shredRoundQueries); n != all {
				t.Fatalf("%d of %d answered", n, all)
			}
			tw.shredKeys(t) // interrupted here: the key is gone, the terms are old
			if n, all := tw.same(t, "interrupted"), 2*len(shredRoundQueries); n != all {
				t.Errorf("interrupted: %d of %d answered", n, all)
			}
			if n := tw.shredTerms(t); n != 20 {
				t.Fatalf("%d cells rewritten, want 20", n)
			}
			if n := tw.shredTerms(t); n != 0 {
				t.Errorf("run again: %d cells rewritten, want 0", n)
			}
			if n, all := tw.same(t, "finished"), 2*len(shredRoundQueries); n != all {
				t.Errorf("finished: %d of %d answered", n, all)
			}
		})
	}
}
