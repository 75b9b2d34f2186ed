package guard

import "crypto/sha256"

// One snapshot of a database's names, shared by its sessions (issue 11,
// item 4). Each session reads its catalog on its own backend connection
// (phiguard has no login of its own), but the largest parts of the
// answer do not depend on the session: the name of every relation with
// its schemas (relationsQuery), the name of every column
// (columnNamesQuery), the functions' OUT parameter names (funcOutQuery)
// and the functions that run SQL given as text. None of those queries
// asks for a privilege, the role, the search path or a probe of the
// session's own; they read pg_class, pg_attribute, pg_proc and
// pg_namespace, which every role may read whole. A read computes a
// SHA-256 digest of exactly those rows, as the backend sent them (each
// DataRow's body, which spells its field count and each field's length,
// so that the rows' concatenation is unambiguous) and in the order it
// sent them (which gives each schema its index), and when it completes,
// the database's latest snapshot (Shared.sharedNames) with the same
// digest takes the place of the maps it built, which become garbage; a
// read of other rows (DDL since, a REPEATABLE READ snapshot of before)
// publishes its own as the database's latest, and a session still
// holding an older one keeps it, whole and unchanged, until its own
// next read. The parts that depend on the session stay per catalog: the
// protected tables' columns (noInsert is the role's), the views over
// them, the collations, the CHECK constraints and row security policies
// (small: the protected tables' alone), the search path (path,
// pathRead, whole, checked), madeSince, and the highest relation OID
// (maxOID, which a table made and dropped since changes without changing
// a name). docs/catalog.md, docs/memory.md.

// catalogNames are the parts of a catalog read that depend on the
// database alone (catalog_names.go, catalog_computed.go). Read-only once
// the read that built them has completed: sessions of one database share
// one (catalog.shared).
type catalogNames struct {
	// relations, schemas and more are the names of every relation, with
	// their schemas (relName).
	relations map[string]relName
	schemas   map[string]int32
	more      map[string][]relSchema
	// sqlText are the OIDs of the functions that run SQL given as text.
	sqlText map[uint32]bool
	// attnames are the names of every column of every relation, funcOut
	// those of the functions' OUT parameters.
	attnames map[string]struct{}
	funcOut  map[string]struct{}
	// digest is the SHA-256 of the rows they were built from.
	digest [sha256.Size]byte
}

// noNames stand for a catalog's names when it has none (a catalog made
// by a test): every map nil, as an unread catalog's were.
var noNames = &catalogNames{}

// names are the catalog's database-wide names: read them, never write
// them (another session may be reading them).
func (c *catalog) names() *catalogNames {
	if c.shared == nil {
		return noNames
	}
	return c.shared
}

func newCatalogNames() *catalogNames {
	return &catalogNames{relations: map[string]relName{}, schemas: map[string]int32{}}
}

// own are the names the builder fills: those of its own read, never
// those of a catalog it was copied from (readPathFirst's builder, whose
// answer has no row of them, would make its own if one came).
func (b *catalogBuilder) own() *catalogNames {
	if b.names == nil {
		b.names = newCatalogNames()
	}
	return b.names
}

// addNameRow takes a row of the queries of the database-wide names,
// rows of one field (columnNamesQuery), three (relationsQuery's
// relations), six (funcOutQuery) and two with an empty first field
// (relationsQuery's functions running SQL given as text), and hashes it;
// ok is false for a row of another query (the highest relation OID,
// latestQuery's probes, ...). body is the DataRow's. It takes keyQuery's
// row of eleven fields too, unhashed (catalog_coalesce.go).
func (b *catalogBuilder) addNameRow(v [][]byte, body []byte) (ok bool, err error) {
	switch len(v) {
	case 11:
		b.coal.addKey(v)
		return true, nil
	case 1:
		b.addColumnName(v[0])
	case 3:
		b.addRelation(v)
	case 6:
		b.addFuncOut(v[0])
	case 2:
		if v[0] == nil || len(v[0]) > 0 {
			return false, nil
		}
		if err := b.addCatalogOID(v); err != nil {
			return true, err
		}
	default:
		return false, nil
	}
	b.hashRow(body)
	return true, nil
}

// hashRow adds a DataRow's body to the digest of the names' rows.
func (b *catalogBuilder) hashRow(body []byte) {
	if b.digest == nil {
		b.digest = sha256.New()
	}
	b.digest.Write(body)
}

// share, once a read has completed, puts the database's latest names in
// the place of the read's when they were built from the same rows, or
// publishes the read's as the latest (srv nil: tests of a builder alone
// keep their own), and returns the catalog read.
func (b *catalogBuilder) share(srv *Shared, database string) *catalog {
	if b.names == nil || b.cat.shared != b.names || b.failure != "" || b.cat.whole != nil {
		return b.cat // the path alone (readPathFirst), or a failed read, which is not stored
	}
	if b.digest == nil {
		b.digest = sha256.New()
	}
	b.digest.Sum(b.names.digest[:0])
	if srv != nil {
		b.cat.shared = srv.sharedNames(database, b.names)
	}
	b.names = nil // no row after this one writes into them
	return b.cat
}

// sharedNames returns the database's latest names when they were built
// from the same rows as n, else keeps n as its latest.
func (srv *Shared) sharedNames(database string, n *catalogNames) *catalogNames {
	got, result := srv.latestNames(database, n)
	if m := srv.metrics; m != nil && m.CatalogNames != nil {
		m.CatalogNames.WithLabelValues(result).Inc()
	}
	return got
}

func (srv *Shared) latestNames(database string, n *catalogNames) (*catalogNames, string) {
	srv.namesMu.Lock()
	defer srv.namesMu.Unlock()
	if prev := srv.names[database]; prev != nil && prev.digest == n.digest {
		return prev, "shared"
	}
	if srv.names == nil {
		srv.names = map[string]*catalogNames{}
	}
	srv.names[database] = n
	return n, "published"
}
