package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The access-policy suite's database users. walkin is bound to no role and
// gets the built-in default role; the others are bound by
// testdata/access-policy.yml.
const (
	accessDB       = "ehr_access"
	accessPassword = "access-pw"
)

var accessUsers = []string{"dr_alice", "dr_bob", "biller", "researcher", "admin_ann", "walkin"}

// Hand-written filters, run as the superuser straight on PostgreSQL: what
// each row rule should leave visible.
const (
	aliceSees = "(SELECT patient FROM care_teams WHERE clinician = 'dr_alice')"
	consented = "(SELECT patient FROM consents WHERE purpose = 'research' AND granted)"
)

// accessEHR is the suite's database: the demo EHR with the example
// policy's columns encrypted at rest, extended by testdata/access-ehr.sql.
type accessEHR struct {
	policyYAML []byte
	keyring    *keys.Keyring
	subjects   *keys.SubjectKeys // per-patient keys of the subject-sealed columns
	// patients are the Synthea rows by id, as in the CSV.
	patients map[string]syntheaPatient
	// hidden is a patient of dr_bob's care team that dr_alice does not
	// treat; hiddenNote one of its notes. aliceOnly is one of dr_alice's
	// patients dr_bob does not treat.
	hidden, aliceOnly string
	hiddenNote        int64
	// visible counts patients per user as the hand-written filters see them.
	alicePatients, bobPatients, consentedPatients, aliceNotes int
}

type syntheaPatient struct{ SSN, First, Last, Zip string }

var accessOnce struct {
	gosync.Mutex
	fx  *accessEHR
	err error
}

// accessFixture builds the suite's database the first time a test asks
// and returns the same one afterwards.
func accessFixture(t *testing.T) *accessEHR {
	t.Helper()
	accessOnce.Lock()
	defer accessOnce.Unlock()
	if accessOnce.fx == nil && accessOnce.err == nil {
		accessOnce.fx, accessOnce.err = buildAccessEHR(t)
	}
	if accessOnce.err != nil {
		t.Fatalf("access fixture: %v", accessOnce.err)
	}
	return accessOnce.fx
}

func buildAccessEHR(t *testing.T) (*accessEHR, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fx := &accessEHR{}
	var err error
	if fx.policyYAML, err = os.ReadFile("testdata/access-policy.yml"); err != nil {
		return nil, err
	}
	extension, err := os.ReadFile("testdata/access-ehr.sql")
	if err != nil {
		return nil, err
	}
	if fx.patients, err = syntheaPatients(); err != nil {
		return nil, err
	}
	pol, err := parsePolicy(fx.policyYAML)
	if err != nil {
		return nil, fmt.Errorf("testdata/access-policy.yml: %w", err)
	}
	if fx.keyring, err = keyringFor(pol, policy.DefaultPseudonymKey); err != nil {
		return nil, err
	}
	if keysconfig.NeedsSubjectKeys(pol) {
		// The fixture outlives the test that builds it, so not t.TempDir.
		dir, err := os.MkdirTemp("", "phiguard-access-subjects-")
		if err != nil {
			return nil, err
		}
		store, err := local.New(filepath.Join(dir, "keyring.json"), keys.NewSecret(make([]byte, local.MasterKeySize)))
		if err != nil {
			return nil, err
		}
		if fx.subjects, err = keys.NewSubjectKeys(fx.keyring, store, keys.SubjectKeysOptions{}); err != nil {
			return nil, err
		}
	}

	for _, u := range accessUsers {
		if err := pg.CreateUser(ctx, u, accessPassword, false); err != nil {
			return nil, err
		}
	}
	if err := pg.CreateDatabase(ctx, accessDB, ""); err != nil {
		return nil, err
	}
	su, err := pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, accessDB))
	if err != nil {
		return nil, err
	}
	defer su.Close(context.Background())
	// Patients go in through a phiguard that encrypts per the example
	// policy (no roles, so the superuser's COPY is not an access question)
	// with the suite's keyring; ehrdemo.LoadProtected copies the other
	// tables, which hold no protected column, straight in.
	example, err := os.ReadFile("../examples/policy.yml")
	if err != nil {
		return nil, err
	}
	loadPol, err := parsePolicy(example)
	if err != nil {
		return nil, err
	}
	loader := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: loadPol, Keyring: fx.keyring, Subjects: fx.subjects}})
	via, err := pgx.Connect(ctx, loader.url(pg.Superuser, pg.Password, accessDB))
	if err != nil {
		return nil, err
	}
	defer via.Close(context.Background())
	if _, err := ehrdemo.LoadProtected(ctx, su, via); err != nil {
		return nil, err
	}
	if _, err := su.Exec(ctx, "ANALYZE; "+string(extension), pgx.QueryExecModeSimpleProtocol); err != nil {
		return nil, fmt.Errorf("testdata/access-ehr.sql: %w", err)
	}

	for _, q := range []struct {
		dst any
		sql string
	}{
		{&fx.hidden, "SELECT patient::text FROM care_teams WHERE clinician = 'dr_bob' AND patient NOT IN " + aliceSees + " ORDER BY patient LIMIT 1"},
		{&fx.aliceOnly, "SELECT patient::text FROM care_teams WHERE clinician = 'dr_alice' AND patient NOT IN (SELECT patient FROM care_teams WHERE clinician = 'dr_bob') ORDER BY patient LIMIT 1"},
		{&fx.alicePatients, "SELECT count(*)::int FROM " + aliceSees + " a"},
		{&fx.bobPatients, "SELECT count(*)::int FROM care_teams WHERE clinician = 'dr_bob'"},
		{&fx.consentedPatients, "SELECT count(*)::int FROM " + consented + " c"},
		{&fx.aliceNotes, "SELECT count(*)::int FROM clinical_notes WHERE patient IN " + aliceSees},
	} {
		if err := su.QueryRow(ctx, q.sql).Scan(q.dst); err != nil {
			return nil, fmt.Errorf("%s: %w", q.sql, err)
		}
	}
	if err := su.QueryRow(ctx, "SELECT min(id) FROM clinical_notes WHERE patient = $1", fx.hidden).Scan(&fx.hiddenNote); err != nil {
		return nil, err
	}
	return fx, nil
}

func syntheaPatients() (map[string]syntheaPatient, error) {
	records, err := ehrdemo.Records("patients")
	if err != nil {
		return nil, err
	}
	out := map[string]syntheaPatient{}
	for _, r := range records {
		out[r["id"]] = syntheaPatient{SSN: r["ssn"], First: r["first"], Last: r["last"], Zip: r["zip"]}
	}
	return out, nil
}

func parsePolicy(b []byte) (*policy.Policy, error) {
	pol, err := sqlrewrite.ParsePolicy(b)
	if err == nil {
		err = pol.Validate()
	}
	return pol, err
}

// keyringFor holds version 1 of every key id the policy's tables name, and
// of the extra ids (the pseudonym key).
func keyringFor(pol *policy.Policy, extra ...string) (*keys.Keyring, error) {
	seen := map[string]bool{}
	var dks []keys.DataKey
	add := func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		dk, err := keys.GenerateDataKey(id, 1, time.Now())
		if err == nil {
			dks = append(dks, dk)
		}
		return err
	}
	for _, id := range keysconfig.KeyIDs(pol) {
		if err := add(id); err != nil {
			return nil, err
		}
	}
	for _, id := range extra {
		if err := add(id); err != nil {
			return nil, err
		}
	}
	return keys.NewKeyring(dks)
}

// startAccessProxy starts a phiguard enforcing the suite's policy.
func startAccessProxy(t *testing.T, fx *accessEHR) *phiguard {
	t.Helper()
	return startProxy(t, accessProxyOptions(t, fx))
}

// accessProxyOptions are the options startAccessProxy starts phiguard with.
func accessProxyOptions(t *testing.T, fx *accessEHR) proxyOptions {
	t.Helper()
	pol, err := parsePolicy(fx.policyYAML)
	if err != nil {
		t.Fatal(err)
	}
	return proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: fx.keyring, Subjects: fx.subjects}}
}

// as connects to the suite's database through p as one of accessUsers.
func (p *phiguard) as(t *testing.T, user string) *pgx.Conn {
	t.Helper()
	return connect(t, p.url(user, accessPassword, accessDB))
}

// accessSuperuser connects straight to the suite's database as the
// superuser, where the hand-written filters run.
func accessSuperuser(t *testing.T) *pgx.Conn {
	t.Helper()
	return connect(t, directURL(pg.Superuser, pg.Password, accessDB))
}
