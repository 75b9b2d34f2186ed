package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestPolicyReloadAndBreakGlassRecords: the two events the proxy records
// for policy reloads and break-glass encode with their own fields, join the
// chain, verify, and say what a reviewer needs (accepted or not, how many
// problems; granted or not, the user's reason, the rule), and break-glass
// raises its alert.
func TestPolicyReloadAndBreakGlassRecords(t *testing.T) {
	dir, key := t.TempDir(), testKey(t)
	a := openFile(t, dir, key, 1<<20, func(o *Options) { o.Alerts.BreakGlass = true })
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, ev := range []Event{
		&PolicyReload{Time: t0, File: "/etc/phiguard/policy.yml", Version: "c0ffee12", Accepted: true},
		&PolicyReload{Time: t0, File: "/etc/phiguard/policy.yml", Version: "deadbeef", Accepted: false, Problems: 3},
		&BreakGlass{Time: t0, Session: testSession, Reason: "ticket ER-2231", Granted: true, Rule: "clinician.break_glass", SQLState: "00000"},
		&BreakGlass{Time: t0, Session: testSession, Reason: "no ticket", Granted: false, Rule: "nurse: break_glass not allowed", SQLState: "42501"},
	} {
		if err := a.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	closeA(t, a)
	fs := files(t, dir)
	if r := verify(t, key, fs...); r.Problem != nil || r.Records != 8 || !r.Ended {
		t.Fatalf("verify: %+v", r)
	}
	var got []Entry
	sc := bufio.NewScanner(bytes.NewReader(readAll(t, fs)))
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	// audit_start, 2 reloads, break_glass + alert, break_glass + alert, audit_stop
	if len(got) != 8 {
		t.Fatalf("%d records", len(got))
	}
	r1, r2 := got[1], got[2]
	if r1.Event != EventPolicyReload || r1.PolicyVersion != "c0ffee12" || r1.Accepted == nil || !*r1.Accepted || r1.Problems != 0 ||
		r2.PolicyVersion != "deadbeef" || r2.Accepted == nil || *r2.Accepted || r2.Problems != 3 {
		t.Errorf("policy reloads: %+v %+v", r1, r2)
	}
	b1, b2 := got[3], got[5]
	if b1.Event != EventBreakGlass || b1.Reason != "ticket ER-2231" || b1.Granted == nil || !*b1.Granted || b1.User != testSession.User || b1.Rule != "clinician.break_glass" ||
		b2.Granted == nil || *b2.Granted || b2.SQLState != "42501" {
		t.Errorf("break-glass: %+v %+v", b1, b2)
	}
	if got[4].Event != EventAlert || got[4].Alert != AlertBreakGlass || got[6].Alert != AlertBreakGlass {
		t.Errorf("break-glass alerts: %+v %+v", got[4], got[6])
	}
}
