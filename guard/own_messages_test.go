package guard

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/policy"
)

// ownDecoded decodes the frontend messages of msg, as the backend reads
// them, each as "type name text".
func ownDecoded(t *testing.T, msg []byte) []string {
	t.Helper()
	be := pgproto3.NewBackend(bytes.NewReader(msg), nil)
	var got []string
	for range 1000 {
		m, err := be.Receive()
		if err != nil {
			break
		}
		switch m := m.(type) {
		case *pgproto3.Parse:
			got = append(got, fmt.Sprintf("P %s %s %d", m.Name, m.Query, len(m.ParameterOIDs)))
		case *pgproto3.Bind:
			got = append(got, fmt.Sprintf("B %s %s %d", m.DestinationPortal, m.PreparedStatement, len(m.Parameters)))
		case *pgproto3.Execute:
			got = append(got, fmt.Sprintf("E %s %d", m.Portal, m.MaxRows))
		case *pgproto3.Close:
			got = append(got, fmt.Sprintf("C %c %s", m.ObjectType, m.Name))
		case *pgproto3.Sync:
			got = append(got, "S")
		default:
			got = append(got, fmt.Sprintf("%T", m))
		}
	}
	return got
}

// TestOwnMessagesShape: one Parse, Bind and Execute per statement under
// phiguard's name, closed before and after, one Sync; a semicolon in a
// literal or a comment splits nothing; the read's own statement_timeout
// is set first and the client's put back last.
func TestOwnMessagesShape(t *testing.T) {
	got := strings.Join(ownDecoded(t, ownMessages("SELECT 'a;b' AS x;\n-- c;d\nSELECT 2")), "\n")
	want := strings.Join([]string{
		"C P phiguard_plan_read", "C S phiguard_plan_read",
		"P phiguard_plan_read " + pinTimeout + " 0", "B phiguard_plan_read phiguard_plan_read 0", "E phiguard_plan_read 0",
		"C P phiguard_plan_read", "C S phiguard_plan_read",
		"P phiguard_plan_read SELECT 'a;b' AS x 0", "B phiguard_plan_read phiguard_plan_read 0", "E phiguard_plan_read 0",
		"C P phiguard_plan_read", "C S phiguard_plan_read",
		"P phiguard_plan_read -- c;d\nSELECT 2 0", "B phiguard_plan_read phiguard_plan_read 0", "E phiguard_plan_read 0",
		"C P phiguard_plan_read", "C S phiguard_plan_read",
		"P phiguard_plan_read " + restoreTimeout + " 0", "B phiguard_plan_read phiguard_plan_read 0", "E phiguard_plan_read 0",
		"C P phiguard_plan_read", "C S phiguard_plan_read",
		"S",
	}, "\n")
	want = strings.ReplaceAll(want, "phiguard_plan_read", ownReadName)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(ownReadName, "phiguard_plan_read_") || len(ownReadName) != len("phiguard_plan_read_")+16 {
		t.Errorf("the read's name %q has no random part", ownReadName)
	}
}

// TestOwnReadsSendNoQuery: none of phiguard's own reads is a simple
// Query, which would drop the client's unnamed statement and portal, nor
// names anything but phiguard's read statement and portal; the
// catalog's several statements go one Parse each.
func TestOwnReadsSendNoQuery(t *testing.T) {
	pol, err := policy.Parse([]byte("version: 1\ntables:\n  public.p:\n    columns:\n      ssn: {mode: deterministic, key: k, type: text}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{srv: &Shared{}}
	b := newCatalogBuilder(pol)
	reads := map[string][]byte{
		"catalog": s.catalogQueryMessage(b),
		"objects": objectsMessage(),
		"stamp":   ownMessages(stampQuery),
		"output":  ownMessages(outputQuery),
		"columns": columnsQuery(16384),
		"key":     ownMessages(keyQuery[2:]),
	}
	for name, msg := range reads {
		got := ownDecoded(t, msg)
		parses := 0
		for _, m := range got {
			switch m[0] {
			case 'P':
				parses++
				if !strings.HasPrefix(m, "P "+ownReadName+" ") {
					t.Errorf("%s: %q", name, m)
				}
			case 'B', 'E', 'C':
				if !strings.Contains(m, " "+ownReadName) {
					t.Errorf("%s: %q", name, m)
				}
			case 'S':
			default:
				t.Errorf("%s: a message of phiguard's read is %s", name, m)
			}
		}
		if len(got) != 2+5*parses+1 || got[len(got)-1] != "S" || parses == 0 {
			t.Errorf("%s: %d messages, %d statements: %q", name, len(got), parses, got)
		}
		if name == "catalog" && parses < 3 {
			t.Errorf("catalog: %d statements; its query has several", parses)
		}
	}
}

// BenchmarkOwnMessagesCatalog: the cost of splitting the catalog read
// into its statements, paid at each read.
func BenchmarkOwnMessagesCatalog(b *testing.B) {
	pol, err := policy.Parse([]byte("version: 1\ntables:\n  public.p:\n    columns:\n      ssn: {mode: deterministic, key: k, type: text}\n"))
	if err != nil {
		b.Fatal(err)
	}
	s := &Session{srv: &Shared{}}
	cb := newCatalogBuilder(pol)
	msg := s.catalogQueryMessage(cb)
	b.ReportMetric(float64(len(msg)), "bytes")
	for b.Loop() {
		s.catalogQueryMessage(cb)
	}
}

// TestAccessReadsPinPath: the objects and stamp reads, unqualified
// aggregates and types (string_agg, count, text) in their text, run under
// search_path pg_catalog, pg_temp, and the client's path is put back
// after: under the client's path a schema of its own before pg_catalog
// could have answered for them.
func TestAccessReadsPinPath(t *testing.T) {
	for name, msg := range map[string][]byte{"objects": objectsMessage(), "stamp": ownMessages(underCatalogPath(stampQuery))} {
		var parses []string
		for _, m := range ownDecoded(t, msg) {
			if strings.HasPrefix(m, "P ") {
				parses = append(parses, m)
			}
		}
		// Inside the read's statement_timeout (own_messages.go): the
		// first and last statements are that setting's.
		if len(parses) != 5 || !strings.Contains(parses[1], "set_config('search_path', pg_catalog.concat('pg_catalog, pg_temp'") ||
			!strings.Contains(parses[3], "phiguard.client_search_path") || !strings.Contains(parses[0], "phiguard.client_statement_timeout") {
			t.Errorf("%s read: %d statements, the path not pinned first and put back last:\n%s", name, len(parses), strings.Join(parses, "\n"))
		}
	}
}

// TestOwnReadInSavepoint: a read in the client's block runs between a
// savepoint of phiguard's and its release, both its own statements, and
// ends in the one Sync.
func TestOwnReadInSavepoint(t *testing.T) {
	plain := ownDecoded(t, ownMessages("SELECT 1"))
	got := ownDecoded(t, inSavepoint(ownMessages("SELECT 1")))
	if len(got) != len(plain)+2*5 {
		t.Fatalf("%d messages, want %d: %q", len(got), len(plain)+10, got)
	}
	if got[0] != "P "+ownReadName+" SAVEPOINT "+ownSavepoint+" 0" || got[len(got)-6] != "P "+ownReadName+" RELEASE SAVEPOINT "+ownSavepoint+" 0" {
		t.Errorf("no savepoint around the read: %q", got)
	}
	if strings.Join(got[5:len(got)-6], "\n") != strings.Join(plain[:len(plain)-1], "\n") || got[len(got)-1] != "S" {
		t.Errorf("the read inside is not the read: %q", got)
	}
	if !strings.HasPrefix(ownSavepoint, planPrefix+"savepoint_") || len(ownSavepoint) != len(planPrefix+"savepoint_")+16 {
		t.Errorf("the savepoint's name %q has no random part", ownSavepoint)
	}
}
