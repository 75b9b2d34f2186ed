package guard

// phiguard's catalog query runs in the client's session, under the
// search_path the client set. Its operators, casts and aggregates
// (`c.oid <> d.refobjid`, `n.nspname::text`, bool_or) are looked up
// there: an operator of a schema put before pg_catalog, or a domain
// named text in pg_temp (searched for types even before pg_catalog),
// took their place, and the query found no view reading a protected
// table, so a write through one stored a name in clear
// (TestRedTeam14CatalogUnderSearchPath). So the query runs under
// search_path pg_catalog, pg_temp (pg_temp last: then it is searched for
// nothing pg_catalog has), set local to the transaction by a first
// statement that saves the client's setting and put back by a last one;
// both are qualified throughout, as they are read under the client's
// setting. Outside a transaction block the Query is its own implicit
// transaction, which ends the local setting anyway; inside the client's,
// the setting put back is the client's, local as before or not. Neither
// returns a row.

const (
	pinSearchPath = `SELECT WHERE pg_catalog.set_config('search_path', pg_catalog.concat('pg_catalog, pg_temp',
  pg_catalog.left(pg_catalog.set_config('phiguard.client_search_path', pg_catalog.current_setting('search_path'), true), 0)), true) IS NULL;
`
	restoreSearchPath = `;
SELECT WHERE pg_catalog.set_config('search_path', pg_catalog.current_setting('phiguard.client_search_path'), true) IS NULL`
)

// underCatalogPath wraps q, phiguard's own statements, so that they run
// under search_path pg_catalog, pg_temp.
func underCatalogPath(q string) string { return pinSearchPath + q + restoreSearchPath }
