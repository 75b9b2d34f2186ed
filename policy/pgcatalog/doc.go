// Package pgcatalog reads a policy.Catalog from a live PostgreSQL server, so
// that `phiguard check --catalog` can compare a policy with the database it
// protects. It is kept out of package policy so that policy stays free of the
// client library and the wire protocol.
package pgcatalog
