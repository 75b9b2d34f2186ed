package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam14SettingInTrigger: TestRedTeam12SettingInFunction's
// attack with the set_config run where phiguard's count of function
// calls does not look: a trigger of an unprotected table, an operator
// backed by a user function, a column default. A request pipelined
// behind one (another Query, a Parse after its Sync, a Parse in its
// segment) was lexed by PostgreSQL with standard_conforming_strings off
// and phiguard read it with it on: the UPDATE stored the name in clear
// in the encrypted column. Each must now be refused, or wait for the
// answer whose report ends the session.
func TestRedTeam14SettingInTrigger(t *testing.T) {
	t.Parallel()
	f := newSetInFunctionFixture(t)
	sch := uniqueName("rt14scs")
	setup := fmt.Sprintf(`CREATE SCHEMA %[1]s;
CREATE FUNCTION %[1]s.off() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_catalog.set_config('standard_conforming_strings', 'off', false); RETURN 1; END $$;
CREATE FUNCTION %[1]s.opf(int, int) RETURNS int LANGUAGE sql AS $$ SELECT %[1]s.off() $$;
CREATE OPERATOR %[1]s.### (LEFTARG = int, RIGHTARG = int, FUNCTION = %[1]s.opf);
CREATE FUNCTION %[1]s.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM %[1]s.off(); RETURN NEW; END $$;
CREATE TABLE %[1]s.side (x int);
CREATE TRIGGER side_off BEFORE INSERT ON %[1]s.side FOR EACH ROW EXECUTE FUNCTION %[1]s.trg();
CREATE TABLE %[1]s.dflt (x int DEFAULT %[1]s.off());
GRANT USAGE ON SCHEMA %[1]s TO %[2]s; GRANT ALL ON ALL TABLES IN SCHEMA %[1]s TO %[2]s;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %[1]s TO %[2]s`, sch, appUser)
	if _, err := superuser(t).Exec(testContext(t), setup); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, sql string }{
		{"trigger", "INSERT INTO " + sch + ".side VALUES (1)"},
		{"operator", "SELECT 1 OPERATOR(" + sch + ".###) 1"},
		{"default", "INSERT INTO " + sch + ".dflt DEFAULT VALUES"},
	} {
		t.Run(c.name+"/two queries", func(t *testing.T) {
			f.run(t, 2, &pgproto3.Query{String: c.sql}, &pgproto3.Query{String: f.update})
		})
		t.Run(c.name+"/two segments", func(t *testing.T) {
			f.run(t, 2,
				&pgproto3.Parse{Query: c.sql}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Parse{Query: f.update}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
		})
		// Prepared in a segment of its own: its Parse is not what runs
		// the code, each Execute is.
		t.Run(c.name+"/prepared earlier", func(t *testing.T) {
			f.run(t, 3, &pgproto3.Parse{Name: "rt14", Query: c.sql}, &pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "rt14"}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Parse{Query: f.update}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
		})
		t.Run(c.name+"/one segment", func(t *testing.T) {
			f.run(t, 1, &pgproto3.Parse{Query: c.sql}, &pgproto3.Bind{}, &pgproto3.Execute{},
				&pgproto3.Parse{Query: f.update}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
		})
	}
}
