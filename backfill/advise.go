package backfill

import (
	"fmt"
	"io"
	"sort"

	"github.com/phiguard/phiguard/policy"
)

// adviseNext tells the DBA what the finished run makes possible: marking
// columns encrypted (the policy file is the DBA's, so Run prints the change
// rather than making it), retiring old key versions, or dropping a column
// from the policy after a decrypt.
func adviseNext(o Options, t *table, cs map[string]Census, writes map[string]uint32) {
	w := o.Notes
	for _, c := range t.columns {
		n := cs[c.pol.Name]
		switch o.Op {
		case Encrypt, Reencrypt:
			if n.Plaintext > 0 {
				fmt.Fprintf(w, "%s: %d plaintext cells remain (written around phiguard during the run?); run again before marking it encrypted\n",
					c.pol.QualifiedName(), n.Plaintext)
				continue
			}
			if c.pol.PerSubject() && len(n.Versions) > 0 {
				fmt.Fprintf(w, "%s: %d cells are under the column key, not their subject's key, so phiguard shred does not reach them; "+
					"phiguard encrypt --reencrypt moves them\n", c.pol.QualifiedName(), sum(n.Versions))
			}
			adviseTerms(w, c.pol, n.Terms)
			if c.pol.FullyEncrypted() {
				continue
			}
			fmt.Fprintf(w, "%s: no plaintext left. To make plaintext read from it an error, set state: encrypted in the policy and reload phiguard:\n%s",
				c.pol.QualifiedName(), yamlFor(c.pol, policy.StateEncrypted))
		case Decrypt:
			left := sum(n.Versions)
			if n.Subject > 0 {
				fmt.Fprintf(w, "%s: %d cells remain under subject keys (shredded subjects' cells stay sealed for good; others were written during the run)\n",
					c.pol.QualifiedName(), n.Subject)
				continue
			}
			if left > 0 {
				fmt.Fprintf(w, "%s: %d cells remain (written through phiguard during the run); run again\n", c.pol.QualifiedName(), left)
				continue
			}
			fmt.Fprintf(w, "%s: plaintext only. Remove it from the policy, reload phiguard, then run decrypt once more for cells written meanwhile", c.pol.QualifiedName())
			if c.pol.Type.OID != policy.OIDText && c.pol.Type.OID != policy.OIDVarchar || c.pol.Type.Modifier >= 0 {
				fmt.Fprintf(w, "; to restore its type: ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s", t.ident, c.ident, c.pol.Type, c.ident, c.pol.Type)
			}
			fmt.Fprintln(w)
		}
	}
	if o.Op != Reencrypt {
		return
	}
	// Old versions no column of this run still holds.
	keysSeen := map[string]bool{}
	for _, c := range t.columns {
		keysSeen[c.pol.Key] = true
	}
	ids := make([]string, 0, len(keysSeen))
	for id := range keysSeen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		old := false
		for _, c := range t.columns {
			if c.pol.Key != id {
				continue
			}
			for v, k := range cs[c.pol.Name].Versions {
				if v != writes[id] && k > 0 {
					old = true
				}
			}
		}
		if !old {
			fmt.Fprintf(w, "%s: no cell of %s below version %d is left in this table; once every table using the key is done, "+
				"phiguard keys retire --key %s --version N removes an old version (it checks every column first)\n", t.name(), id, writes[id], id)
		}
	}
}

// adviseTerms says where a column's search terms stand after a run with
// no plaintext left (design §7.4). The next step it names is the CHECK,
// which keeps cells without terms out from now on; search_state: ready
// (which lets the proxy search through the terms) comes after it.
func adviseTerms(w io.Writer, c *policy.ProtectedColumn, t *TermsCensus) {
	switch {
	case t == nil:
	case t.Complete() && c.SearchState == policy.SearchRekeying:
		// design §5.3: the term-key change is done; order terms serve again
		// once the policy says ready, and the old version may be retired.
		fmt.Fprintf(w, "%s: every cell carries search terms of version %d (%s): the term-key change is done; set search_state: ready and reload "+
			"(ranges and ORDER BY use the order terms again), then phiguard keys retire --key %s --version N retires an old version nothing else uses\n",
			c.QualifiedName(), c.SearchKeyVersion, t, c.Key)
	case t.Complete():
		fmt.Fprintf(w, "%s: every cell carries search terms of version %d (%s). phiguard search install --check --table %s adds the CHECK "+
			"that refuses a cell without terms written around phiguard\n", c.QualifiedName(), c.SearchKeyVersion, t, c.Table.Name)
	default:
		fmt.Fprintf(w, "%s: search terms not complete (%s); run again (written around phiguard, or by a proxy that writes no terms?)\n",
			c.QualifiedName(), t)
	}
}

// yamlFor is the policy entry of a column with the given state.
func yamlFor(c *policy.ProtectedColumn, st policy.State) string {
	return fmt.Sprintf("    tables:\n      %s:\n        columns:\n          %s: {mode: %s, key: %s, type: %s, state: %s}\n",
		c.Table.Name, policy.QuoteIdentifier(c.Name), c.Mode, c.Key, c.Type, st)
}

func sum(m map[uint32]int64) int64 {
	n := int64(0)
	for _, k := range m {
		n += k
	}
	return n
}

// adviseSkipped says what the run left alone in per-subject columns, and
// what the DBA can do about it.
func adviseSkipped(o Options, t *table, res TableResult) {
	if res.NoSubject > 0 {
		what := "left as they were"
		if o.Op == Reencrypt {
			what = "left as they were, or moved to the column key's write version"
		}
		fmt.Fprintf(o.Notes, "%s: %d cells of columns sealed per subject were %s: their row's subject column %s is NULL, so there is no subject key to seal them under; "+
			"set the subject (or clear the cells) and run again\n", t.name(), res.NoSubject, what, t.pol.SubjectQualifiedName())
	}
	if res.Shredded > 0 {
		if o.Op == Decrypt {
			fmt.Fprintf(o.Notes, "%s: %d cells belong to shredded subjects and stay sealed: their key is destroyed, they turn into nothing\n", t.name(), res.Shredded)
		} else {
			fmt.Fprintf(o.Notes, "%s: %d cells (plaintext, or under the column key) belong to shredded subjects and were left as they are (phiguard seals nothing new for a shredded subject); "+
				"clear them in the database as part of the erasure (UPDATE ... SET col = NULL WHERE %s = ...)\n", t.name(), res.Shredded, t.pol.SubjectColumn)
		}
	}
}
