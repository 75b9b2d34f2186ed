package sqlrewrite

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// TestNativeTieBreaker: a plaintext ORDER BY key that can only be one
// column of a protected table, which the session's catalog says is an
// integer or a uuid, is sent as its value under a guard of its type
// ("n" || key::text, "u" || key::text) instead of a
// dense_rank window, with its direction and NULLS on the key; any other
// plaintext key (a second relation that may have the name, USING, a run
// of two keys, a CTE, a column the catalog does not call an integer, no
// catalog) stays ranked, and the rewrite's memo tells the two apart.
func TestNativeTieBreaker(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
`)
	natives := func(table policy.TableName, column string) NativeType {
		switch {
		case table != policy.TableName{Schema: "public", Name: "people"}:
			return NativeNone
		case column == "id" || column == "age":
			return NativeInteger
		case column == "ref":
			return NativeUUID
		}
		return NativeNone
	}
	const native, uuid = "THEN pg_catalog.textcat('n', CAST(", "THEN pg_catalog.textcat('u', CAST("
	cases := []struct {
		sql        string
		key        string // the native key's text, "" for a rank
		desc, nfst bool
	}{
		{"SELECT id, name FROM people ORDER BY name, id", "(id)", false, false},
		{"SELECT p.id, p.name FROM people p ORDER BY p.name, p.age DESC", "p.age", true, true},
		{"SELECT id, name FROM public.people ORDER BY name, public.people.id NULLS FIRST", "public.people.id", false, true},
		{"SELECT id AS n, name FROM people ORDER BY name, n DESC NULLS LAST LIMIT 5", "(id)", true, false},
		{"SELECT id, name FROM people ORDER BY name, 1", "(id)", false, false},
		{"SELECT id, name FROM people WHERE name >= 'm' ORDER BY name, id LIMIT 3", "(id)", false, false},
		{"SELECT id, name FROM people ORDER BY id, name", "(id)", false, false},
		{"SELECT id, name FROM people ORDER BY name, ref DESC", "ref", true, true},
		{"SELECT ref, name FROM people p WHERE name > 'k' ORDER BY name, 1 NULLS FIRST LIMIT 2", "(ref)", false, true},
		// Ranked.
		{"SELECT p.id AS pid, name FROM people p JOIN visits v ON v.person = p.id ORDER BY name, id", "", false, false},
		{"SELECT p.id, name FROM people p JOIN visits v ON v.person = p.id ORDER BY name, id", "(p.id)", false, false}, // the output column
		{"SELECT id, name FROM people ORDER BY name, id USING >", "", false, false},
		{"SELECT id, name FROM people ORDER BY name, id, age", "", false, false},
		{"SELECT id, name FROM people ORDER BY name, zip", "", false, false},
		{"SELECT id, name FROM people ORDER BY name, id + 1", "", false, false},
		{"WITH people AS (SELECT 1 AS id, 'x' AS name) SELECT id, name FROM people ORDER BY name, id", "", false, false},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil {
			if c.key == "" && plan.Refusal == nil {
				continue // not a proxy sort at all (the CTE's people is not the table)
			}
			t.Fatalf("%s: no sort plan (%v)", c.sql, plan.Refusal)
		}
		var out []byte
		var err error
		if plan.Sort.Rounds != nil {
			out, err = RewriteSortRounds([]byte(c.sql), plan.Sort, nil, "1", natives)
		} else {
			out, err = RewriteSortTerms([]byte(c.sql), plan.Sort, nil, natives)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		got := string(out)
		if c.key == "" {
			if strings.Contains(got, native) || strings.Contains(got, uuid) {
				t.Errorf("%s: sent a key as its value:\n%s", c.sql, got)
			}
			continue
		}
		sent := "CASE WHEN CAST(pg_catalog.pg_typeof(" + c.key + ") AS pg_catalog.oid) OPERATOR(pg_catalog.=) ANY (CAST('{20,21,23}' AS pg_catalog.oid[])) " +
			native + c.key + " AS pg_catalog.text)) ELSE pg_catalog.current_setting('phiguard_native_changed:"
		if strings.Contains(c.key, "ref") {
			sent = "CASE WHEN CAST(pg_catalog.pg_typeof(" + c.key + ") AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(2950 AS pg_catalog.oid) " +
				uuid + c.key + " AS pg_catalog.text)) ELSE pg_catalog.current_setting('phiguard_native_changed:"
		}
		if !strings.Contains(got, sent) || strings.Contains(got, "dense_rank") {
			t.Errorf("%s: want %s sent as its value, no rank:\n%s", c.sql, c.key, got)
		}
		found := false
		for _, k := range plan.Sort.Keys {
			if h := plan.Sort.rankOf(k); h != nil && h.native != nil {
				found = true
				if k.Desc != c.desc || k.NullsFirst != c.nfst {
					t.Errorf("%s: key DESC %v NULLS FIRST %v, want %v %v", c.sql, k.Desc, k.NullsFirst, c.desc, c.nfst)
				}
			}
		}
		if !found {
			t.Errorf("%s: no native key in %s", c.sql, plan.Sort)
		}
		// Without the catalog's word, the same plan ranks (and the memo,
		// which has the native text, is not taken for it): a window, or,
		// the run ending the ORDER BY of a statement in one round, the
		// database's ORDER BY and a constant rank (sort_arrival.go).
		again, err := RewriteSortTerms([]byte(c.sql), plan.Sort, nil, nil)
		if plan.Sort.Rounds != nil {
			again, err = RewriteSortRounds([]byte(c.sql), plan.Sort, nil, "1", nil)
		}
		ranked := strings.Contains(string(again), "dense_rank") ||
			plan.Sort.Rounds == nil && strings.Contains(string(again), arrivalRankText+` AS "phiguard hidden"`) && strings.Contains(string(again), " ORDER BY ")
		if err != nil || strings.Contains(string(again), native) || strings.Contains(string(again), uuid) || !ranked {
			t.Errorf("%s: without integer columns, want a rank: %v\n%s", c.sql, err, again)
		}
	}
}

// TestExactRoundCount: a round's k leaves no room for re-check drops
// (1.25·n + 16) when every filter is a >=, <= or BETWEEN sent as an
// order-term range on a type whose order term is exact, or there is no
// filter; any other filter (>, LIKE, text, a filter sent without its
// term this round) keeps the room.
func TestExactRoundCount(t *testing.T) {
	pol := validPolicy(t, `
version: 1
tables:
  public.people:
    columns:
      name: {mode: randomized, key: k, type: text, state: encrypted, search: [equality, order, match], search_key_version: 1, search_state: ready}
      born: {mode: randomized, key: k, type: date, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
      seen: {mode: randomized, key: k, type: timestamptz, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`)
	one := []TermArg{{Value: []byte{1}}}
	two := []TermArg{{Value: []byte{1}}, {Value: []byte{2}}}
	cases := []struct {
		sql   string
		terms [][]TermArg
		exact bool
	}{
		{"SELECT id FROM people ORDER BY born, id LIMIT 100", nil, true},
		{"SELECT id FROM people WHERE born BETWEEN '1950-01-01' AND '1950-03-31' ORDER BY born, id LIMIT 100", [][]TermArg{two}, true},
		{"SELECT id FROM people WHERE born >= '1950-01-01' AND seen <= '2020-01-01 00:00:00+00' ORDER BY born LIMIT 10 OFFSET 5", [][]TermArg{one, one}, true},
		{"SELECT id FROM people WHERE born >= $1 LIMIT 10", [][]TermArg{{{Param: 1}}}, true},
		{"SELECT id FROM people WHERE born > '1950-01-01' ORDER BY born LIMIT 10", [][]TermArg{one}, false},
		{"SELECT id FROM people WHERE born BETWEEN '1950-01-01' AND '1950-03-31' ORDER BY born LIMIT 10", [][]TermArg{nil}, false},
		{"SELECT id FROM people WHERE name BETWEEN 'a' AND 'b' ORDER BY name LIMIT 10", [][]TermArg{two}, false},
		{"SELECT id FROM people WHERE name ILIKE 'gle%' ORDER BY name LIMIT 10", [][]TermArg{{{Value: []byte{1}}, {}}}, false},
		{"SELECT id FROM people WHERE born >= '1950-01-01' AND name ILIKE 'g%' ORDER BY born LIMIT 10", [][]TermArg{one, nil}, false},
	}
	bounds := regexp.MustCompile(`LIMIT (\d+)(?: OFFSET (\d+))?$`)
	for _, c := range cases {
		sp := PlanFor(Analyze(c.sql), pol).Sort
		if sp == nil || sp.Rounds == nil {
			t.Fatalf("%s: no rounds", c.sql)
		}
		out, err := RewriteSortRounds([]byte(c.sql), sp, c.terms, "1", nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		// The LIMIT and OFFSET are literals: k is computed here
		// (constantCount), OFFSET + LIMIT or ceil(1.25·that) + 16.
		m := bounds.FindStringSubmatch(c.sql)
		need, _ := strconv.Atoi(m[1])
		off, _ := strconv.Atoi(m[2] + "0")
		need += off / 10
		k, margin := need, (5*need+3)/4+16
		if !c.exact {
			k, margin = margin, need
		}
		if !strings.Contains(string(out), fmt.Sprintf("FETCH FIRST CAST(%d AS pg_catalog.int8)", k)) ||
			strings.Contains(string(out), fmt.Sprintf("FETCH FIRST CAST(%d AS pg_catalog.int8)", margin)) {
			t.Errorf("%s: want k = %d (exact %v):\n%s", c.sql, k, c.exact, out)
		}
	}
}

// TestNativeChangedRefusal: the native guard's error, as PostgreSQL
// words it, is a 0A000 refusal naming the column; other errors are not.
func TestNativeChangedRefusal(t *testing.T) {
	r, ok := NativeChangedRefusal(`unrecognized configuration parameter "phiguard_native_changed:public.people."Id""`)
	if !ok || r.Code != pgerr.FeatureNotSupported || r.Table != `public.people."Id"` || r.Construct != "ORDER BY" {
		t.Fatalf("got %+v, %v", r, ok)
	}
	if _, ok := NativeChangedRefusal(`unrecognized configuration parameter "phiguard_columns_changed:public.people"`); ok {
		t.Fatal("another guard's error taken for the native guard's")
	}
}
