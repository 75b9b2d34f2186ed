package sqlrewrite

// The caches are bounded by bytes, so each entry needs a cost: an estimate
// of the heap it keeps alive, which must err high (the budget is a bound
// only if no entry holds more than it is charged). The constants come
// from measuring (TestCacheCostsBoundTheHeap checks them against
// runtime.MemStats for statement families from one line to 60 KB);
// docs/memory.md turns them into the proxy's worst-case formula.
const (
	// treeNodeBytes is one message of a pg_query parse tree as the Go
	// protobuf runtime holds it (measured 69 to 80 bytes).
	treeNodeBytes = 96
	// planSlotBytes is one ValueSlot of a plan and its SubjectRef. A plan
	// has at most one slot per literal or parameter.
	planSlotBytes = 80
	// normalizedLiteralBytes is what Normalized adds per literal ("7"
	// becomes "$1234"), and 2 bytes more: with 8, the heap of 6 KB texts
	// of 400 string literals was 0.3-0.5 % over the account under -race
	// (TestCacheCostsBoundTheHeap, in-ssn-6KB, on a CI run).
	normalizedLiteralBytes = 10
	// analysisBytes is an Analysis, its plan entry and Plan without slots
	// (the Plan is 280 bytes, a 288-byte size class, since stop 38's
	// Lacking: 32 bytes more than before).
	analysisBytes = 544
	// statementBytes is a Statement (240 bytes, a 256-byte size class;
	// TestStatementBytesCoverTheStruct).
	statementBytes = 256
	// nameBytes is a name of Statement.Columns or Defined: its string
	// header in a slice grown by appending, and the string's own block.
	nameBytes     = 40
	tableBytes    = 32
	accessBytes   = 192
	decisionBytes = 64
	templateBytes = 256
)

// cost is the bytes a cached analysis may hold: its text, the normalized
// text and the plan it may come to hold, and, while it still holds it, its
// parse tree. The plan is charged for every literal whether or not the
// policy protects it: it is made after the entry is stored, and a policy
// reload may make a bigger one. A plan made knowing a catalog
// (PlanKnowing), rare, is charged once made, at the cache's next recount.
func (a *Analysis) cost() int64 {
	n := a.leanCost()
	if a.tree.Load() != nil {
		n += int64(a.nodes * treeNodeBytes)
	}
	return n
}

// leanCost is cost without the parse tree.
func (a *Analysis) leanCost() int64 {
	n := analysisBytes + 2*textBytes(len(a.sql)) + a.literals*(normalizedLiteralBytes+planSlotBytes)
	for _, st := range a.Statements {
		n += statementBytes + len(st.Cursor) + len(st.Prepares) + len(st.Executes) + len(st.Deallocates)
		for _, t := range st.Tables {
			n += tableBytes + len(t.Schema) + len(t.Name)
		}
		for _, r := range st.repeated {
			n += 16 + len(r)
		}
		for _, names := range [][]string{st.Columns, st.Defined} {
			for _, c := range names {
				n += nameBytes + textBytes(len(c))
			}
		}
	}
	if a.Err != nil {
		n += len(a.Err.Message)
	}
	if a.known.Load() != nil {
		n += a.literals * planSlotBytes // a plan made knowing a catalog (PlanKnowing)
	}
	return int64(n)
}

// textBytes is what a string of n bytes takes on the heap: allocation
// size classes round up by at most an eighth.
func textBytes(n int) int { return n + n/8 }

// accessCost is the bytes a cached rewrite holds beyond its key (an
// unchanged rewrite's text shares the key's memory).
func accessCost(acc *Access) int64 {
	n := accessBytes
	if acc.Changed {
		n += textBytes(len(acc.SQL))
	}
	for _, d := range acc.Decisions {
		n += decisionBytes + len(d.Table) + len(d.Column) + len(d.Rule) + len(d.Effect)
	}
	if r := acc.Refusal; r != nil {
		n += accessBytes + len(r.Table) + len(r.Construct) + len(r.Rule) + len(r.Message)
	}
	if acc.BreakGlass != nil {
		n += 32 + len(acc.BreakGlass.Reason)
	}
	return int64(n)
}

// templateCost is the bytes a shape's template holds beyond its key.
func templateCost(t *accessTemplate) int64 {
	return templateBytes + int64(textBytes(len(t.text))+4*len(t.ends)+4*len(t.holes)) + accessCost(&t.acc)
}
