package pgvalue

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// testSeed is the seed of a randomized comparison with PostgreSQL. make
// test runs a fixed sample (seed 1); PGVALUE_SEED picks another, or
// "random" a new one each run, for exploring. Seed 20261205 still finds
// an interval[] element PostgreSQL reads and phiguard refuses (a refusal,
// not another value).
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(1)
	switch s := os.Getenv("PGVALUE_SEED"); s {
	case "":
	case "random":
		seed = uint64(time.Now().UnixNano())
	default:
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PGVALUE_SEED: %v", err)
		}
	}
	t.Logf("seed %d (PGVALUE_SEED=%d replays this run)", seed, seed)
	return seed
}
