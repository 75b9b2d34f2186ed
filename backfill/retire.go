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
// of keyID version v, with their counts; nil when none does. Search terms
// (CheckRetireTerms) are checked apart.
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

// CheckRetireTerms refuses to retire version v of keyID while the search
// terms of a column need it (docs/design/search-terms.md §5.3): a column
// of the key whose search_key_version is v (its writes derive terms from
// it), or whose census counts cells with terms of version v (a search
// while rekeying looks for them, and `phiguard encrypt` has not rewritten
// them yet). Retiring it would make those cells unfindable by their terms.
func CheckRetireTerms(pol *policy.Policy, cs map[string]Census, keyID string, v uint32) error {
	var uses, held []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.Key == keyID && c.Search != 0 && c.SearchKeyVersion == v {
				uses = append(uses, c.QualifiedName())
			}
		}
	}
	for col, c := range cs {
		if n := c.TermVersions[v]; n > 0 {
			held = append(held, fmt.Sprintf("%s (%d cells)", col, n))
		}
	}
	sort.Strings(uses)
	sort.Strings(held)
	var why []string
	if len(uses) > 0 {
		why = append(why, fmt.Sprintf("it is the search_key_version of %s (move them to another version with search_state: rekeying first)", strings.Join(uses, ", ")))
	}
	if len(held) > 0 {
		why = append(why, fmt.Sprintf("search terms of cells in %s derive from it (run phiguard encrypt, which rewrites them to the column's search_key_version, until its census shows no old version)", strings.Join(held, ", ")))
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("key %s version %d is still needed by search terms: %s; retiring it would make those rows unfindable through their terms",
		keyID, v, strings.Join(why, "; "))
}
