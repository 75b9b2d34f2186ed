package guard

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

const bindTestPolicy = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      first: {mode: randomized, key: k-pii, type: text}
`

// mapStore is a keys.SubjectStore in memory.
type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapStore) GetSubjectKey(_ context.Context, tag string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[tag]; ok {
		return w, nil
	}
	return nil, keys.ErrNoSubjectKey
}

func (s *mapStore) CreateSubjectKey(_ context.Context, tag string, w []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[tag]; ok {
		return keys.ErrConflict
	}
	s.m[tag] = w
	return nil
}

func (s *mapStore) ShredSubjectKey(context.Context, string) (keys.ShredOutcome, error) {
	return 0, nil
}

const bindTestOID = 16400 // public.patients: id is attnum 1, first attnum 2

// bindSession is a session over bindTestPolicy with subject keys and a
// catalog, and cells of first for subjects a and b.
func bindSession(t testing.TB) (s *Session, cellA, cellB []byte) {
	t.Helper()
	pol, err := sqlrewrite.ParsePolicy([]byte(bindTestPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	var dks []keys.DataKey
	for _, id := range []string{"k-pii", keys.SubjectKeyID} {
		dk, err := keys.GenerateDataKey(id, 1, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keys.NewSubjectKeys(kr, &mapStore{m: map[string][]byte{}}, keys.SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s = &Session{srv: &Shared{protect: &Protection{Policy: pol, Keyring: kr, Subjects: sk}, metrics: NewMetrics(prometheus.NewRegistry())}, log: zap.NewNop()}
	tbl, _ := pol.Table("public", "patients")
	first, _ := pol.Column("public", "patients", "first")
	s.catalog.Store(&catalog{
		byOID:    map[uint32]map[int16]*policy.ProtectedColumn{bindTestOID: {2: first}},
		subjects: map[uint32]map[int16]*policy.ProtectedTable{bindTestOID: {1: tbl}},
	})
	ad := keys.Column{Schema: "public", Table: "patients", Name: "first"}
	cellA, err = sk.Encrypt(context.Background(), subjA, ad, []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}
	cellB, err = sk.Encrypt(context.Background(), subjB, ad, []byte("Bob"))
	if err != nil {
		t.Fatal(err)
	}
	return s, cellA, cellB
}

const (
	subjA = "3f2504e0-4f89-11d3-9a0c-0305e82c33aa"
	subjB = "3f2504e0-4f89-11d3-9a0c-0305e82c33bb"
)

// describe runs describeFields on (id uuid, first text) of patients in the
// given result format, for the statement sql.
func describe(t testing.TB, s *Session, sql string, format int16) []*resultField {
	t.Helper()
	rd := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), TableOID: bindTestOID, TableAttributeNumber: 1, DataTypeOID: oidUUID, DataTypeSize: 16, TypeModifier: -1, Format: format},
		{Name: []byte("first"), TableOID: bindTestOID, TableAttributeNumber: 2, DataTypeOID: oidText, DataTypeSize: -1, TypeModifier: -1, Format: format},
	}}
	msg, _ := rd.Encode(nil)
	fields, _, err := s.describeFields(msg[5:], sqlrewrite.Analyze(sql))
	if err != nil {
		t.Fatal(err)
	}
	return fields
}

func dataRow(t testing.TB, vals ...[]byte) []byte {
	t.Helper()
	msg, err := (&pgproto3.DataRow{Values: vals}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return msg[5:]
}

func uuidBinary(u string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(u, "-", ""))
	return b
}

func TestCellBoundToItsRowsSubject(t *testing.T) {
	s, cellA, cellB := bindSession(t)
	for _, format := range []int16{0, 1} {
		id := func(u string) []byte {
			if format == 1 {
				return uuidBinary(u)
			}
			return []byte(u)
		}
		fields := describe(t, s, "SELECT id, first FROM patients", format)
		if fields[1] == nil || fields[1].subjectAt != 1 {
			t.Fatalf("format %d: first is not bound to id", format)
		}
		if _, pe := s.decryptDataRow(dataRow(t, id(subjA), cellA), fields, none); pe != nil {
			t.Errorf("format %d: A's own cell: %v", format, pe)
		}
		_, pe := s.decryptDataRow(dataRow(t, id(subjB), cellA), fields, none)
		if pe == nil || pe.Code != pgerr.DataCorrupted {
			t.Errorf("format %d: A's cell in B's row: %v, want XX001", format, pe)
		}
		if _, pe := s.decryptDataRow(dataRow(t, nil, cellB), fields, none); pe == nil || pe.Code != pgerr.DataCorrupted {
			t.Errorf("format %d: B's cell in a row without subject: %v, want XX001", format, pe)
		}
		if _, pe := s.decryptDataRow(dataRow(t, id(subjB), nil), fields, none); pe != nil {
			t.Errorf("format %d: NULL cell: %v", format, pe)
		}
		// Two occurrences of patients: the fields may come from two rows.
		fields = describe(t, s, "SELECT b.id, a.first FROM patients a, patients b", format)
		if _, pe := s.decryptDataRow(dataRow(t, id(subjB), cellA), fields, none); pe != nil {
			t.Errorf("format %d: self-join: %v", format, pe)
		}
	}
}

func TestSubjectText(t *testing.T) {
	var buf [36]byte
	for _, c := range []struct {
		v    []byte
		typ  uint32
		want string
	}{
		{uuidBinary(subjA), oidUUID, subjA},
		{[]byte{0xff, 0xff, 0xff, 0xfe}, oidInt4, "-2"},
		{[]byte{0, 0, 0, 0, 0, 0, 0x01, 0x00}, oidInt8, "256"},
		{[]byte{0, 42}, oidInt2, "42"},
		{[]byte("p-17"), oidVarchar, "p-17"},
	} {
		if got, ok := subjectText(&buf, c.v, 1, c.typ); !ok || string(got) != c.want {
			t.Errorf("type %d: %q %v, want %q", c.typ, got, ok, c.want)
		}
	}
	if _, ok := subjectText(&buf, []byte{1, 2, 3}, 1, 1700); ok {
		t.Error("a binary numeric read as a subject")
	}
}

// BenchmarkDecryptDataRowSubject decrypts a row (id, first) whose first is
// sealed per subject: "unbound" as before cells were bound to their row
// (no subject column binding), "bound" with the check; "column key" a
// cell of the column's own key (a row the subject backfill has not
// reached), the path every column without a subject takes.
func BenchmarkDecryptDataRowSubject(b *testing.B) {
	s, cellA, _ := bindSession(b)
	columnCell, err := s.srv.protect.Keyring.Encrypt("k-pii", keys.Randomized, keys.Column{Schema: "public", Table: "patients", Name: "first"}, []byte("Alice"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, sql string
		cell      []byte
	}{
		{"unbound", "SELECT b.id, a.first FROM patients a, patients b", cellA},
		{"bound", "SELECT id, first FROM patients", cellA},
		{"column key", "SELECT b.id, a.first FROM patients a, patients b", columnCell},
	} {
		b.Run(c.name, func(b *testing.B) {
			fields := describe(b, s, c.sql, 1)
			row := dataRow(b, uuidBinary(subjA), c.cell)
			if _, pe := s.decryptDataRow(row, fields, none); pe != nil {
				b.Fatal(pe)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, pe := s.decryptDataRow(row, fields, none); pe != nil {
					b.Fatal(pe)
				}
			}
		})
	}
}
