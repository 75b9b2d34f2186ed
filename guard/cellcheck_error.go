package guard

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
)

// cellCheckRefused words the backend's error when phiguard's cells-only
// CHECK (package cellcheck) refused a row: a value that is not a cell was
// about to be stored in an encrypted column, by a path phiguard's
// analysis did not see (a rule or view another session changed after the
// catalog was read). Nothing was stored. PostgreSQL's DETAIL is "Failing
// row contains (...)": the value in clear and the row's other values, so
// it is dropped for every role, not only for one with rules; the SQLSTATE
// (23514), the constraint, schema and table stay, and the column is named.
// It reports whether it wrote the error itself.
func (s *Session) cellCheckRefused(body []byte) (bool, error) {
	pol := s.policy()
	if pol == nil {
		return false, nil
	}
	if code, _ := pgwire.ErrorField(body, 'C'); pgerr.Code(code) != pgerr.CheckViolation {
		return false, nil
	}
	name, _ := pgwire.ErrorField(body, 'n')
	schema, _ := pgwire.ErrorField(body, 's')
	table, _ := pgwire.ErrorField(body, 't')
	col, ok := cellCheckColumn(pol, string(schema), string(table), string(name))
	if !ok {
		return false, nil
	}
	var er pgproto3.ErrorResponse
	if err := er.Decode(body); err != nil {
		return false, nil
	}
	er.Message = fmt.Sprintf("phiguard: a value not sealed by phiguard was refused for encrypted column %s (CHECK %s); nothing was stored",
		col.QualifiedName(), name)
	er.Detail = "The statement reached the column by a way phiguard did not analyse, such as a rule, trigger or view another session created or changed. The value is not shown."
	er.Hint = "phiguard reads the catalog again before the next statement, and refuses or encrypts by what it finds."
	er.ColumnName = col.Name
	er.Where, er.InternalQuery, er.InternalPosition = "", "", 0
	s.catalogStale.Store(true) // the catalog phiguard analysed the write against is out of date

	return s.sendBackendError(&er, body)
}

// cellCheckColumn is the column whose cells-only CHECK is named
// constraint on relation schema.table. PostgreSQL names the relation the
// row went to: a partition or inheritance child of a protected table,
// which inherited the CHECK under its name, is no table of the policy,
// and its DETAIL shows the value all the same; the CHECK's name is then
// looked up among the protected tables' columns (the first that has it,
// for the wording: the DETAIL is dropped whichever it is).
func cellCheckColumn(pol *policy.Policy, schema, table, constraint string) (*policy.ProtectedColumn, bool) {
	if pt, ok := pol.Table(schema, table); ok {
		return cellcheck.Column(pt, constraint)
	}
	for _, pt := range pol.Tables() {
		if col, ok := cellcheck.Column(pt, constraint); ok {
			return col, true
		}
	}
	return nil, false
}
