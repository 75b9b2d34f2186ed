package proxy

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/keys"
)

// The kill switch from the proxy's side: after SwapKeys puts a withdrawn
// keyring in, nothing derived from the keys before (here the pseudonym
// keyer a described statement kept) may still serve a statement.

// TestKillSwitchPseudonymOfPreparedStatement: a statement prepared and
// described while the keys were held, executed again after they were
// withdrawn without being described again (pgx's statement cache), must
// not pseudonymize with the keyer of the withdrawn keyring.
func TestKillSwitchPseudonymOfPreparedStatement(t *testing.T) {
	p := startAccessProxy(t, accessPolicy)
	bob := p.connect(t, "bob")
	const q = "SELECT id, ssn FROM patients WHERE id = 1"
	rows := rowsText(t, bob, q, pgx.QueryExecModeCacheStatement)
	if len(rows) != 1 || !strings.HasPrefix(rows[0][1], keys.PseudonymPrefix) {
		t.Fatalf("before the withdrawal: %v", rows)
	}
	p.srv.protect.SwapKeys(keys.Withdrawn(errors.New("revoked by the test")), nil)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		var id int
		var ssn string
		err := bob.QueryRow(context.Background(), q, mode).Scan(&id, &ssn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "58000" || !strings.Contains(pe.Message, `"pseudonym"`) ||
			!strings.Contains(pe.Message, "withdrawn") {
			t.Errorf("mode %v: withdrawn, got %q, %v; want 58000 naming the withdrawn pseudonym key", mode, ssn, err)
		}
	}
}

// TestKillSwitchPolicyReloadWhileWithdrawn: an operator who withdraws the
// keys during a breach may tighten the policy too. That reload must not
// be refused because the keys are withdrawn (it was: every key id it
// names looked missing), or the older, wider policy comes back into force
// with the keys. A policy naming a key phiguard never held is still
// refused.
func TestKillSwitchPolicyReloadWhileWithdrawn(t *testing.T) {
	p := startAccessProxy(t, accessPolicy)
	held := p.srv.protect.InForce()
	p.srv.protect.SwapKeys(keys.Withdrawn(errors.New("revoked by the test")), nil)
	writeFile(t, p.file, strings.Replace(accessPolicy, "patients.ssn: pseudonym", "patients.ssn: deny", 1))
	if err := p.srv.ReloadPolicyFile(p.file); err != nil {
		t.Fatalf("a tightened policy refused while the keys are withdrawn: %v", err)
	}
	p.srv.protect.SwapKeys(held, nil)
	bob := p.connect(t, "bob")
	_, err := bob.Exec(context.Background(), "SELECT id, ssn FROM patients", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("after the keys came back: %v, want the tightened policy's 42501", err)
	}

	p.srv.protect.SwapKeys(keys.Withdrawn(errors.New("revoked by the test")), nil)
	writeFile(t, p.file, strings.Replace(accessPolicy, "{pseudonym: research-psn}", "{pseudonym: never-held}", 1))
	if err := p.srv.ReloadPolicyFile(p.file); err == nil || !strings.Contains(err.Error(), "never-held") {
		t.Errorf("a policy naming a key never held, while withdrawn: %v", err)
	}
}

// TestKillSwitchPreparedStatementKeepsNoKeyring: what a session keeps of
// a statement it prepared under the keys (to tell, at its Bind, whether
// they changed since) is no reference to them: after a withdrawal the
// keyring is freed even while the statement stays prepared.
func TestKillSwitchPreparedStatementKeepsNoKeyring(t *testing.T) {
	p := startAccessProxy(t, accessPolicy+`
tables:
  public.patients:
    columns:
      note: {mode: deterministic, key: spare, type: text}
`)
	dave := p.connect(t, "dave")
	ctx := context.Background()
	if _, err := dave.Prepare(ctx, "by_note", "SELECT id FROM patients WHERE note = 'n1'"); err != nil {
		t.Fatal(err)
	}
	held := weak.Make(p.srv.protect.InForce())
	p.srv.protect.SwapKeys(keys.Withdrawn(errors.New("revoked by the test")), nil)
	runtime.GC()
	runtime.GC()
	if held.Value() != nil {
		t.Error("the keyring the statement was prepared under is still reachable after the withdrawal")
	}
	_, err := dave.Exec(ctx, "by_note")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58000" {
		t.Errorf("by_note after the withdrawal: %v, want 58000", err)
	}
}
