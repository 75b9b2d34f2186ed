package sqlrewrite

// Kind is the class of one SQL statement, coarse enough to count and to write
// rules about (a role may run reads but not DDL, say).
type Kind uint8

// Statement kinds. KindUnknown is what an unparsable statement gets.
const (
	KindUnknown     Kind = iota
	KindSelect           // SELECT, VALUES, TABLE t
	KindInsert           // INSERT
	KindUpdate           // UPDATE
	KindDelete           // DELETE
	KindMerge            // MERGE
	KindCopy             // COPY
	KindDDL              // CREATE, ALTER, DROP, TRUNCATE, GRANT, COMMENT, ...
	KindTransaction      // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...
	KindSet              // SET, RESET, SHOW
	KindPrepared         // SQL-level PREPARE, EXECUTE, DEALLOCATE
	KindCursor           // DECLARE, FETCH, MOVE, CLOSE
	KindExplain          // EXPLAIN
	KindCall             // CALL, DO
	KindUtility          // everything else: LISTEN, NOTIFY, VACUUM, LOCK, ...
	KindEmpty            // an empty query string or only comments
	numKinds
)

var kindNames = [numKinds]string{
	KindUnknown:     "unknown",
	KindSelect:      "select",
	KindInsert:      "insert",
	KindUpdate:      "update",
	KindDelete:      "delete",
	KindMerge:       "merge",
	KindCopy:        "copy",
	KindDDL:         "ddl",
	KindTransaction: "transaction",
	KindSet:         "set",
	KindPrepared:    "prepared",
	KindCursor:      "cursor",
	KindExplain:     "explain",
	KindCall:        "call",
	KindUtility:     "utility",
	KindEmpty:       "empty",
}

// String returns the lower-case name used in metrics and logs.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// AllKinds lists every kind, for callers that pre-create one metric per kind.
func AllKinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}
