package audit

import (
	"github.com/phiguard/phiguard/config"
	"github.com/prometheus/client_golang/prometheus"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	a := openFile(t, dir, key, 1<<20, nil)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	bob := &Session{ID: "s2", User: "bob", Role: "billing", Database: "ehr", Client: "10.0.0.9:4000"}
	subj := func(ids ...string) *SubjectSet {
		s := NewSubjectSet("public.patients", "id", 2)
		for _, id := range ids {
			s.Add(id)
		}
		return s
	}
	notIn := NewSubjectSet("public.patients", "id", 2)
	notIn.NotInResult()
	q := analysis(t, "SELECT ssn FROM patients WHERE id = 1")
	evs := []Event{
		&Statement{Time: t0, Session: testSession, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: 1, Subjects: []*SubjectSet{subj("p1")}},
		&Statement{Time: t0.Add(time.Hour), Session: bob, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: 3, Subjects: []*SubjectSet{subj("p2", "p1", "p3")}},
		&Statement{Time: t0.Add(2 * time.Hour), Session: bob, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: 3, Subjects: []*SubjectSet{subj("p2", "p3", "p1")}}, // p1 omitted
		&Statement{Time: t0.Add(3 * time.Hour), Session: bob, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: 9, Subjects: []*SubjectSet{notIn}},
		&Refusal{Time: t0.Add(4 * time.Hour), Session: bob, Analysis: q, Decision: Deny, Rule: "billing.patients.ssn", SQLState: "42501"},
		&Statement{Time: t0.Add(25 * time.Hour), Session: testSession, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: AllowBreakGlass, Rows: 1, Subjects: []*SubjectSet{subj("p1")}},
		&Statement{Time: t0.Add(26 * time.Hour), Session: testSession, Analysis: q, Read: []string{"public.patients.ssn"}, Decision: Allow, Rows: 1, Subjects: []*SubjectSet{subj("p9")}},
	}
	for _, ev := range evs {
		if err := a.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	closeA(t, a)
	fs := files(t, dir)

	r, err := Report(ReportQuery{Subject: "p1"}, fs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accesses) != 3 || r.PossibleOmitted != 2 ||
		r.Accesses[0].User != "alice" || r.Accesses[1].User != "bob" || r.Accesses[2].Decision != "allow_break_glass" || r.Accesses[1].Match != "listed" ||
		r.Accesses[1].Read[0] != "public.patients.ssn" || *r.Accesses[1].Rows != 3 {
		t.Fatalf("subject report: %+v", r)
	}
	r, _ = Report(ReportQuery{Subject: "p1", Possible: true, Since: t0.Add(30 * time.Minute), Until: t0.Add(24 * time.Hour)}, fs...)
	if len(r.Accesses) != 3 || r.Accesses[1].Match != "possible" || r.Accesses[2].Match != "possible" {
		t.Fatalf("subject report with possible accesses in a window: %+v", r)
	}
	r, _ = Report(ReportQuery{User: "bob"}, fs...)
	if len(r.Accesses) != 4 || r.Accesses[3].Event != EventRefusal || r.Accesses[3].Rule != "billing.patients.ssn" {
		t.Fatalf("user report: %+v", r)
	}
}

func TestOpenFromConfig(t *testing.T) {
	c := config.DefaultAudit()
	c.Dir = t.TempDir()
	c.Instance = "pg1"
	key := testKey(t)
	a, err := Open(c, key, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a.Record(&ConnectionOpen{Session: testSession})
	closeA(t, a)
	fs, _ := Files(c.Dir, c.FilePrefix)
	if r := verify(t, key, fs...); !r.OK() || r.Records != 3 {
		t.Fatalf("%+v", r)
	}
}
