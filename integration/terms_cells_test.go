package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

// TestTermsCellsReadThroughProxy: cells with search terms (format 2,
// docs/design/search-terms.md §2.2), which phiguard does not write yet,
// read through phiguard exactly as the cells they were made from. The
// bindingFixture's cells, written through phiguard (subject cells for
// first and reason, deterministic ones for ssn), are given terms in the
// database by the owner (keys.WithTerms needs no key: the terms are not
// authenticated); every protocol and result format, and COPY TO, return
// the same values as before; a subject's cell with terms copied into
// another patient's row is still refused (XX001).
func TestTermsCellsReadThroughProxy(t *testing.T) {
	ctx := testContext(t)
	f := newBindingFixture(t)
	const read = "SELECT p.id::text, p.ssn, p.first, e.reason FROM patients p JOIN encounters e ON e.patient = p.id ORDER BY p.id"
	before := map[string][]string{}
	for name, mode := range bindingModes {
		before[name] = readJoined(t, f, read, mode)
		if all := strings.Join(before[name], "|"); !strings.Contains(all, "FirstA") || !strings.Contains(all, "ReasonC") || !strings.Contains(all, "999-00-0001") || strings.Contains(all, "~ph") {
			t.Fatalf("%s: read %q", name, all)
		}
	}
	var copyBefore bytes.Buffer
	if _, err := f.via.PgConn().CopyTo(ctx, &copyBefore, "COPY patients (id, ssn, first) TO STDOUT"); err != nil {
		t.Fatal(err)
	}

	// The owner, directly, puts terms into every cell.
	terms := keys.CellTerms{Version: 1, Eq: bytes.Repeat([]byte{1}, keys.EqTermSize), Ord: bytes.Repeat([]byte{2}, 32),
		Prefix: "AAAAAA", Match: []string{"AAAAAA", "BBBBBA"}}
	n := 0
	for _, tc := range []struct{ table, key, col string }{{"patients", "id", "ssn"}, {"patients", "id", "first"}, {"encounters", "id", "reason"}} {
		rows, err := f.owner.Query(ctx, "SELECT "+tc.key+"::text, "+tc.col+" FROM "+tc.table)
		if err != nil {
			t.Fatal(err)
		}
		type cellRow struct{ key, cell string }
		var cells []cellRow
		for rows.Next() {
			var r cellRow
			if err := rows.Scan(&r.key, &r.cell); err != nil {
				t.Fatal(err)
			}
			cells = append(cells, r)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		for _, r := range cells {
			withTerms, err := keys.WithTerms([]byte(r.cell), terms)
			if err != nil {
				t.Fatalf("%s.%s: %v", tc.table, tc.col, err)
			}
			if _, err := f.owner.Exec(ctx, "UPDATE "+tc.table+" SET "+tc.col+" = $1 WHERE "+tc.key+"::text = $2", string(withTerms), r.key); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if got := queryInt(t, f.owner, "SELECT count(*) FROM patients WHERE left(first, 5) = '~phs~' AND left(ssn, 5) = '~phs~'"); got != 3 {
		t.Fatalf("%d patients' cells carry terms, want 3", got)
	}
	t.Logf("%d cells given terms", n)

	for name, mode := range bindingModes {
		if after := readJoined(t, f, read, mode); strings.Join(after, "|") != strings.Join(before[name], "|") {
			t.Errorf("%s: read %q with terms, %q without", name, after, before[name])
		}
	}
	var copyAfter bytes.Buffer
	if _, err := f.via.PgConn().CopyTo(ctx, &copyAfter, "COPY patients (id, ssn, first) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	if copyAfter.String() != copyBefore.String() || strings.Contains(copyAfter.String(), "~phs~") {
		t.Errorf("COPY TO with terms:\n%s\nwithout:\n%s", copyAfter.String(), copyBefore.String())
	}

	// A's cell with terms in B's row: still bound to A.
	if _, err := f.owner.Exec(ctx, "UPDATE patients SET first = (SELECT first FROM patients WHERE id = $1) WHERE id = $2", patientA, patientB); err != nil {
		t.Fatal(err)
	}
	for name, mode := range bindingModes {
		var first string
		err := f.via.QueryRow(ctx, "SELECT id, first FROM patients WHERE id = $1", mode, patientB).Scan(new(string), &first)
		if pe := wantPgError(t, err, "XX001"); strings.Contains(pe.Message, "FirstA") {
			t.Errorf("%s: the error names the value: %s", name, pe.Message)
		}
	}
}

// readJoined runs sql through phiguard and returns each row's columns
// joined by commas.
func readJoined(t *testing.T, f *bindingFixture, sql string, mode any) []string {
	t.Helper()
	rows, err := f.via.Query(testContext(t), sql, mode)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmt.Sprint(v), "\n", " "), "\t", " ")))
		}
		out = append(out, strings.Join(parts, ","))
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(out) != 3 {
		t.Fatalf("%d rows, want 3: %q", len(out), out)
	}
	return out
}
