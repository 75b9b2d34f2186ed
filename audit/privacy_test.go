package audit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A PHI value the tests hand to the auditor everywhere a value could slip
// in: literals in the SQL, in every statement kind, in COPY, in an
// unparsable statement. It must appear in no record.
const sentinel = "999-12-3456"

func TestPrivacyNoPHIValues(t *testing.T) {
	var out bytes.Buffer
	a, err := New(Options{Instance: "t", Key: testKey(t), Sink: NewWriterSink(&out), Registerer: prometheus.NewRegistry(),
		Alerts: AlertOptions{PHIRowsPerUser: 1, RefusalsPerUser: 1, BreakGlass: true}})
	if err != nil {
		t.Fatal(err)
	}
	sqls := []string{
		"SELECT * FROM patients WHERE ssn = '" + sentinel + "'",
		"SELECT * FROM patients WHERE ssn IN ('" + sentinel + "', 'x')",
		"INSERT INTO patients (ssn, name) VALUES ('" + sentinel + "', 'Ann')",
		"UPDATE patients SET ssn = '" + sentinel + "' WHERE id = 1",
		"DELETE FROM patients WHERE ssn = E'" + sentinel + "'",
		"SELECT * FROM patients WHERE ssn = $$" + sentinel + "$$",
		"WITH x AS (SELECT '" + sentinel + "' AS s) SELECT * FROM x",
		"SELECT 1; SELECT '" + sentinel + "'",
		"SELECT * FROM patients WHERE ssn = '" + sentinel, // does not parse
		"COPY patients FROM STDIN",
	}
	for _, sql := range sqls {
		an := analysis(t, sql)
		for i := range max(1, len(an.Statements)) {
			if err := a.Record(&Statement{Session: testSession, Analysis: an, Index: i, Read: []string{"public.patients.ssn"}, Rows: 5, Decision: Allow, SQLState: "23505"}); err != nil {
				t.Fatal(err)
			}
			if err := a.Record(&Refusal{Session: testSession, Analysis: an, Index: i, Decision: Deny, Rule: "clinician.patients.ssn", SQLState: "42501"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	closeA(t, a)
	if bytes.Contains(out.Bytes(), []byte(sentinel)) || bytes.Contains(out.Bytes(), []byte("999-12")) {
		t.Fatalf("a PHI value reached the audit log:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "<unparsable statement>") {
		t.Error("the unparsable statement is not marked")
	}
}

func TestConcurrentRecords(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	a := openFile(t, dir, key, 64<<10, nil)
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &Session{ID: "s", User: "u" + string(rune('a'+w))}
			for range each {
				for {
					err := a.Record(&Statement{Session: s, Analysis: analysis(t, "SELECT 1"), Rows: 1})
					if err == nil {
						break
					}
					time.Sleep(time.Millisecond) // the queue is full: back off as the proxy's client would
				}
				_ = a.Healthy()
			}
		}()
	}
	wg.Wait()
	closeA(t, a)
	r := verify(t, key, files(t, dir)...)
	stmts := bytes.Count(readAll(t, files(t, dir)), []byte(`"event":"statement"`))
	if !r.OK() || stmts != workers*each {
		t.Fatalf("%d statements, verify %+v %v", stmts, r, r.Problem)
	}
}

func TestAlerts(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	a, _ := New(Options{Instance: "t", Key: testKey(t), Sink: NewWriterSink(&out), Registerer: prometheus.NewRegistry(),
		Alerts: AlertOptions{Window: time.Minute, PHIRowsPerUser: 100, RefusalsPerUser: 2, BreakGlass: true}})
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	rec := func(ev Event) {
		if err := a.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	bob := &Session{ID: "s2", User: "bob"}
	for i := range 5 { // 150 PHI rows within a minute: one alert
		rec(&Statement{Time: at(i), Session: testSession, Analysis: analysis(t, "SELECT ssn FROM patients"), Read: []string{"public.patients.ssn"}, Rows: 30})
	}
	rec(&Statement{Time: at(10), Session: bob, Analysis: analysis(t, "SELECT name FROM staff"), Rows: 1000}) // no PHI column
	for i := range 3 {
		rec(&Refusal{Time: at(20 + i), Session: bob, Analysis: analysis(t, "SELECT ssn FROM patients"), Decision: Deny})
	}
	rec(&Statement{Time: at(70), Session: testSession, Analysis: analysis(t, "SELECT ssn FROM patients"), Read: []string{"public.patients.ssn"}, Rows: 30}) // new window
	rec(&BreakGlass{Time: at(80), Session: bob, Reason: "ticket INC-1", Granted: true})
	closeA(t, a)
	s := out.String()
	for _, w := range []string{
		`"event":"alert","instance":"t","session":"s1","user":"alice","alert":"phi_rows","count":120,"threshold":100,"window_s":60`,
		`"event":"alert","instance":"t","session":"s2","user":"bob","alert":"refusals","count":3,"threshold":2,"window_s":60`,
		`"event":"alert","instance":"t","session":"s2","user":"bob","alert":"break_glass","count":1`,
	} {
		if strings.Count(s, w) != 1 {
			t.Errorf("want one %s in\n%s", w, s)
		}
	}
	if strings.Count(s, `"event":"alert"`) != 3 {
		t.Errorf("want three alerts:\n%s", s)
	}
}
