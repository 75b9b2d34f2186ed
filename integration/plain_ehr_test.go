package integration

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"
)

// The plaintext copies of the suite's EHR (the demo EHR and the data of
// testdata/access-ehr.sql, no RLS, no encryption) that both differential
// checks share: sqlsmith generates its statements against the first, the
// determinism filter runs them on both, the RLS oracle builds its role
// databases beside them, and the transparency check
// (transparency_test.go) holds phiguard's answers against them.
const (
	// oracleGenDB holds the rows in load order, as every other copy and
	// the encrypted databases do.
	oracleGenDB = "ehr_oracle_gen"
	// oracleShuffledDB holds the same rows in another physical order
	// (shuffleRows): a statement that answers differently there depends
	// on row order or plan.
	oracleShuffledDB = "ehr_oracle_shuffled"
)

var plainOnce struct {
	gosync.Mutex
	done bool
	err  error
}

// plainCopies builds oracleGenDB and oracleShuffledDB the first time a
// test asks.
func plainCopies(t *testing.T) {
	t.Helper()
	plainOnce.Lock()
	defer plainOnce.Unlock()
	if !plainOnce.done {
		plainOnce.done = true
		plainOnce.err = buildPlainCopies()
	}
	if plainOnce.err != nil {
		t.Fatalf("plaintext EHR copies: %v", plainOnce.err)
	}
}

func buildPlainCopies() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := loadPlainEHR(ctx, oracleGenDB); err != nil {
		return err
	}
	if err := loadPlainEHR(ctx, oracleShuffledDB); err != nil {
		return err
	}
	if err := withSuperuser(ctx, oracleShuffledDB, shuffleRows); err != nil {
		return fmt.Errorf("%s: %w", oracleShuffledDB, err)
	}
	return nil
}
