package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team 5: which table a name means (two schemas, search_path, a
// temporary table, partitions and inheritance) and reads after another
// session's DDL.

// TestRedTeam5SameNameTwoSchemas: the policy protects a table of one name
// in two schemas, ssn in public's and dob in the other's (which sorts
// first). An unqualified name goes where search_path says (public);
// phiguard planned it for the policy's first table of that name, where
// ssn is not encrypted, and the SSN went into public's encrypted ssn
// column in clear (INSERT with a column list, UPDATE), or a COPY's fields
// were encrypted for the other table's columns. Now such a name is
// refused; a qualified one works.
func TestRedTeam5SameNameTwoSchemas(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	schema, table := uniqueName("a_rt5s"), uniqueName("rt5same")
	su := superuser(t)
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + appUser,
		"CREATE TABLE public." + table + " (id int, ssn text, note text)",
		"CREATE TABLE " + schema + "." + table + " (id int, dob text, ssn text)",
		"GRANT ALL ON public." + table + ", " + schema + "." + table + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	pol := fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n      ssn: {mode: deterministic, key: rt5s-k, type: text}\n  %s.%s:\n    columns:\n      dob: {mode: randomized, key: rt5s-r, type: text}\n", table, schema, table)
	p := startProxy(t, proxyOptions{protect: protection(t, pol)})
	via := p.app(t)
	for _, q := range []string{
		"INSERT INTO " + table + " (id, ssn) VALUES (1, '" + rt5SSN + "')",
		"INSERT INTO " + table + " (id, ssn) VALUES ($1, $2)",
		"UPDATE " + table + " SET ssn = '" + rt5SSN + "' WHERE id = 1",
	} {
		var err error
		if strings.Contains(q, "$1") {
			_, err = via.Exec(ctx, q, pgx.QueryExecModeExec, 2, rt5SSN)
		} else {
			_, err = via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		}
		t.Logf("%s: %v", q, err)
	}
	_, err := via.PgConn().CopyFrom(ctx, strings.NewReader("3\t"+rt5SSN+"\tx\n"), "COPY "+table+" FROM STDIN")
	t.Logf("COPY: %v", err)
	var leaked int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM public."+table+" e WHERE e::text LIKE '%"+rt5SSN+"%' OR ssn NOT LIKE '~phg~AQEGcnQ1cy1r%'").Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d row(s) of public.%s hold the SSN in clear or a cell not sealed with its ssn key", leaked, table)
	}
	if _, err := via.Exec(ctx, "INSERT INTO public."+table+" (id, ssn) VALUES (4, '"+rt5SSN+"')"); err != nil {
		t.Fatalf("a qualified name: %v", err)
	}
	var ssn string
	if err := via.QueryRow(ctx, "SELECT ssn FROM public."+table+" WHERE id = 4").Scan(&ssn); err != nil || ssn != rt5SSN {
		t.Fatalf("read back through the qualified name: %q, %v", ssn, err)
	}
}

// TestRedTeam5TableElsewhere: phiguard fills a missing column list from
// the protected table a bare name matches, but PostgreSQL resolves the
// name under search_path, where a temporary table, or a table in a schema
// earlier in the path created after the session read its catalog, comes
// first. The guard checked the protected table's columns, which had not
// changed, so the statement ran with the protected table's order on the
// other table: the SSN went, in clear, into its note column. The guard
// now also checks that the name resolves to the protected table.
func TestRedTeam5TableElsewhere(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	for _, c := range []struct {
		what  string
		setup func(tw *twin) (other string)
	}{
		{"a temporary table", func(tw *twin) string {
			if _, err := tw.via.Exec(ctx, "CREATE TEMP TABLE "+tw.enc+" (id int, ssn text, note text)"); err != nil {
				t.Fatal(err)
			}
			return "pg_temp." + tw.enc
		}},
		{"a table in a schema earlier in search_path", func(tw *twin) string {
			schema := uniqueName("rt5else_s")
			if _, err := su.Exec(ctx, "CREATE SCHEMA "+schema+"; GRANT ALL ON SCHEMA "+schema+" TO "+appUser); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.via.Exec(ctx, "SET search_path = "+schema+", public"); err != nil {
				t.Fatal(err)
			}
			if _, err := su.Exec(ctx, "CREATE TABLE "+schema+"."+tw.enc+" (id int, ssn text, note text); GRANT ALL ON "+schema+"."+tw.enc+" TO "+appUser); err != nil {
				t.Fatal(err)
			}
			return schema + "." + tw.enc
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			tw := newTwin(t, "rt5else", rt5DefaultCols("rt5else-k")...)
			if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			other := c.setup(tw)
			_, ierr := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" VALUES (1, '"+rt5SSN+"', 'x')", pgx.QueryExecModeSimpleProtocol)
			_, cerr := tw.via.PgConn().CopyFrom(ctx, strings.NewReader("2\t"+rt5SSN+"\tx\n"), "COPY "+tw.enc+" FROM STDIN")
			t.Logf("INSERT: %v; COPY: %v", ierr, cerr)
			var leaked int
			if err := tw.via.QueryRow(ctx, "SELECT count(*) FROM "+other+" WHERE note = '"+rt5SSN+"'", pgx.QueryExecModeSimpleProtocol).Scan(&leaked); err != nil {
				t.Fatal(err)
			}
			if leaked != 0 {
				t.Fatalf("%d row(s) of %s hold the SSN in clear in note, where PostgreSQL's order puts it in ssn", leaked, other)
			}
			for _, err := range []error{ierr, cerr} {
				if err != nil && rt4Code(err) != "0A000" {
					t.Errorf("refused with %v, want 0A000", err)
				}
			}
			if _, err := tw.via.Exec(ctx, "INSERT INTO public."+tw.enc+" VALUES (3, 'y', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("the qualified name: %v", err)
			}
			rt5NoPlain(t, tw)
		})
	}
}

// TestRedTeam5PartitionsAndChildren: a partition or inheritance child of
// a protected table stores its rows in the protected table, and a
// protected partition stores the rows written through its parent; none
// of those names is in the policy, so phiguard planned writes through
// them as plaintext: the SSN was stored in clear in the protected column,
// and came back in clear through the protected table. Writes and reads
// through them are refused now, as through a view.
func TestRedTeam5PartitionsAndChildren(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	part, inh, up := uniqueName("rt5part"), uniqueName("rt5inh"), uniqueName("rt5up")
	su := superuser(t)
	for _, q := range []string{
		"CREATE TABLE " + part + " (id int, ssn text) PARTITION BY RANGE (id)",
		"CREATE TABLE " + part + "_p1 PARTITION OF " + part + " FOR VALUES FROM (0) TO (100)",
		"CREATE TABLE " + inh + " (id int, ssn text)",
		"CREATE TABLE " + inh + "_c () INHERITS (" + inh + ")",
		"CREATE TABLE " + up + " (id int, ssn text) PARTITION BY RANGE (id)",
		"CREATE TABLE " + up + "_p1 PARTITION OF " + up + " FOR VALUES FROM (0) TO (100)",
		"GRANT ALL ON " + strings.Join([]string{part, part + "_p1", inh, inh + "_c", up, up + "_p1"}, ", ") + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	col := "    columns:\n      ssn: {mode: deterministic, key: rt5part-k, type: text}\n"
	pol := "version: 1\ntables:\n  public." + part + ":\n" + col + "  public." + inh + ":\n" + col + "  public." + up + "_p1:\n" + col
	p := startProxy(t, proxyOptions{protect: protection(t, pol)})
	via := p.app(t)
	for _, rel := range []string{part + "_p1", inh + "_c", up} {
		for _, q := range []string{
			"INSERT INTO " + rel + " (id, ssn) VALUES (1, '" + rt5SSN + "')",
			"UPDATE " + rel + " SET ssn = '" + rt5SSN + "'",
		} {
			_, err := via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
			t.Logf("%s: %v", q, err)
			if err != nil && rt4Code(err) != "0A000" {
				t.Errorf("%s: %v, want success or 0A000", q, err)
			}
		}
		_, err := via.PgConn().CopyFrom(ctx, strings.NewReader("2\t"+rt5SSN+"\n"), "COPY "+rel+" (id, ssn) FROM STDIN")
		t.Logf("COPY %s: %v", rel, err)
	}
	for _, rel := range []string{part, inh, up} {
		var leaked int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM "+rel+" WHERE ssn = '"+rt5SSN+"'").Scan(&leaked); err != nil {
			t.Fatal(err)
		}
		if leaked != 0 {
			t.Errorf("%d row(s) of %s (or its partitions and children) hold the SSN in clear", leaked, rel)
		}
	}
	// The protected tables themselves work.
	for _, rel := range []string{part, inh, up + "_p1"} {
		if _, err := via.Exec(ctx, "INSERT INTO "+rel+" (id, ssn) VALUES (3, '"+rt5SSN+"')"); err != nil {
			t.Fatalf("INSERT INTO %s: %v", rel, err)
		}
		var ssn string
		if err := via.QueryRow(ctx, "SELECT ssn FROM "+rel+" WHERE id = 3").Scan(&ssn); err != nil || ssn != rt5SSN {
			t.Fatalf("read back from %s: %q, %v", rel, ssn, err)
		}
	}
	// Reading through a partition would return the cells as they are.
	var got string
	err := via.QueryRow(ctx, "SELECT ssn FROM "+part+"_p1 WHERE id = 3", pgx.QueryExecModeSimpleProtocol).Scan(&got)
	if strings.HasPrefix(got, "~phg~") || (err == nil && got != rt5SSN) {
		t.Errorf("read through the partition: %q, %v", got, err)
	}
}

// TestRedTeam5ReadAfterOtherSessionReAdds: another session drops the
// encrypted column and adds it again (a migration that recreates it):
// its attribute number changes. The reading session maps result columns
// to protected ones by table OID and attribute number from its catalog,
// which nothing marked stale (no DDL of its own, no reload, no filled
// statement): every read of ssn returned the stored cells. A result
// field of a protected table that the catalog does not know now marks
// it stale, so the next statement is right (the first one is not, nor a
// statement prepared on the stale catalog:
// TestRedTeam5FirstReadAfterOtherSessionReAdds).
func TestRedTeam5ReadAfterOtherSessionReAdds(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			tw := rt5ReAdded(t)
			first, _ := rt4Rows(tw.via, "SELECT id, ssn FROM "+tw.enc, mode)
			t.Logf("first read: %q", first)
			tw.same(t, "SELECT id, ssn FROM %s WHERE id > 0", mode, "the next statement")
		})
	}
}

// TestRedTeam5FirstReadAfterOtherSessionReAdds: the first read after
// that DDL returned the stored ~phg~ cells (its RowDescription shows a
// column the catalog does not know). It is refused now (40001, the
// columns changed), and so is each execution of a statement described
// before the DDL (pgx's statement cache) until it is prepared again: a
// refusal, never the cells.
func TestRedTeam5FirstReadAfterOtherSessionReAdds(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			tw := newTwin(t, "rt5first", rt5DefaultCols("rt5first-k")...)
			tw.exec(t, "INSERT INTO %s (id, note, ssn) VALUES (1, 'x', '"+rt5SSN+"')", mode)
			tw.same(t, "SELECT id, ssn FROM %s", mode, "before the DDL") // described and cached
			for _, table := range []string{tw.enc, tw.plain} {
				if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN ssn; ALTER TABLE "+table+" ADD COLUMN ssn text"); err != nil {
					t.Fatal(err)
				}
			}
			tw.exec(t, "INSERT INTO %s (id, note, ssn) VALUES (2, 'y', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol)
			for i := 0; i < 2; i++ {
				got, err := rt4Rows(tw.via, "SELECT id, ssn FROM "+tw.enc, mode)
				if strings.Contains(got, "~phg~") {
					t.Fatalf("read %d after the DDL returned cells: %q", i+1, got)
				}
				if err != nil && rt4Code(err) != "40001" {
					t.Fatalf("read %d after the DDL: %v, want the rows or 40001", i+1, err)
				}
			}
		})
	}
}

// rt5ReAdded is the default twin after another session dropped and
// re-added ssn, with a row written through phiguard after that.
func rt5ReAdded(t *testing.T) *twin {
	t.Helper()
	ctx := testContext(t)
	tw := newTwin(t, "rt5readd", rt5DefaultCols("rt5readd-k")...)
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN ssn; ALTER TABLE "+table+" ADD COLUMN ssn text"); err != nil {
			t.Fatal(err)
		}
	}
	tw.exec(t, "INSERT INTO %s (id, note, ssn) VALUES (1, 'x', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol)
	rt5NoPlain(t, tw)
	return tw
}
