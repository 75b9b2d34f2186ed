package sqlrewrite

import (
	"fmt"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// Use says why a value is encrypted: it is stored in a protected column, or
// it is compared with one (so it must be encrypted deterministically under
// that column's key to match).
type Use uint8

const (
	UseWrite Use = iota + 1
	UseCompare
)

func (u Use) String() string {
	if u == UseCompare {
		return "compare"
	}
	return "write"
}

// ValueSlot is one value in a statement that the proxy must encrypt before
// the statement reaches the backend: a literal, named by its index among the
// text's literals (so one plan serves every text of a shape), or a
// parameter $n.
type ValueSlot struct {
	Literal int // index into the text's literals; -1 for a parameter
	Param   int // the n of $n; 0 for a literal
	// Token is, for a compared parameter, the index of this occurrence
	// among the text's $n tokens (ParamSpans), so the proxy can find it
	// in the text; -1 when unknown or not needed.
	Token  int
	Column *policy.ProtectedColumn
	Use    Use
	// Form says where a compared literal or parameter stands, so that
	// the proxy can replace it with the cells of every live key version
	// during a re-encryption (CompareOther: it cannot, and compares one
	// cell).
	Form CompareForm
	// Subject is where the row's subject id comes from, for a write into
	// a column sealed per subject (Column.PerSubject); nil otherwise.
	Subject *SubjectRef
	// Before and After widen a literal to the expression that holds it, a
	// constant written with a cast or a sign ('…'::date, -5,
	// CAST('…' AS date), DATE '…'): the proxy replaces the Before bytes
	// ahead of the literal, the literal and the After bytes behind it
	// with the cell. Negative: the value is the literal negated
	// (planner_fold.go).
	Before, After int
	Negative      bool
	// Explicit: the value reaches the column through an explicit cast to
	// the column's type (planner_case.go), which truncates a string too
	// long for a varchar(n) or char(n) where an assignment fails.
	// (Beside Negative: the two bools share a word, so that the slot
	// stays 88 bytes, which memory.go's planSlotBytes was measured on.)
	Explicit bool
	// ReadAs is, for a constant cast to another type than the column's
	// ('2024-11-03 01:30'::timestamp into a timestamptz column), the OID
	// of that type: the proxy reads the literal as it first, then as the
	// column's type (planner_fold.go, castReadAs). 0 for none.
	ReadAs uint32
	// IntBits is, for a constant written into an integer or numeric
	// column with a cast to an integer type it does not read as
	// (pgjdbc's simple mode sends setLong as ('5'::int8) whatever the
	// column), the cast's width: 16, 32 or 64. The value must be an
	// integer of that width, as the cast PostgreSQL runs before its
	// assignment requires. 0 otherwise.
	IntBits int
	// Array is, for an ARRAY[...] constructor of constants written into
	// an encrypted array column (planner_array.go), its elements: the
	// proxy builds the array's text from them. Literal is then the
	// first element's literal, Before the bytes from the constructor's
	// start to it, and After the bytes from the last element's literal
	// (ArrayConst.Last) to the constructor's end. nil otherwise.
	Array *ArrayConst
}

// SubjectRef is the value of a written row's subject column: a literal
// (by index, as ValueSlot.Literal) or a parameter $n.
type SubjectRef struct {
	Literal int // -1 for a parameter
	Param   int
}

// CompareForm is the syntactic place of a compared value.
type CompareForm uint8

const (
	// CompareOther: anything but the forms below (a value left of the
	// column, a value in a computed expression).
	CompareOther CompareForm = iota
	// CompareEq: `col = v`, v right of the column.
	CompareEq
	// CompareNe: `col <> v` or `col != v`, v right of the column.
	CompareNe
	// CompareIn: an item of `col IN (...)` or `col NOT IN (...)`.
	CompareIn
	// CompareItem: `col = v` or `col <> v` sent as `col = ANY(ARRAY[v,
	// <gate item>])` (ALL for <>), an item of phiguard's own array
	// (PlaceArray, operator_guard.go).
	CompareItem
)

func (v ValueSlot) String() string {
	what := fmt.Sprintf("literal #%d", v.Literal)
	if v.Literal < 0 {
		what = fmt.Sprintf("$%d", v.Param)
	}
	if v.Negative {
		what = "-" + what
	}
	if v.Before > 0 || v.After > 0 {
		what += fmt.Sprintf(" (folded: %d bytes before, %d after)", v.Before, v.After)
	}
	if t, ok := v.ReadAsType(); ok {
		what += " (read as " + t.Name + ")"
	}
	if v.IntBits > 0 {
		what += fmt.Sprintf(" (a %d-bit integer)", v.IntBits)
	}
	if v.Explicit {
		what += " (explicit cast)"
	}
	if v.Array != nil {
		what += fmt.Sprintf(" (array %v of %v through literal #%d)", v.Array.Dims, v.Array.Elems, v.Array.Last)
	}
	return fmt.Sprintf("%s %s %s", what, v.Use, v.Column.QualifiedName())
}

// Refusal is why a statement must not reach the backend: it uses an
// encrypted column in a way that cannot work on ciphertext (SQLSTATE 0A000,
// feature not supported), or a role's access rules forbid it (42501,
// insufficient privilege). The proxy sends it as an ErrorResponse.
type Refusal struct {
	Code      pgerr.Code
	Column    *policy.ProtectedColumn // nil when the refusal is about a table
	Table     string                  // schema.table
	Construct string                  // what was refused, e.g. "LIKE", "ORDER BY"
	// Rule names the access rule that refused the statement ("clinician:
	// rows of public.patients", "billing: statements"); empty for an
	// encryption refusal.
	Rule string
	// Message, when set, is the whole message (access refusals build their
	// own, naming table, column and rule).
	Message string
}

// PgError is the refusal as the client receives it. A refusal without a
// code is an access refusal (42501).
func (r *Refusal) PgError() *pgerr.Error {
	code := r.Code
	if code == "" {
		code = pgerr.InsufficientPrivilege
	}
	return pgerr.New(code, r.Error())
}

func (r *Refusal) Error() string {
	if r.Message != "" {
		return r.Message
	}
	if r.Column == nil && r.Table == "" {
		return r.Construct
	}
	if r.Column != nil {
		return fmt.Sprintf("column %s is encrypted (%s): %s cannot run on it through phiguard",
			r.Column.QualifiedName(), r.Column.Mode, r.Construct)
	}
	return fmt.Sprintf("table %s has encrypted columns: %s is not supported on it through phiguard", r.Table, r.Construct)
}

// Plan is what the proxy must do to a statement text before forwarding it
// under a policy: encrypt the listed values, or refuse the whole text.
type Plan struct {
	Values  []ValueSlot
	Refusal *Refusal
	// Copy is set for a COPY whose rows the proxy must rewrite.
	Copy *CopyPlan
	// Defaults lists protected columns given DEFAULT, or left out of an
	// INSERT: fine when the column has no default (NULL is stored),
	// refused by the proxy otherwise, since a default expression would be
	// stored unencrypted.
	Defaults []*policy.ProtectedColumn
	// DefaultsUnguarded: Defaults is set in a shape the VALUES guard has
	// no place in (INSERT ... SELECT, DEFAULT VALUES, an INSERT among
	// several statements of one Query): the proxy reads the catalog
	// before it (guard/catalog_fresh.go); GuardNoDefaults adds the guard
	// to the INSERT ... SELECT and DEFAULT VALUES it can
	// (default_guard_select.go).
	DefaultsUnguarded bool
	// Cuts are text the proxy replaces before sending the statement: the
	// CAST around a CASE whose values it encrypts (planner_case.go), a
	// qualifier before a name bound by the catalog (Qualified), a probe
	// that inner items lack a name bound past them (Lacking).
	Cuts []TextCut
	// Operators are the comparisons the database evaluates on cells of
	// deterministic columns, each sent with the check that PostgreSQL
	// resolves its operator to pg_catalog's (operator_guard.go); with
	// Sort, their one check is the WHERE's first conjunct (GateWhere),
	// and a comparison PostgreSQL could fold has its own in the operand
	// too (TextGuards).
	Operators []OperatorGuard
	// Unshadowed are the unqualified names the plan takes for an
	// encrypted column of an outer query level, and the inner tables
	// that must have no column of that name for PostgreSQL to agree
	// (scope_columns.go); the guard checks them in the session's
	// catalog. A refused plan has them too: where the catalog says an
	// inner table has the name, the guard plans again (PlanKnowing).
	Unshadowed []Unshadowed
	// Notation are the qualified names the plan takes for plain columns
	// of a protected table, which must have them (else column notation).
	Notation []Notation
	// Shadowed are the unqualified names a plan made knowing the
	// catalog (PlanKnowing) binds to an inner table's column, where the
	// plan without it took the outer encrypted column: the inner table
	// must still have the column when the statement runs.
	Shadowed []Unshadowed
	// Qualified are those names that are sent qualified with the inner
	// table's item, so that PostgreSQL binds them there or fails
	// (scope_qualify.go).
	Qualified []QualifiedName
	// Lacking are the names whose inner items the text sent checks lack
	// them, so that PostgreSQL fails the statement where one has gained
	// the name (scope_probe.go).
	Lacking []LackedName
	// Sort is set for a SELECT whose ORDER BY the proxy evaluates
	// (planner_sort.go); the text sent is RewriteSort's.
	Sort *SortPlan
	// OrderPositions are ORDER BY positions (1-based) of the statement's
	// own SELECT that fall on or after a * over a protected table: which
	// column each is, only the result's description says, and the proxy
	// refuses the result when it is an encrypted one, which the database
	// would have sorted as ciphertext (planner_sort.go).
	OrderPositions []int
	// Protected is true when the text names a protected table at all; a
	// plan with Protected false is a plain passthrough.
	Protected bool
}

// LeavesNames says whether the plan rests on the session's catalog for
// how names bind (Unshadowed, Notation, Shadowed): DDL the catalog has
// not seen may change it.
func (p *Plan) LeavesNames() bool {
	return len(p.Unshadowed) > 0 || len(p.Notation) > 0 || len(p.Shadowed) > 0
}

// TextGuards are the operator checks placed around their comparisons in
// the client's text: all of them, unless the text sent is RewriteSort's
// (then OperatorGate and GateWhere place one check of all, and only
// those whose comparison PostgreSQL could fold are placed in the text
// too: sortedPlacements).
func (p *Plan) TextGuards() []OperatorGuard {
	if p.Sort != nil {
		return p.Sort.textGuards
	}
	return p.Operators
}
