package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRedTeam2Reload: a reload that takes rights away does not reach
//   - a session that only sends FunctionCall: bindPolicy runs at Query,
//     Parse and Bind only (protect_client.go), so admin_ann, moved into
//     the billing role, keeps calling query_to_xml by OID as the
//     unrestricted admin until she sends SQL;
//   - a SQL cursor declared before the reload (FETCH is never re-checked),
//     so a WITH HOLD cursor keeps serving rows the new rules hide.
func TestRedTeam2Reload(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	su := accessSuperuser(t)
	var queryToXML uint32
	if err := su.QueryRow(ctx, "SELECT 'query_to_xml(text,boolean,boolean,text)'::regprocedure::oid").Scan(&queryToXML); err != nil {
		t.Fatal(err)
	}
	admin := p.as(t, "admin_ann")
	alice := p.as(t, "dr_alice")
	if queryInt(t, admin, "SELECT 1") != 1 {
		t.Fatal("admin session")
	}
	if _, err := multiRows(ctx, alice, "DECLARE c CURSOR WITH HOLD FOR SELECT id FROM clinical_notes"); err != nil {
		t.Fatal(err)
	}

	// The new policy: admin_ann is a biller (clinical_notes.note deny, no
	// FunctionCall); clinicians may read no clinical note.
	y := bytes.Replace(fx.policyYAML, []byte("users: [admin_ann]"), []byte("users: [nobody_admin]"), 1)
	y = bytes.Replace(y, []byte("users: [biller]"), []byte("users: [biller, admin_ann]"), 1)
	y = bytes.Replace(y, []byte(`clinical_notes: "patient IN (SELECT ct.patient FROM care_teams ct WHERE ct.clinician = current_user)"`), []byte(`clinical_notes: "false"`), 1)
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.ReloadPolicyFile(path); err != nil {
		t.Fatalf("reload: %v", err)
	}

	res, perr := functionCall(ctx, admin.PgConn(), queryToXML,
		[][]byte{[]byte("select note from clinical_notes"), []byte("t"), []byte("f"), []byte("")})
	if perr == nil {
		t.Errorf("after the reload made admin_ann a biller, FunctionCall query_to_xml returned %d bytes of clinical notes (note is deny for billing)", len(res))
	}
	if _, err := multiRows(ctx, admin, "SELECT count(*) FROM clinical_notes"); err != nil {
		t.Logf("admin's next SQL statement: %v", err)
	}
	if rows, err := multiRows(ctx, alice, "FETCH ALL FROM c"); err == nil && len(rows) > 0 {
		t.Errorf("after the reload set dr_alice's clinical_notes rule to false, FETCH from a cursor declared before it returned %d notes", len(rows))
	}
	if rows, err := multiRows(ctx, alice, "SELECT count(*) FROM clinical_notes"); err == nil {
		t.Logf("dr_alice's new SELECT: %v", rows)
	}
}
