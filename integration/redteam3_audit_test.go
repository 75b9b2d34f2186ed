package integration

import (
	"testing"
	"time"
)

// TestRedTeam3FetchAuditStale: whether a FETCH reads PHI is decided when
// its text passes the client pump (noteCursors, guard/cursors.go), from
// the session's cursor entries at that moment, and kept with a prepared
// statement (stmtInfo.readsPHI); onExecute re-checks only staleness. So
//   - a FETCH prepared while c is a cursor over no table, executed after
//     c was closed and declared again over clinical_notes, reserves no
//     audit record: it runs while the trail is down (where the same
//     SELECT is refused 58030);
//   - a Parse of "DECLARE c ... FOR SELECT 1", never executed, makes the
//     real cursor c over clinical_notes count as no PHI: the same.
func TestRedTeam3FetchAuditStale(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p, sink, a := startAuditedAccessProxy(t, fx)
	ctx := testContext(t)
	prepared := p.as(t, "dr_alice")
	for _, sql := range []string{
		"DECLARE c CURSOR WITH HOLD FOR SELECT 1",
	} {
		if _, err := multiRows(ctx, prepared, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := prepared.Prepare(ctx, "f", "FETCH ALL FROM c"); err != nil {
		t.Fatal(err)
	}
	if _, err := multiRows(ctx, prepared, "CLOSE c; DECLARE c CURSOR WITH HOLD FOR SELECT patient, note FROM clinical_notes"); err != nil {
		t.Fatal(err)
	}
	parsed := p.as(t, "dr_alice")
	if _, err := multiRows(ctx, parsed, "DECLARE c CURSOR WITH HOLD FOR SELECT patient, note FROM clinical_notes"); err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.Prepare(ctx, "d", "DECLARE c CURSOR WITH HOLD FOR SELECT 1"); err != nil {
		t.Fatal(err)
	}

	sink.set(true)
	defer sink.set(false) // the auditor's Close waits for the sink
	waitUnhealthy(t, a, prepared)
	if _, err := multiRows(ctx, prepared, "SELECT patient, note FROM clinical_notes LIMIT 5"); err == nil {
		t.Fatal("the SELECT ran while the audit trail was down")
	}
	res := prepared.PgConn().ExecPrepared(ctx, "f", nil, nil, nil).Read()
	if res.Err == nil {
		t.Errorf("a FETCH prepared before its cursor was declared again over clinical_notes returned %d notes while the audit trail was down", len(res.Rows))
	}
	if rows, err := multiRows(ctx, parsed, "FETCH ALL FROM c"); err == nil {
		t.Errorf("after a Parse-only DECLARE of the same name, FETCH from a cursor over clinical_notes returned %d notes while the audit trail was down", len(rows))
	}
	sink.set(false)
	for deadline := time.Now().Add(10 * time.Second); a.Healthy() != nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
}
