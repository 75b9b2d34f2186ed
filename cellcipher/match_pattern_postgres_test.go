package cellcipher_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/internal/pgcollate"
)

// TestMatchPatternAgainstPostgres is slice 6's rule against PostgreSQL 15
// (docs/design/search-terms.md §4.5): generated values (textGen's case,
// accents, ß, punctuation, other scripts, and names) and patterns cut from
// them (prefixes, infixes, suffixes, _ and % in place of characters, case
// changed, % _ and \ escaped, ESCAPE with another character or none) are
// matched by PostgreSQL's LIKE and ILIKE under C and en_US.utf8. For every
// pair PostgreSQL matches, the value's cell terms (M and X, computed as a
// write computes them) hold the pattern's: no false negative. The pattern
// is taken in the form like_escape gives, as phiguard reads it.
func TestMatchPatternAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TERMS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (TERMS_SEED=%d replays this run)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 6))
	tm := termKeys(t)
	col := termColumn(t, "text")
	var vals []string
	for len(vals) < 150 {
		vals = append(vals, strings.ReplaceAll(textGen(r), "\x00", ""))
	}
	type pat struct{ p, e string } // e: "-" for no ESCAPE clause
	var pats []pat
	for len(pats) < 80 {
		p, e := genPattern(r, vals[r.IntN(len(vals))])
		pats = append(pats, pat{p, e})
	}
	var vl, pl []string
	for i, v := range vals {
		vl = append(vl, fmt.Sprintf("(%d, '%s')", i, strings.ReplaceAll(v, "'", "''")))
	}
	for i, p := range pats {
		e := "NULL"
		if p.e != "-" {
			e = "'" + strings.ReplaceAll(p.e, "'", "''") + "'"
		}
		pl = append(pl, fmt.Sprintf("(%d, '%s', %s)", i, strings.ReplaceAll(p.p, "'", "''"), e))
	}
	setup := fmt.Sprintf(`DROP TABLE IF EXISTS mv, mp; CREATE TEMP TABLE mv (i int, v text); INSERT INTO mv VALUES %s;
CREATE TEMP TABLE mp (i int, p text, e text); INSERT INTO mp VALUES %s`, strings.Join(vl, ","), strings.Join(pl, ","))
	if _, err := conn.Exec(ctx, setup).ReadAll(); err != nil {
		t.Fatal(err)
	}
	pairs, matched, withTerms, candidates := 0, 0, 0, 0
	for _, coll := range []string{"C", "en_US.utf8"} {
		var loc *pgcollate.Locale
		if coll != "C" {
			loc = openLocale(t, coll)
		}
		// Each value's cell terms, as SealWithTerms computes them.
		type cellTerms struct {
			m map[string]bool
			x string
		}
		cells := make([]cellTerms, len(vals))
		for i, v := range vals {
			n, err := cellcipher.MatchInput(col, loc, []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			cells[i] = cellTerms{m: map[string]bool{}, x: cellcipher.PrefixToken(tm, n)}
			for _, tok := range cellcipher.MatchTokens(tm, n) {
				cells[i].m[tok] = true
			}
		}
		for _, op := range []string{"LIKE", "ILIKE"} {
			q := fmt.Sprintf(`SELECT mp.i, CASE WHEN mp.e IS NULL THEN mp.p ELSE like_escape(mp.p, mp.e) END,
  array_to_string(ARRAY(SELECT mv.i FROM mv WHERE CASE WHEN mp.e IS NULL THEN mv.v COLLATE "%[1]s" %[2]s mp.p
    ELSE mv.v COLLATE "%[1]s" %[2]s mp.p ESCAPE mp.e END ORDER BY mv.i), ',')
FROM mp ORDER BY mp.i`, coll, op)
			res, err := conn.Exec(ctx, q).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range res[0].Rows {
				pairs += len(vals)
				pattern := row[1]
				for _, prefixKey := range []bool{false, true} {
					pt, err := cellcipher.MatchPatternTerms(tm, loc, pattern, prefixKey)
					if err != nil {
						continue // a pattern ending in its escape: no term
					}
					if prefixKey && !pt.Empty() {
						withTerms++
					}
					for _, id := range strings.Split(string(row[2]), ",") {
						if id == "" {
							continue
						}
						i := atoi(t, []byte(id))
						if prefixKey {
							matched++
						}
						c := cells[i]
						if pt.Prefix != "" && pt.Prefix != c.x {
							t.Errorf("%s: %q %s %q: the prefix key differs", coll, vals[i], op, pattern)
						}
						for _, tok := range pt.Tokens {
							if !c.m[tok] {
								t.Errorf("%s: %q %s %q: token %s not in the cell's", coll, vals[i], op, pattern, tok)
							}
						}
					}
					if prefixKey && !pt.Empty() {
						for i := range vals {
							if holds(pt, cells[i].m, cells[i].x) {
								candidates++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d pattern x value pairs (2 collations x LIKE, ILIKE): %d matches in PostgreSQL, all with the pattern's terms; %d of %d patterns with terms, %d candidates for them",
		pairs, matched, withTerms, 4*len(pats), candidates)
	if pairs < 10000 || matched < 500 || withTerms < len(pats) {
		t.Fatalf("too weak: %d pairs, %d matches, %d patterns with terms", pairs, matched, withTerms)
	}
}

func holds(pt cellcipher.PatternTerms, m map[string]bool, x string) bool {
	if pt.Prefix != "" && pt.Prefix != x {
		return false
	}
	for _, tok := range pt.Tokens {
		if !m[tok] {
			return false
		}
	}
	return true
}

// genPattern cuts a LIKE pattern from a value: a prefix, infix or suffix
// or the whole, some characters replaced by _ or case changed, % around,
// and metacharacters of the value escaped by \ or by another ESCAPE
// character ("" ESCAPE, no escape at all, when the value has none).
func genPattern(r *rand.Rand, v string) (string, string) {
	cps := []rune(v)
	a, b := 0, len(cps)
	if len(cps) > 0 {
		a = r.IntN(len(cps))
		b = a + r.IntN(len(cps)-a+1)
	}
	switch r.IntN(4) {
	case 0:
		a = 0
	case 1:
		b = len(cps)
	}
	esc := pick(r, `\`, `\`, "#", "-")
	if esc == "#" && strings.Contains(v, "#") {
		esc = `\`
	}
	var p strings.Builder
	if a > 0 || r.IntN(5) == 0 {
		p.WriteString(pick(r, "%", "_", "%"))
	}
	for _, c := range cps[a:b] {
		switch {
		case r.IntN(12) == 0:
			p.WriteByte('_')
			continue
		case r.IntN(15) == 0:
			p.WriteByte('%')
		case r.IntN(4) == 0:
			c = []rune(strings.ToUpper(string(c)))[0]
		case r.IntN(4) == 0:
			c = []rune(strings.ToLower(string(c)))[0]
		}
		if strings.ContainsRune(`%_\#`, c) && esc != "-" {
			e := esc
			if e == "-" {
				e = `\`
			}
			p.WriteString(e)
		}
		p.WriteRune(c)
	}
	if b < len(cps) || r.IntN(5) == 0 {
		p.WriteString(pick(r, "%", "_", "%_"))
	}
	if r.IntN(10) == 0 {
		return pick(r, "%", "", "_%_", "%a%", `%\%%`), "-"
	}
	return p.String(), esc
}
