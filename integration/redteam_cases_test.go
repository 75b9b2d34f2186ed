package integration

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeamCases: holes found by the red team (issue 10 follow-up). Each
// case fails on b603a6e.
func TestRedTeamCases(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	runAccessCases(t, p, redTeamCases(fx))
}

// sjisSplit is valid UTF-8 (U+0081 then a backslash), so phiguard's parser
// reads the backslash as escaping the quote after it; in Shift-JIS 0x81 0x5C
// is one character, so PostgreSQL (which converts the client encoding
// before it lexes) ends the string there and runs what follows as SQL.
const sjisSplit = "SELECT E'\xc2\x81\\' AS a"

// scsSplit: phiguard sees SELECT 'a\' AS x, $$...$$ (two constants);
// PostgreSQL with standard_conforming_strings off sees the string 'a\' AS
// x, $$ ' and then a subquery, the last $$ in a comment.
const scsSplit = "SELECT 'a\\' AS x, $$ ' , (SELECT count(*) FROM patients) AS n -- $$"

func redTeamCases(fx *accessEHR) []accessCase {
	atMost := func(n int) func([][]string) error {
		return func(rows [][]string) error {
			for _, r := range rows {
				if len(r) < 2 {
					continue
				}
				if v, err := strconv.Atoi(r[1]); err == nil && v > n {
					return fmt.Errorf("count %d, but the role may see %d rows", v, n)
				}
			}
			return nil
		}
	}
	encodingRefused := func(n int) outcome {
		return outcome{check: atMost(n), orRefused: true, code: "42501|0A000|22023|08P01", msg: `encoding|standard_conforming_strings|setting`}
	}
	return []accessCase{
		// 1. Client encoding: what phiguard parses is not what PostgreSQL runs.
		{name: "sjis client encoding hides a subquery from the rewriter", user: "dr_alice", extendedOnly: true,
			steps: []string{"SET client_encoding = 'SJIS'", sjisSplit + ", (SELECT count(*) FROM patients) AS n -- '"},
			want:  encodingRefused(fx.alicePatients)},
		{name: "sjis client encoding hides care teams", user: "dr_alice", extendedOnly: true,
			steps: []string{"SET client_encoding = 'SJIS'", sjisSplit + ", (SELECT count(*) FROM care_teams) AS n -- '"},
			want:  encodingRefused(fx.alicePatients)},
		{name: "set names sjis hides a subquery from the rewriter", user: "researcher", extendedOnly: true,
			steps: []string{"SET NAMES 'SJIS'", sjisSplit + ", (SELECT count(*) FROM patients) AS n -- '"},
			want:  encodingRefused(fx.consentedPatients)},
		// standard_conforming_strings off: PostgreSQL reads \' in '...' as an
		// escaped quote, phiguard's parser (always on) as the string's end.
		{name: "standard_conforming_strings off hides a subquery", user: "dr_alice", extendedOnly: true,
			steps: []string{"SET standard_conforming_strings = off", scsSplit},
			want:  encodingRefused(fx.alicePatients)},
		{name: "standard_conforming_strings off hides a subquery, simple", user: "dr_alice", multi: true,
			steps: []string{"SET standard_conforming_strings = off", scsSplit},
			want:  encodingRefused(fx.alicePatients)},
		// 7. Research reads only consenting patients' rows of every clinical table.
		{name: "research reads allergies of consenting patients only", user: "researcher",
			steps: []string{"SELECT count(*) FROM allergies"}, want: rowsOf("SELECT count(*) FROM allergies WHERE patient IN " + consented)},
		{name: "research reads care plans of consenting patients only", user: "researcher",
			steps: []string{"SELECT count(*) FROM careplans"}, want: rowsOf("SELECT count(*) FROM careplans WHERE patient IN " + consented)},
		{name: "research reads immunizations of consenting patients only", user: "researcher",
			steps: []string{"SELECT count(*) FROM immunizations"}, want: rowsOf("SELECT count(*) FROM immunizations WHERE patient IN " + consented)},
		// The simple protocol: a second statement phiguard never saw.
		{name: "sjis client encoding smuggles a statement", user: "dr_alice", multi: true,
			steps: []string{"SET client_encoding = 'SJIS'", sjisSplit + "; SELECT $$n$$, count(*) FROM patients -- '"},
			want:  encodingRefused(fx.alicePatients)},
	}
}

// TestRedTeamErrorDetail: PostgreSQL's "Failing row contains (...)" detail
// of a constraint violation carries every column of the row, and phiguard
// passes it on: a role that may write reads columns it is denied, or
// masked, in clear. biller's note is deny, its zip masked to '{first3}**'.
func TestRedTeamErrorDetail(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	su := accessSuperuser(t)
	var noteID int64
	var note, zip string
	if err := su.QueryRow(ctx, "SELECT id, note FROM clinical_notes ORDER BY id LIMIT 1").Scan(&noteID, &note); err != nil {
		t.Fatal(err)
	}
	if err := su.QueryRow(ctx, "SELECT zip FROM patients WHERE ctid = '(0,1)'").Scan(&zip); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql, secret string }{
		{"denied note", fmt.Sprintf("UPDATE clinical_notes SET author = NULL WHERE id = %d", noteID), note},
		{"masked zip", "UPDATE patients SET first = NULL WHERE ctid = '(0,1)'", zip},
	} {
		for _, mode := range []string{simpleMode, extendedMode} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				conn := p.as(t, "biller")
				if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
				defer conn.Exec(ctx, "ROLLBACK")
				_, err := queryRows(ctx, conn, mode, tc.sql)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) {
					t.Fatalf("want an error, got %v", err)
				}
				if strings.Contains(pgErr.Message+pgErr.Detail+pgErr.Where, tc.secret) {
					t.Fatalf("the error (%s) carries the %s in clear", pgErr.Code, tc.name)
				}
			})
		}
	}
}

// TestRedTeamPlaintextThroughView: a role without rules (admin_ann) writes
// plaintext into encrypted columns through an auto-updatable view over
// patients, or from a DO block: the encryption planner sees neither
// public.patients nor the literal bound for it, and passes both through.
func TestRedTeamPlaintextThroughView(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	const plain = "RedTeamPlaintext"
	for _, tc := range []struct{ name, write string }{
		{"update through a view", "UPDATE patient_summary SET first = '" + plain + "' WHERE id = '" + fx.aliceOnly + "'"},
		{"do block", "DO $$ BEGIN UPDATE public.patients SET first = '" + plain + "' WHERE id = '" + fx.aliceOnly + "'; END $$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := p.as(t, "admin_ann")
			if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
				t.Fatal(err)
			}
			defer conn.Exec(ctx, "ROLLBACK")
			if _, err := conn.Exec(ctx, tc.write, pgx.QueryExecModeSimpleProtocol); err != nil {
				return // refused: the hole is closed
			}
			// What is stored, read raw through the view (phiguard does not
			// decrypt a view's columns).
			rows, err := queryRows(ctx, conn, simpleMode, "SELECT first FROM patient_summary WHERE id = '"+fx.aliceOnly+"'")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 1 && rows[0][0] == plain {
				t.Fatalf("patients.first (encrypted, randomized) now stores plaintext")
			}
		})
	}
}

// TestRedTeamStartupOptions: the startup packet's options (-c name=value)
// reach PostgreSQL unchecked, so settings phiguard refuses in SQL (SET
// search_path) or must refuse (client_encoding, standard_conforming_strings)
// are set at login; the last one makes the rewriter parse another text.
func TestRedTeamStartupOptions(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	for _, tc := range []struct{ name, value, sql string }{
		{"search_path", "pg_temp,public", "SELECT 'x', current_setting('search_path')"},
		{"standard_conforming_strings", "off", scsSplit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pgx.ParseConfig(p.url("dr_alice", accessPassword, accessDB))
			if err != nil {
				t.Fatal(err)
			}
			cfg.RuntimeParams["options"] = "-c " + tc.name + "=" + tc.value
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Logf("login: %v", err)
				return // refused at login: closed
			}
			defer conn.Close(ctx)
			rows, err := queryRows(ctx, conn, extendedMode, tc.sql)
			if err != nil {
				t.Logf("statement: %v", err)
				return
			}
			if tc.name == "search_path" {
				if len(rows) == 1 && rows[0][1] == "pg_temp,public" {
					t.Fatalf("search_path set at login although SET search_path is refused")
				}
				return
			}
			if n, _ := strconv.Atoi(rows[0][1]); n > fx.alicePatients {
				t.Fatalf("count %d through a login option, but the role may see %d", n, fx.alicePatients)
			}
		})
	}
}
