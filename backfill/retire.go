package backfill

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// KeyCensus counts the cells of every policy column that uses keyID, by
// qualified column name, in one scan per table. A table or column missing
// from the database is an error: Retire must not conclude "no cells left"
// from a table it could not read.
func KeyCensus(ctx context.Context, conn *pgx.Conn, pol *policy.Policy, keyID string) (map[string]Census, error) {
	out := map[string]Census{}
	for _, pt := range pol.Tables() {
		var names []string
		for _, c := range pt.Columns {
			if c.Key == keyID {
				names = append(names, c.Name)
			}
		}
		if len(names) == 0 {
			continue
		}
		t, err := describe(ctx, conn, pt, names)
		if err != nil {
			return nil, err
		}
		cs, err := census(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		for _, c := range t.columns {
			out[c.pol.QualifiedName()] = cs[c.pol.Name]
		}
	}
	return out, nil
}

// CheckRetire returns an error naming every column that still holds cells
// of keyID version v, with their counts; nil when none does.
func CheckRetire(cs map[string]Census, keyID string, v uint32) error {
	var held []string
	for col, c := range cs {
		if n := c.Versions[v]; n > 0 {
			held = append(held, fmt.Sprintf("%s (%d cells)", col, n))
		}
	}
	if len(held) == 0 {
		return nil
	}
	sort.Strings(held)
	return fmt.Errorf("key %s version %d still encrypts cells in %s; run phiguard encrypt --reencrypt first, "+
		"since retiring the version would make them unreadable", keyID, v, strings.Join(held, ", "))
}
