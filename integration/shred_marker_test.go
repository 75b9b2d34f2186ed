package integration

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/guard"
)

// shredMarkerFilter is a WHERE on the shredded twin's name, with its
// constants as literals (args nil) or parameters.
type shredMarkerFilter struct {
	where string
	args  []any
}

// shredMarkerHits are WHEREs the marker "[shredded]" satisfies (en_US
// sorts it as "shredded"), each served by a term: order (ranges,
// BETWEEN), equality, the prefix key and match tokens (LIKE, ILIKE).
var shredMarkerHits = []shredMarkerFilter{
	{"name >= 'S' AND name < 'T'", nil},
	{"name >= $1 AND name < $2", []any{"S", "T"}},
	{"name BETWEEN 'R' AND 'T'", nil},
	{"name > $1", []any{"R"}},
	{"name = '[shredded]'", nil},
	{"name = $1", []any{"[shredded]"}},
	{"name ILIKE '%SHRED%'", nil},
	{"name ILIKE $1", []any{"%shred%"}},
	{"name LIKE '[shr%'", nil},
	{"name LIKE $1", []any{"[shredded%"}},
	{"name >= 'M' AND name LIKE '%dde%'", nil},
	{"name >= $1 AND name LIKE $2", []any{"M", "%dde%"}},
}

// shredMarkerMisses are WHEREs the marker does not satisfy, at least one
// conjunct on name false for it: their term conjuncts are sent as ever.
var shredMarkerMisses = []shredMarkerFilter{
	{"name >= 'N1' AND name < 'N3'", nil},
	{"name >= $1 AND name < $2", []any{"N1", "N3"}},
	{"name >= 'A' AND name < 'Sh'", nil},
	{"name = 'N05'", nil},
	{"name = $1", []any{"N05"}},
	{"name ILIKE 'n0%'", nil},
	{"name LIKE $1", []any{"N1%"}},
	{"name >= $1 AND name LIKE $2", []any{"M", "N2%"}},
}

// shredMarkerForms are the statements each WHERE is tried in: a plain
// read, and reads in rounds through the order term.
var shredMarkerForms = []string{
	"SELECT id, name FROM %s WHERE %s ORDER BY id",
	"SELECT id, name FROM %s WHERE %s ORDER BY name, id LIMIT 5",
	"SELECT id, name FROM %s WHERE %s ORDER BY name DESC, id LIMIT 3 OFFSET 1",
	"SELECT count(*) FROM %s WHERE %s",
	"SELECT max(name) FROM %s WHERE %s",
}

// sameFiltered runs every form of every filter on both sides in both
// protocols: the plaintext twin's answer, or a refusal naming the column
// (none is expected: it returns how many answered). With a relay, each
// statement phiguard sent must carry a term conjunct, in a third mode
// that parses each time (pgx's cache statement sends its Parse once).
func (tw *shreddedTwin) sameFiltered(t *testing.T, label string, filters []shredMarkerFilter, relay *byteRelay) int {
	modes := bothModes
	if relay != nil {
		modes = append(slices.Clone(bothModes), pgx.QueryExecModeDescribeExec)
	}
	t.Helper()
	col := "public." + tw.enc + ".name"
	answered := 0
	for _, f := range filters {
		for _, form := range shredMarkerForms {
			for _, mode := range modes {
				want, werr := rowsRaw(t, tw.dir, fmt.Sprintf(form, tw.plain, f.where), mode, pgx.TextFormatCode, f.args...)
				if relay != nil {
					relay.take()
				}
				got, gerr := rowsRaw(t, tw.via, fmt.Sprintf(form, tw.enc, f.where), mode, pgx.TextFormatCode, f.args...)
				var pe *pgconn.PgError
				switch {
				case werr != nil:
					t.Fatal(werr)
				case gerr == nil && got == want:
					answered++
				case errors.As(gerr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, col):
				default:
					t.Errorf("%s: %s %v (%v): through phiguard %v\n%s\nthe table with the shredded names as they read\n%s",
						label, fmt.Sprintf(form, "T", f.where), f.args, mode, gerr, got, want)
				}
				if relay != nil && mode != pgx.QueryExecModeCacheStatement {
					if sent := relay.take(); !bytes.Contains(sent, []byte("phiguard.term_")) {
						t.Errorf("%s: %s %v (%v): no term conjunct sent", label, f.where, f.args, mode)
					}
				}
			}
		}
	}
	return answered
}

// TestShredMarkerTermFilterWindow: with keys.subjects.shredded_marker
// set, a shredded subject's cell whose terms were not rewritten (the
// shred's window, a shred interrupted between its steps, a dump restored
// from before the shred) reads as the marker while its terms are still
// its old name's (Z00..Z19). A WHERE the marker satisfies, narrowed in
// the database through a term (name >= 'S' AND name < 'T': en_US sorts
// "[shredded]" as "shredded"), did not fetch such a row, so phiguard's
// re-check never saw it and the answer differed from the plaintext's
// with the marker (a HOLE until shredwin). phiguard now evaluates the
// WHERE's conjuncts on the column on the marker, and sends no term for
// a column whose conjuncts the marker satisfies (a parameter's at each
// Bind, in a variant of the statement): every hit answers as the
// plaintext twin, in both protocols, with the key destroyed and after
// phiguard shred --terms-only, and through a proxy whose marker changed
// after the rewrite; a WHERE the marker does not satisfy still sends its
// term conjunct.
func TestShredMarkerTermFilterWindow(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match", relay: relay},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	all := len(shredMarkerForms) * len(bothModes)
	if n := tw.sameFiltered(t, "before the shred", shredMarkerHits, nil); n != all*len(shredMarkerHits) {
		t.Errorf("before the shred: %d of %d answered", n, all*len(shredMarkerHits))
	}
	tw.shredKeys(t) // interrupted here: the keys are gone, the terms are old
	if n := tw.sameFiltered(t, "key destroyed, terms old", shredMarkerHits, nil); n != all*len(shredMarkerHits) {
		t.Errorf("key destroyed: %d of %d answered", n, all*len(shredMarkerHits))
	}
	if n, want := tw.sameFiltered(t, "marker not satisfied", shredMarkerMisses, relay), all*3/2*len(shredMarkerMisses); n != want {
		t.Errorf("marker not satisfied: %d of %d answered", n, want)
	}
	if n := tw.shredTerms(t); n != 20 {
		t.Fatalf("%d cells rewritten, want 20", n)
	}
	if n := tw.sameFiltered(t, "terms rewritten", shredMarkerHits, nil); n != all*len(shredMarkerHits) {
		t.Errorf("terms rewritten: %d of %d answered", n, all*len(shredMarkerHits))
	}
	// The marker changed after the rewrite: the cells carry the terms of
	// "[shredded]" and read as "[erased]" through a proxy configured so.
	prot := &guard.Protection{Policy: tw.prot.Policy, Keyring: tw.prot.Keyring, Subjects: tw.prot.Subjects, ShreddedMarker: "[erased]"}
	tw.via = startProxy(t, proxyOptions{protect: prot, quiet: true}).app(t)
	if _, err := tw.dir.Exec(testContext(t), fmt.Sprintf("UPDATE %s SET name = '[erased]' WHERE id LIKE 'v-%%'", tw.plain)); err != nil {
		t.Fatal(err)
	}
	erased := []shredMarkerFilter{
		{"name >= 'E' AND name < 'F'", nil},
		{"name >= $1 AND name < $2", []any{"E", "F"}},
		{"name ILIKE '%ERASE%'", nil},
		{"name = $1", []any{"[erased]"}},
	}
	if n := tw.sameFiltered(t, "marker changed", erased, nil); n != all*len(erased) {
		t.Errorf("marker changed: %d of %d answered", n, all*len(erased))
	}
}

// TestMatchVariantInRounds: a statement in rounds (ORDER BY the order
// term's column with LIMIT) whose LIKE or ILIKE pattern is a parameter
// runs, at a Bind whose pattern gives terms, a variant of its text
// prepared by phiguard; the variant was written without the round's
// multiplier, which the Bind still carried, and PostgreSQL refused it
// (08P01: bind message supplies 4 parameters, but prepared statement
// "phiguard_like_2" requires 3). Now it takes the multiplier as the
// client's statement does: the plaintext twin's answers, no marker, no
// shred.
func TestMatchVariantInRounds(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{search: "order, match"}, func(i int) string { return fmt.Sprintf("Z%02d", i) })
	filters := []shredMarkerFilter{
		{"name LIKE $1", []any{"N1%"}},
		{"name ILIKE $1", []any{"%z1%"}},
		{"name >= $1 AND name ILIKE $2", []any{"N2", "n%"}},
		{"name LIKE $1 ESCAPE $2", []any{"N3%", "!"}},
	}
	all := len(shredMarkerForms) * len(bothModes) * len(filters)
	if n := tw.sameFiltered(t, "no shred", filters, nil); n != all {
		t.Errorf("%d of %d answered", n, all)
	}
}
