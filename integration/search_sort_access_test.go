package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSortEncryptedUnderAccessRules: the proxy-side sort composes with
// row rules (a clinician's rows, sorted by an encrypted name, are the
// administrator's filtered rows in the same order) and column rules (a
// role that sees a column masked or pseudonymized cannot sort by it; one
// that sees it in plaintext can).
func TestSortEncryptedUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		got, err := rowsRaw(t, alice, "SELECT p.id, p.last, p.birthdate FROM patients p ORDER BY p.last DESC, p.first, p.id LIMIT 40", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		want, err := rowsRaw(t, admin, "SELECT p.id, p.last, p.birthdate FROM patients p WHERE p.id IN "+aliceSees+" ORDER BY p.last DESC, p.first, p.id LIMIT 40", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if got != want || strings.Count(got, "\n") < 2 {
			t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s", mode, got, want)
		}
		// An oracle of its own: the names descend by bytes (the C collation).
		lines := strings.Split(strings.TrimSpace(got), "\n")
		lines = lines[:len(lines)-1] // the command tag
		for i := 1; i < len(lines); i++ {
			prev, cur := strings.Split(lines[i-1], " | ")[1], strings.Split(lines[i], " | ")[1]
			if cur > prev && prev != "<NULL>" {
				t.Fatalf("%v: %q after %q under ORDER BY last DESC", mode, cur, prev)
			}
		}
	}
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{biller, "SELECT id FROM patients ORDER BY ssn, id", "42501"},
		{biller, "SELECT ssn AS s FROM patients ORDER BY s", "42501"},
		{research, "SELECT first FROM patients ORDER BY first", "42501"},
		{research, "SELECT first FROM patients ORDER BY 1", "42501"},
		{biller, "SELECT first, last FROM patients ORDER BY last, first", ""},
	})
}

// codeCase is a statement a role's connection runs, with the SQLSTATE it
// must get ("": it must succeed).
type codeCase struct {
	conn      *pgx.Conn
	sql, code string
}

// wantCodes runs each case in both protocols.
func wantCodes(t *testing.T, cases []codeCase) {
	t.Helper()
	for _, c := range cases {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, c.conn, c.sql, mode, pgx.TextFormatCode)
			if c.code == "" {
				if err != nil {
					t.Errorf("%s (%v): %v", c.sql, mode, err)
				}
				continue
			}
			wantCode(t, err, c.code, "")
		}
	}
}
