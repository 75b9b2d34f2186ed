package integration

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rt13Case is one attack statement of red team 13 and its parameters.
type rt13Case struct {
	sql  string
	args []any
}

// rt13Tally counts what red team 13's attack statements got.
type rt13Tally struct{ same, refused, bothFailed int }

// rt13Run runs c through phiguard and against the plaintext twin in
// both protocols (text results): phiguard must give the twin's rows
// (compared as sorted lines), or refuse with 0A000, or fail as the twin
// fails (the same SQLSTATE). Anything else (other rows, another error)
// fails the test.
func (f *sortFixture) rt13Run(t *testing.T, c rt13Case, tally *rt13Tally) {
	t.Helper()
	for _, mode := range bothModes {
		want, werr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, pgx.TextFormatCode, c.args...)
		got, gerr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode, c.args...)
		var wpe, gpe *pgconn.PgError
		switch {
		case gerr != nil && errors.As(gerr, &gpe) && gpe.Code == "0A000":
			tally.refused++
		case werr != nil && gerr != nil && errors.As(werr, &wpe) && errors.As(gerr, &gpe) && wpe.Code == gpe.Code:
			tally.bothFailed++
		case werr != nil || gerr != nil:
			t.Errorf("%v: %s %v: directly %v, through phiguard %v", mode, c.sql, c.args, werr, gerr)
		case sortedLines(want) != sortedLines(got):
			t.Errorf("%v: %s %v: through phiguard\n%s\ndirectly\n%s", mode, c.sql, c.args, got, want)
		default:
			tally.same++
		}
	}
}

// sameOrRefusedAll runs every case and logs the tally.
func (f *sortFixture) sameOrRefusedAll(t *testing.T, cases []rt13Case) rt13Tally {
	t.Helper()
	var tally rt13Tally
	for _, c := range cases {
		f.rt13Run(t, c, &tally)
	}
	t.Logf("%d statements x 2 protocols: %d same answers, %d refused (0A000), %d failed as PostgreSQL fails",
		len(cases), tally.same, tally.refused, tally.bothFailed)
	return tally
}
