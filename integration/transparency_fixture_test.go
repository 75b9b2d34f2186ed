package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
)

// The transparency check's databases: the plaintext EHR (oracleGenDB,
// shared with the RLS oracle) and the same rows in transparencyDB with the
// columns of testdata/transparency-policy.yml encrypted at rest, loaded
// through phiguard. The user transparentUser has every privilege on both,
// and through phiguard the policy's one role, which may see everything.
const (
	transparencyDB   = "ehr_transparency"
	transparentUser  = "transparent"
	transparentPassw = "transparent-pw"
)

// transparencyEHR is what a transparency test needs to start phiguard on
// the encrypted database.
type transparencyEHR struct {
	protect *guard.Protection
}

var transparencyOnce struct {
	gosync.Mutex
	fx  *transparencyEHR
	err error
}

// transparencyFixture builds the encrypted database the first time a test
// asks (and the plaintext copies, if no test has yet).
func transparencyFixture(t *testing.T) *transparencyEHR {
	t.Helper()
	plainCopies(t)
	transparencyOnce.Lock()
	defer transparencyOnce.Unlock()
	if transparencyOnce.fx == nil && transparencyOnce.err == nil {
		transparencyOnce.fx, transparencyOnce.err = buildTransparencyEHR(t)
	}
	if transparencyOnce.err != nil {
		t.Fatalf("transparency fixture: %v", transparencyOnce.err)
	}
	return transparencyOnce.fx
}

func buildTransparencyEHR(t *testing.T) (*transparencyEHR, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prot, err := transparencyProtection()
	if err != nil {
		return nil, err
	}
	if err := pg.CreateUser(ctx, transparentUser, transparentPassw, false); err != nil {
		return nil, err
	}
	if err := pg.CreateDatabase(ctx, transparencyDB, ""); err != nil {
		return nil, err
	}
	su, err := pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, transparencyDB))
	if err != nil {
		return nil, err
	}
	defer su.Close(context.Background())
	if err := execAll(ctx, su, ehrdemo.Schema()+atRestAsText(prot.Policy)); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	// Every table goes in through phiguard, which encrypts the protected
	// columns in the COPY stream and passes the others through.
	loader := startProxy(t, proxyOptions{protect: prot, quiet: true})
	via, err := pgx.Connect(ctx, loader.url(pg.Superuser, pg.Password, transparencyDB))
	if err != nil {
		return nil, err
	}
	defer via.Close(context.Background())
	for _, table := range ehrdemo.Tables() {
		if _, err := ehrdemo.CopyTable(ctx, via, table); err != nil {
			return nil, fmt.Errorf("load %s: %w", table, err)
		}
	}
	// The rest of the suite's EHR reads no encrypted column: straight in,
	// as loadPlainEHR does on the plaintext copies.
	if err := execAll(ctx, su, "ANALYZE"); err != nil {
		return nil, err
	}
	data, err := accessEHRData()
	if err != nil {
		return nil, err
	}
	if err := execAll(ctx, su, data+"; ANALYZE"); err != nil {
		return nil, fmt.Errorf("testdata/access-ehr.sql: %w", err)
	}
	for _, db := range []string{transparencyDB, oracleGenDB, oracleShuffledDB} {
		if err := withSuperuser(ctx, db, grantEverything); err != nil {
			return nil, fmt.Errorf("%s: %w", db, err)
		}
	}
	return &transparencyEHR{protect: prot}, nil
}

// transparencyProtection parses testdata/transparency-policy.yml and makes
// the keys it names, subject keys included.
func transparencyProtection() (*guard.Protection, error) {
	b, err := os.ReadFile("testdata/transparency-policy.yml")
	if err != nil {
		return nil, err
	}
	b = []byte(strings.ReplaceAll(string(b), "__SUPERUSER__", pg.Superuser))
	pol, err := parsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("testdata/transparency-policy.yml: %w", err)
	}
	ring, err := keyringFor(pol)
	if err != nil {
		return nil, err
	}
	// The fixture outlives the test that builds it, so not t.TempDir.
	dir, err := os.MkdirTemp("", "phiguard-transparency-subjects-")
	if err != nil {
		return nil, err
	}
	store, err := local.New(filepath.Join(dir, "keyring.json"), keys.NewSecret(make([]byte, local.MasterKeySize)))
	if err != nil {
		return nil, err
	}
	subjects, err := keys.NewSubjectKeys(ring, store, keys.SubjectKeysOptions{})
	if err != nil {
		return nil, err
	}
	return &guard.Protection{Policy: pol, Keyring: ring, Subjects: subjects}, nil
}

// atRestAsText is the change `phiguard encrypt` makes to the schema: each
// protected column that is not text holds text cells.
func atRestAsText(pol *policy.Policy) string {
	var sql string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.Type.Name != "text" {
				sql += fmt.Sprintf(";\nALTER TABLE %s ALTER COLUMN %s TYPE text",
					pgx.Identifier{t.Name.Schema, t.Name.Name}.Sanitize(), pgx.Identifier{c.Name}.Sanitize())
			}
		}
	}
	return sql
}

// grantEverything gives transparentUser what the superuser may do with
// the EHR's objects, so that both sides run as the same ordinary user.
func grantEverything(ctx context.Context, su *pgx.Conn) error {
	u := pgx.Identifier{transparentUser}.Sanitize()
	return execAll(ctx, su, fmt.Sprintf(`GRANT ALL ON ALL TABLES IN SCHEMA public TO %[1]s;
		GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO %[1]s;
		GRANT ALL ON SCHEMA public TO %[1]s`, u))
}
