package audit

// SubjectSet collects the subject ids of one table seen in a statement's
// result (or the rows it changed), listing at most max distinct ids and
// counting the values beyond. The proxy makes one per table with a subject
// column that the statement touches, calls Add for each row, and hands it
// to Statement.Subjects. Not safe for concurrent use.
type SubjectSet struct {
	s    Subjects
	max  int
	seen map[string]struct{}
}

// NewSubjectSet starts a set for table.column listing at most max ids.
func NewSubjectSet(table, column string, max int) *SubjectSet {
	return &SubjectSet{s: Subjects{Table: table, Column: column}, max: max}
}

// Add records one row's subject id.
func (ss *SubjectSet) Add(id string) {
	if _, ok := ss.seen[id]; ok {
		return
	}
	if len(ss.s.IDs) >= ss.max {
		ss.s.Omitted++
		return
	}
	if ss.seen == nil {
		ss.seen = make(map[string]struct{})
	}
	ss.seen[id] = struct{}{}
	ss.s.IDs = append(ss.s.IDs, id)
}

// NotInResult marks that the statement's result did not carry the subject
// column, so which subjects it touched is unknown.
func (ss *SubjectSet) NotInResult() { ss.s.NotInResult = true }
