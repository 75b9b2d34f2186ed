package integration

import (
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/search"
)

// TestLoginWithoutSearchSchemaUsage: a database whose phiguard schema
// the login may not use (a REVOKE; or the moment between `phiguard
// search install`'s CREATE SCHEMA and its GRANT USAGE, when parallel
// tests saw logins fail) still lets the login through phiguard, which
// reads no term records and so runs its searches in phiguard. The
// records query's to_regclass had failed with 42501 and every login
// through phiguard failed with it (the client saw the connection closed
// mid-login).
func TestLoginWithoutSearchSchemaUsage(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := uniqueName("norec")
	if _, err := superuser(t).Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	su := connect(t, directURL(pg.Superuser, pg.Password, db))
	if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; REVOKE ALL ON SCHEMA %[1]s FROM PUBLIC;
CREATE TABLE public.people (id int PRIMARY KEY, last text, note text, code text); GRANT ALL ON public.people TO %s`, search.Schema, appUser)); err != nil {
		t.Fatal(err)
	}
	app := connect(t, directURL(appUser, appPassword, db))
	rows, err := app.Query(ctx, search.RecordsQuery)
	if err != nil {
		t.Fatalf("the records query as a login without USAGE on schema %s: %v", search.Schema, err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Close(); rows.Err() != nil || n != 0 {
		t.Fatalf("the records query: %d rows, %v; want none", n, rows.Err())
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(matchPolicy, "people")), quiet: true})
	via := connect(t, p.url(appUser, appPassword, db))
	if _, err := via.Exec(ctx, "INSERT INTO people VALUES (1, 'Smith', NULL, NULL), (2, 'Adams', NULL, NULL), (3, 'smithson', NULL, NULL)"); err != nil {
		t.Fatal(err)
	}
	var got []int32
	rows, err = via.Query(ctx, "SELECT id FROM people WHERE last ILIKE 'smi%' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int32
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if rows.Err() != nil || fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("through phiguard: %v, %v; want [1 3]", got, rows.Err())
	}
}
