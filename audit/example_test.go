package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// One record of each event type, as docs/audit.md shows them. A fixed key
// and clock make the output, MACs included, stable.
func Example_events() {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	dk := keys.DataKey{ID: "audit", Version: 1, Key: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	key, _ := audit.DeriveKey(dk)
	var out bytes.Buffer
	a, _ := audit.New(audit.Options{Instance: "pg1", Key: key, Sink: audit.NewWriterSink(&out),
		Alerts: audit.AlertOptions{BreakGlass: true}, Now: func() time.Time { return t0 }})

	s := &audit.Session{ID: "7f3a9c", Client: "10.1.2.3:51234", TLSVersion: "TLS1.3", CertSubject: "CN=ehr-app", User: "dr_smith", Role: "clinician", Database: "ehr"}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	ids := audit.NewSubjectSet("public.patients", "id", 50)
	ids.Add("4711")
	a.Record(&audit.PolicyReload{Time: at(1), File: "/etc/phiguard/policy.yml", Version: "c0ffee12", Accepted: true})
	a.Record(&audit.KeyEvent{Time: at(1), Action: "load", KeyID: "patients.ssn", Version: 2})
	a.Record(&audit.ConnectionOpen{Time: at(2), Session: s})
	a.Record(&audit.Statement{Time: at(3), Session: s, Analysis: sqlrewrite.Analyze("SELECT name, ssn FROM patients WHERE id = 4711"),
		Protocol: audit.Extended, Read: []string{"public.patients.ssn"}, Decision: audit.Allow, Rule: "clinician",
		Rows: 1, Subjects: []*audit.SubjectSet{ids}, Duration: 850 * time.Microsecond, SQLState: "00000"})
	a.Record(&audit.Refusal{Time: at(4), Session: s, Analysis: sqlrewrite.Analyze("COPY patients TO STDOUT"),
		Protocol: audit.Simple, Read: []string{"public.patients.ssn"}, Decision: audit.Deny, Rule: "clinician: copy not allowed", SQLState: "42501"})
	a.Record(&audit.BreakGlass{Time: at(5), Session: s, Reason: "ticket ER-2231", Granted: true, Rule: "clinician.break_glass", SQLState: "00000"})
	a.Record(&audit.ConnectionClose{Time: at(9), Session: s, Duration: 7 * time.Second, Statements: 3, Reason: "terminate"})
	a.Record(&audit.AuthFailure{Time: at(10), Session: &audit.Session{Client: "10.9.9.9:40000", User: "admin", Database: "ehr"}, Reason: "password", SQLState: "28P01"})
	a.Close(context.Background())
	fmt.Print(out.String())
	// Output:
	// {"seq":1,"time":"2026-03-01T09:00:00.000000Z","event":"audit_start","instance":"pg1","reason":"new_log","key_id":"audit","key_version":1,"prev_mac":"","mac":"-PfQSqpO-PcI6OOQyloXkElIMBNn2sMIyGMucP6KoXM"}
	// {"seq":2,"time":"2026-03-01T09:00:01.000000Z","event":"policy_reload","instance":"pg1","policy_file":"/etc/phiguard/policy.yml","policy_version":"c0ffee12","accepted":true,"prev_mac":"-PfQSqpO-PcI6OOQyloXkElIMBNn2sMIyGMucP6KoXM","mac":"GsivaJzKPINYTfuVsxVLY8wZs1d91DCoSN7bJ_H-rjk"}
	// {"seq":3,"time":"2026-03-01T09:00:01.000000Z","event":"key","instance":"pg1","action":"load","key_id":"patients.ssn","key_version":2,"prev_mac":"GsivaJzKPINYTfuVsxVLY8wZs1d91DCoSN7bJ_H-rjk","mac":"fbkbrETRonUk7IU-nC5ZA43aZSoHxlSo7sn2DqLGXaM"}
	// {"seq":4,"time":"2026-03-01T09:00:02.000000Z","event":"connection_open","instance":"pg1","session":"7f3a9c","client":"10.1.2.3:51234","tls":"TLS1.3","cert_subject":"CN=ehr-app","user":"dr_smith","role":"clinician","database":"ehr","prev_mac":"fbkbrETRonUk7IU-nC5ZA43aZSoHxlSo7sn2DqLGXaM","mac":"QM8tzUBUadUY51gfDp20qHQ-9vATU8ys5MdMLwoUoWI"}
	// {"seq":5,"time":"2026-03-01T09:00:03.000000Z","event":"statement","instance":"pg1","session":"7f3a9c","client":"10.1.2.3:51234","tls":"TLS1.3","cert_subject":"CN=ehr-app","user":"dr_smith","role":"clinician","database":"ehr","protocol":"extended","kind":"select","fingerprint":"35f95192fac94704","sql":"SELECT name, ssn FROM patients WHERE id = $1","tables":["patients"],"read":["public.patients.ssn"],"decision":"allow","rule":"clinician","rows":1,"subjects":[{"table":"public.patients","column":"id","ids":["4711"]}],"duration_us":850,"sqlstate":"00000","prev_mac":"QM8tzUBUadUY51gfDp20qHQ-9vATU8ys5MdMLwoUoWI","mac":"mdbTU1_tQXqy_F1CyEuBRuowlrxxE5R137fqGbltmdg"}
	// {"seq":6,"time":"2026-03-01T09:00:04.000000Z","event":"refusal","instance":"pg1","session":"7f3a9c","client":"10.1.2.3:51234","tls":"TLS1.3","cert_subject":"CN=ehr-app","user":"dr_smith","role":"clinician","database":"ehr","protocol":"simple","kind":"copy","fingerprint":"54852e1548bdba03","sql":"COPY patients TO STDOUT","tables":["patients"],"read":["public.patients.ssn"],"decision":"deny","rule":"clinician: copy not allowed","sqlstate":"42501","prev_mac":"mdbTU1_tQXqy_F1CyEuBRuowlrxxE5R137fqGbltmdg","mac":"r76u-q2TimWyJ2cHctafk8bqZlXH_21JTxP8xTif4cQ"}
	// {"seq":7,"time":"2026-03-01T09:00:05.000000Z","event":"break_glass","instance":"pg1","session":"7f3a9c","client":"10.1.2.3:51234","tls":"TLS1.3","cert_subject":"CN=ehr-app","user":"dr_smith","role":"clinician","database":"ehr","rule":"clinician.break_glass","sqlstate":"00000","reason":"ticket ER-2231","granted":true,"prev_mac":"r76u-q2TimWyJ2cHctafk8bqZlXH_21JTxP8xTif4cQ","mac":"Jq358N_mHWRv_aWKWtjEY8ZX-pndlRCMjwR9rLC94qc"}
	// {"seq":8,"time":"2026-03-01T09:00:05.000000Z","event":"alert","instance":"pg1","session":"7f3a9c","user":"dr_smith","alert":"break_glass","count":1,"prev_mac":"Jq358N_mHWRv_aWKWtjEY8ZX-pndlRCMjwR9rLC94qc","mac":"ftOyUBLZ7R1n_eICv5qyxTEhJU2169ntT749TtRkd6I"}
	// {"seq":9,"time":"2026-03-01T09:00:09.000000Z","event":"connection_close","instance":"pg1","session":"7f3a9c","client":"10.1.2.3:51234","tls":"TLS1.3","cert_subject":"CN=ehr-app","user":"dr_smith","role":"clinician","database":"ehr","duration_us":7000000,"reason":"terminate","statements":3,"prev_mac":"ftOyUBLZ7R1n_eICv5qyxTEhJU2169ntT749TtRkd6I","mac":"TwZWUtMtVTk3Y25srgeYDpMI83FJ2_P3zbrWWAYcArg"}
	// {"seq":10,"time":"2026-03-01T09:00:10.000000Z","event":"auth_failure","instance":"pg1","client":"10.9.9.9:40000","user":"admin","database":"ehr","sqlstate":"28P01","reason":"password","prev_mac":"TwZWUtMtVTk3Y25srgeYDpMI83FJ2_P3zbrWWAYcArg","mac":"YGVrZJivN-OoDBNpM4veDuAA153QYzpFtSqgWFTQfCE"}
	// {"seq":11,"time":"2026-03-01T09:00:00.000000Z","event":"audit_stop","instance":"pg1","prev_mac":"YGVrZJivN-OoDBNpM4veDuAA153QYzpFtSqgWFTQfCE","mac":"1n-tfZfLiAaCV6Ck4zgWbMqKNyTuF4rJyXjoTDRKeIo"}
}
