package pgvalue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phiguard/phiguard/policy"
)

// TestAssignAgainstPostgres: a parameter declared as one number type and
// bound to a column of another is stored by PostgreSQL 15 as Assign
// computes it (or both refuse, with the same SQLSTATE where Assign names
// one), for every pair of smallint, integer, bigint, real, double
// precision and numeric(10,2), in text and binary.
func TestAssignAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	seed := testSeed(t)
	names := []string{"smallint", "integer", "bigint", "real", "double precision", "numeric", "numeric(10,2)"}
	agreed := 0
	for i, toName := range names {
		to := mustType(t, toName)
		table := fmt.Sprintf("a%d", i)
		if err := exec(ctx, conn, fmt.Sprintf("CREATE TEMP TABLE %s (c %s)", table, toName)); err != nil {
			t.Fatal(err)
		}
		insert := fmt.Sprintf("INSERT INTO %s VALUES ($1) RETURNING c", table)
		for j, fromName := range names {
			from := mustType(t, fromName)
			if from.OID == to.OID || from.Modifier >= 0 { // a declared type has no modifier
				continue
			}
			rng := rand.New(rand.NewPCG(seed, uint64(i*10+j)))
			for n := 0; n < 60; n++ {
				format := int16(n % 2)
				var in []byte
				if format == FormatText {
					in = []byte(assignText(rng, from))
				} else {
					in = genMoreBinaryNumber(rng, from)
				}
				pg, pgErr := query(ctx, conn, insert, in, from.OID, format, 0)
				got, ok, err := Converter{}.Assign(from, to, format, in)
				if !ok {
					t.Fatalf("Assign(%s, %s) not handled", fromName, toName)
				}
				var ce *Error
				var pe *pgconn.PgError
				switch {
				case errors.As(err, &ce) && ce.Unsupported:
				case err != nil && pgErr != nil:
					if errors.As(err, &ce) && errors.As(pgErr, &pe) && ce.Code != "" && string(ce.Code) != pe.Code {
						t.Errorf("%s %q (format %d) into %s: PostgreSQL %s (%s), Assign %s", fromName, in, format, toName, pe.Code, pe.Message, ce.Code)
					}
				case err != nil || pgErr != nil || string(got) != string(pg):
					t.Errorf("%s %q (format %d) into %s: PostgreSQL %q (%v), Assign %q (%v)", fromName, in, format, toName, pg, pgErr, got, err)
				default:
					agreed++
				}
			}
		}
	}
	t.Logf("%d conversions agreed", agreed)
}

func assignText(r *rand.Rand, t policy.LogicalType) string {
	switch t.OID {
	case 21, 23, 20:
		return fmt.Sprint(pick(r, int64(r.IntN(2000)-1000), int64(r.Uint32()), int64(r.Uint64()), 32767, -32768, 2147483647, 40000))
	case 700, 701:
		return genFloat(r, t.OID == 700)
	}
	return pick(r, "1.5", "2.5", "-2.5", "0.005", "123456789.987", "NaN", "Infinity", "1e20", "-0.5", "32767.5", "99999999.995", fmt.Sprintf("%d.%d", r.IntN(100000), r.IntN(1000)))
}

func genMoreBinaryNumber(r *rand.Rand, t policy.LogicalType) []byte {
	if t.OID == 1700 {
		canon, err := Canonical(t, FormatText, []byte(assignText(r, t)))
		if err != nil {
			return []byte{0}
		}
		b, _ := Present(t, FormatBinary, canon)
		return b
	}
	if t.OID == 700 || t.OID == 701 {
		return genMoreBinary(r, t)
	}
	return genBinary(r, t)
}
