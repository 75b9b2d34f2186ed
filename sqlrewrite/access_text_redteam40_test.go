package sqlrewrite

import (
	"fmt"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Red team 40 on the access rewriter's text edits (access_text.go).

// rt40ORMShapes are statements as ORMs and query builders write them
// (Django, Rails, Hibernate 6, SQLAlchemy, Prisma, Sequelize, GORM, EF
// Core, Knex/jOOQ), and hand-written ones with words glued to
// parentheses and quotes, on tables with row rules.
var rt40ORMShapes = []string{
	"SELECT \"notes\".\"id\", \"notes\".\"patient\", \"notes\".\"body\" FROM \"notes\" WHERE \"notes\".\"id\" = $1 LIMIT 21",
	"UPDATE \"notes\" SET \"body\" = $1 WHERE \"notes\".\"id\" = $2",
	"UPDATE \"notes\" SET \"body\" = $1, \"patient\" = $2 WHERE \"notes\".\"id\" = $3",
	"INSERT INTO \"notes\" (\"id\", \"patient\", \"body\") VALUES ($1, $2, $3) RETURNING \"notes\".\"id\"",
	"INSERT INTO \"notes\" (\"id\", \"patient\", \"body\") VALUES ($1, $2, $3), ($4, $5, $6) RETURNING \"notes\".\"id\"",
	"DELETE FROM \"notes\" WHERE \"notes\".\"id\" IN ($1, $2)",
	"SELECT (1) AS \"a\" FROM \"notes\" WHERE \"notes\".\"id\" = $1 LIMIT 1",
	"SELECT COUNT(*) AS \"__count\" FROM \"notes\"",
	"SELECT \"patients\".\"id\", \"patients\".\"city\" FROM \"patients\" INNER JOIN \"notes\" ON (\"patients\".\"id\" = \"notes\".\"patient\") WHERE \"notes\".\"body\" = $1",
	"SELECT \"notes\".* FROM \"notes\" WHERE \"notes\".\"id\" = $1 LIMIT $2",
	"INSERT INTO \"notes\" (\"patient\", \"body\") VALUES ($1, $2) RETURNING \"id\"",
	"UPDATE \"notes\" SET \"body\" = $1 WHERE \"notes\".\"id\" = $2",
	"DELETE FROM \"notes\" WHERE \"notes\".\"id\" = $1",
	"SELECT 1 AS one FROM \"notes\" WHERE \"notes\".\"patient\" = $1 LIMIT $2",
	"select n1_0.id,n1_0.body,n1_0.patient from notes n1_0 where n1_0.id=$1",
	"insert into notes (body,patient,id) values ($1,$2,$3)",
	"update notes set body=$1,patient=$2 where id=$3",
	"update notes set body=$1 where id=$2",
	"delete from notes where id=$1",
	"select p1_0.id,p1_0.city from patients p1_0 join notes n1_0 on p1_0.id=n1_0.patient where n1_0.id=$1",
	"select count(*) from notes n1_0 where n1_0.patient=$1",
	"select n1_0.id from notes n1_0 where n1_0.id=$1 for update",
	"select n1_0.id from notes n1_0 offset $1 rows fetch first $2 rows only",
	"SELECT notes.id, notes.patient, notes.body FROM notes WHERE notes.id = $1",
	"INSERT INTO notes (id, patient, body) VALUES ($1, $2, $3)",
	"INSERT INTO notes (id, patient, body) VALUES ($1::INTEGER, $2::UUID, $3::VARCHAR), ($4::INTEGER, $5::UUID, $6::VARCHAR) RETURNING notes.id",
	"INSERT INTO notes (id, patient, body) SELECT p0::INTEGER, p1::UUID, p2::VARCHAR FROM (VALUES ($1, $2, $3, 0), ($4, $5, $6, 1)) AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING notes.id, notes.id AS id__1",
	"UPDATE notes SET body=$1 WHERE notes.id = $2",
	"DELETE FROM notes WHERE notes.id = $1",
	"SELECT patients.id FROM patients WHERE patients.id IN (SELECT notes.patient FROM notes WHERE notes.body = $1)",
	"SELECT anon_1.id FROM (SELECT notes.id AS id FROM notes) AS anon_1",
	"UPDATE notes SET body=$1 WHERE notes.id = $2 RETURNING notes.body",
	"UPDATE \"public\".\"notes\" SET \"body\" = $1 WHERE (\"public\".\"notes\".\"id\" = $2 AND 1=1) RETURNING \"public\".\"notes\".\"id\"",
	"DELETE FROM \"public\".\"notes\" WHERE (\"public\".\"notes\".\"id\" IN ($1) AND 1=1)",
	"INSERT INTO \"public\".\"notes\" (\"id\",\"patient\",\"body\") VALUES ($1,$2,$3) RETURNING \"public\".\"notes\".\"id\", \"public\".\"notes\".\"patient\"",
	"INSERT INTO \"notes\" (\"id\",\"patient\",\"body\") VALUES ($1,$2,$3) RETURNING \"id\",\"patient\",\"body\";",
	"UPDATE \"notes\" SET \"body\"=$1 WHERE \"id\" = $2",
	"UPDATE \"notes\" SET \"body\"=$1,\"patient\"=$2 WHERE \"id\" = $3 RETURNING *",
	"SELECT \"id\", \"patient\" FROM \"notes\" AS \"notes\" WHERE \"notes\".\"id\" = 1;",
	"DELETE FROM \"notes\" WHERE \"id\" = 1",
	"UPDATE \"notes\" SET \"body\"=$1 WHERE \"notes\".\"id\" = $2",
	"INSERT INTO \"notes\" (\"patient\",\"body\") VALUES ($1,$2) RETURNING \"id\"",
	"DELETE FROM \"notes\" WHERE \"notes\".\"id\" = $1",
	"SELECT * FROM \"notes\" WHERE \"notes\".\"id\" = $1 ORDER BY \"notes\".\"id\" LIMIT 1",
	"SELECT * FROM \"notes\" WHERE id = $1 AND \"notes\".\"body\" IS NULL",
	"SELECT n.id, n.body FROM notes AS n WHERE n.id = $1 LIMIT 1",
	"INSERT INTO notes (body, patient) VALUES ($1, $2) RETURNING id;",
	"UPDATE notes SET body = $1 WHERE id = $2;\nUPDATE notes SET body = $3 WHERE id = $4;",
	"DELETE FROM notes WHERE id = $1;\nINSERT INTO notes (body, patient) VALUES ($2, $3) RETURNING id;",
	"UPDATE notes AS n SET body = $1 WHERE n.id = $2",
	"DELETE FROM notes AS n WHERE n.id = $1",
	"SELECT n.id FROM notes AS n WHERE n.patient = $1 AND EXISTS (SELECT 1 FROM notes AS n0 WHERE n0.id = n.id)",
	"update \"notes\" set \"body\" = $1 where \"id\" = $2",
	"insert into \"notes\" (\"body\", \"patient\") values ($1, $2) returning \"id\"",
	"update \"public\".\"notes\" set \"body\" = $1 where \"public\".\"notes\".\"id\" = $2",
	"delete from \"public\".\"notes\" where \"public\".\"notes\".\"id\" in ($1, $2)",
	"UPDATE notes SET body=$1 WHERE(id=$2)",
	"DELETE FROM notes WHERE(id=$1)",
	"UPDATE notes SET body=$1 WHERE\"id\"=$2",
	"UPDATE notes SET patient=$1 WHERE id=$2",
	"UPDATE notes SET patient=($1) WHERE id=$2",
	"INSERT INTO notes(id,patient,body)VALUES($1,$2,$3)",
	"INSERT INTO notes(id,patient,body)SELECT $1,$2,$3",
	"INSERT INTO notes VALUES ($1, $2, $3)",
	"INSERT INTO notes VALUES ($1, $2, $3), ($4, $5, $6) RETURNING id",
	"SELECT*FROM notes WHERE id=$1",
	"SELECT*FROM\"notes\"WHERE id=$1",
	"DELETE FROM notes RETURNING*",
	"TABLE notes",
	"TABLE ONLY notes",
	"SELECT * FROM notes n WHERE n.id = $1; SELECT * FROM patients",
	"UPDATE notes SET (body, patient) = ($1, $2) WHERE id = $3",
	"UPDATE notes SET (body, patient) = (SELECT body, patient FROM notes WHERE id = 2) WHERE id = 1",
	"UPDATE notes SET (body) = ROW($1) WHERE id = 1",
	"UPDATE notes SET body[1] = 'x' WHERE id = 1",
	"UPDATE notes SET body = 'x' WHERE id = 1 AND body IS DISTINCT FROM 'x'",
	"UPDATE notes SET patient = CASE WHEN id = 1 THEN $1 ELSE patient END WHERE id IN (1, 2)",
	"UPDATE notes SET patient = $1 FROM providers WHERE providers.id = notes.id",
}

// TestRedTeam40ORMShapesEdited: every shape is the client's text edited,
// none written whole from the tree (before red team 40: WHERE(id = $1),
// "notes"WHERE and WHERE"id" glued phiguard's condition to WHERE or the
// alias to WHERE; INSERT without a column list, TABLE notes and UPDATE
// ... SET (a, b) = (SELECT ...) fell back).
func TestRedTeam40ORMShapesEdited(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range rt40ORMShapes {
		before := accessTextFallbacks.Load()
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal != nil || !acc.Changed {
			t.Errorf("%q: refused %v or unchanged", sql, acc.Refusal)
			continue
		}
		if accessTextFallbacks.Load() != before {
			t.Errorf("%q: written whole from the tree:\n  %s", sql, acc.SQL)
		}
		if _, err := pg_query.Parse(acc.SQL); err != nil {
			t.Errorf("%q: sent text does not parse: %v", sql, err)
		}
	}
}

// rt40RuleOracle checks, on the parse of a sent text alone, that every
// read of patients or notes goes through its row rule: each such name is
// the one FROM item of a subquery whose WHERE starts with the rule (reads
// care_teams), or the target of an UPDATE or DELETE whose WHERE starts
// with it, or an INSERT's target. It knows nothing of the rewriter.
func rt40RuleOracle(sent string) error {
	tree, err := pg_query.Parse(sent)
	if err != nil {
		return err
	}
	ruled := func(where *pg_query.Node) bool {
		if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
			where = b.GetArgs()[0]
		}
		sub := where.GetSubLink().GetSubselect().GetSelectStmt()
		return sub != nil && len(sub.GetFromClause()) == 1 && sub.GetFromClause()[0].GetRangeVar().GetRelname() == "care_teams"
	}
	allowed := map[*pg_query.RangeVar]bool{}
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SelectStmt:
			if from := n.GetFromClause(); len(from) == 1 && from[0].GetRangeVar() != nil && ruled(n.GetWhereClause()) {
				allowed[from[0].GetRangeVar()] = true
			}
		case *pg_query.UpdateStmt:
			allowed[n.GetRelation()] = ruled(n.GetWhereClause())
		case *pg_query.DeleteStmt:
			allowed[n.GetRelation()] = ruled(n.GetWhereClause())
		case *pg_query.InsertStmt:
			allowed[n.GetRelation()] = true
		}
	})
	var bad error
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && bad == nil {
			if (rv.GetRelname() == "patients" || rv.GetRelname() == "notes") && !allowed[rv] {
				bad = fmt.Errorf("%s read without its rule", rv.GetRelname())
			}
		}
	})
	return bad
}

// TestRedTeam40AdversarialShapes: client texts built to move an edit
// off its place (comments at a span's end, nested comments, dollar
// quotes, E” and U& strings, keywords as quoted names, ONLY, *, column
// aliases, LATERAL, subqueries in a DML's WHERE, SET value and INSERT
// source, several statements, DML in WITH, RETURNING, ON CONFLICT,
// OVERRIDING, DEFAULT, ARRAY and row constructors, IS DISTINCT FROM,
// phiguard's own names). Each sent text, read alone, reads the tables
// only through their rules (rt40RuleOracle), and is the client's text
// edited, never the tree written whole.
func TestRedTeam40AdversarialShapes(t *testing.T) {
	pol := loadAccessPolicy(t)
	// The oracle tells a text without the rules.
	for _, raw := range []string{"SELECT * FROM notes", "SELECT * FROM (SELECT * FROM public.notes WHERE true) notes", "DELETE FROM notes WHERE id = 1"} {
		if rt40RuleOracle(raw) == nil {
			t.Fatalf("oracle passed %q", raw)
		}
	}
	for _, sql := range rt40Adversarial {
		before := accessTextFallbacks.Load()
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal != nil {
			t.Errorf("%q: refused %v", sql, acc.Refusal)
			continue
		}
		if accessTextFallbacks.Load() != before {
			t.Errorf("%q: written whole from the tree:\n  %s", sql, acc.SQL)
		}
		if err := rt40RuleOracle(acc.SQL); err != nil {
			t.Errorf("%q: %v:\n  %s", sql, err, acc.SQL)
		}
	}
}

var rt40Adversarial = []string{
	"SELECT * FROM notes -- c\n WHERE id = $1",
	"SELECT * FROM notes/* c */n WHERE n.id = $1",
	"SELECT * FROM notes/* a /* nested */ notes */ WHERE id = $1",
	"SELECT * FROM notes /* ) notes */, providers",
	"SELECT $$ FROM notes $$, * FROM notes",
	"SELECT $q$ FROM notes $q$ FROM notes",
	"SELECT E'\\' FROM notes', * FROM notes",
	"SELECT U&'d\\0061t' AS a FROM notes",
	`SELECT * FROM public."notes" AS "select" WHERE "select".id = $1`,
	`SELECT "from".* FROM notes "from"`,
	"SELECT * FROM ONLY (notes) AS n (a, b) WHERE a = $1",
	"SELECT * FROM ONLY public . notes n",
	"SELECT * FROM notes * n",
	"SELECT * FROM (notes n JOIN patients p ON p.id = n.patient) AS j",
	"SELECT * FROM providers p, LATERAL (SELECT * FROM notes WHERE id = p.id) q, LATERAL (SELECT * FROM patients) r",
	"SELECT (SELECT body FROM notes LIMIT 1), (SELECT city FROM patients LIMIT 1)",
	"SELECT * FROM notes WHERE id IN (SELECT id FROM notes WHERE patient IN (SELECT id FROM patients))",
	"SELECT * FROM notes; SELECT * FROM patients; DELETE FROM notes",
	"SELECT 1 FROM notes UNION ALL TABLE notes UNION ALL SELECT 2 FROM patients",
	"SELECT * FROM notes n WHERE n.body IS DISTINCT FROM 'x' AND n.id = ANY(ARRAY[1, 2])",
	"UPDATE notes SET body = 'x' WHERE id IN (SELECT id FROM notes -- ) WHERE\n)",
	"UPDATE notes SET body = 'x' /* WHERE true */",
	"UPDATE notes SET body = 'where' WHERE body = 'returning' RETURNING 'where'",
	"UPDATE notes SET body = $$ WHERE true $$",
	"UPDATE notes SET body = (SELECT body FROM notes WHERE id = 2) -- trailing",
	"UPDATE notes SET patient = (SELECT id FROM patients LIMIT 1) WHERE id = 1",
	"UPDATE notes SET patient = $1 IS DISTINCT FROM NULL AND true, body = 'x'",
	"UPDATE notes SET patient = $1 WHERE id = 1 RETURNING (SELECT count(*) FROM notes)",
	"UPDATE notes n SET body = 'x' FROM patients p WHERE p.id = n.patient",
	"UPDATE notes SET (body, patient) = (SELECT body, patient FROM notes WHERE id = 2)",
	"UPDATE notes SET body = 'x' WHERE id = 1 OR id = 2 AND body = 'y'",
	"DELETE FROM notes USING patients p",
	"DELETE FROM notes USING patients p WHERE p.id = notes.patient -- )",
	"DELETE FROM notes WHERE NOT (id = 1) RETURNING *",
	"DELETE FROM notes WHERE id = 1; DELETE FROM notes WHERE id = 2;",
	"WITH d AS (DELETE FROM notes RETURNING *), u AS (UPDATE notes SET body = 'x' RETURNING *) SELECT * FROM d, u",
	"WITH i AS (INSERT INTO notes (id, patient, body) VALUES (1, $1, 'a') RETURNING *) SELECT * FROM i, patients",
	"INSERT INTO notes (id, patient, body) VALUES (1, $1 -- c\n, 'a'), (2, (SELECT patient FROM notes LIMIT 1), 'b')",
	"INSERT INTO notes (id, patient, body) VALUES ((ARRAY[1, 2])[1], $1, 'a') RETURNING *",
	"INSERT INTO notes (id, patient, body) VALUES (1, ($1), ROW(1, 2)::text)",
	"INSERT INTO notes (id, patient, body) SELECT id, patient, body FROM notes WHERE body = ')' ON CONFLICT DO NOTHING RETURNING id",
	"INSERT INTO notes (id, patient, body) OVERRIDING USER VALUE SELECT 1, id, 'a' FROM patients",
	"INSERT INTO notes (id, patient, body) SELECT 1, id, 'x' FROM patients phiguard_new",
	"INSERT INTO notes VALUES (1, $1, 'a'), (2, $2, DEFAULT)",
	"INSERT INTO notes TABLE notes",
	`SELECT * FROM U&"p\0061tients" WHERE id = $1`,
	`SELECT id FROM public.U&"!0070atients" UESCAPE '!' p WHERE p.id = $1`,
	"DELETE FROM notes WHERE body = U&'a''b' AND id = 1",
	"UPDATE notes SET patient = U&'!0030' UESCAPE '!' WHERE body = U&'x'",
	"INSERT INTO notes (id, patient, body) TABLE ONLY notes RETURNING id",
	"SELECT * FROM notes phiguardclient0123456789abcdef WHERE body = 'phiguard_rowcheck_0123456789abcdef'",
}

// TestRedTeam40CurrentOf: UPDATE or DELETE ... WHERE CURRENT OF on a
// ruled table is refused naming the construct (was XX000, the deparser's
// "unpermitted node type" for the CASE-guarded CURRENT OF).
func TestRedTeam40CurrentOf(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{"UPDATE notes SET body = 'x' WHERE CURRENT OF c", "DELETE FROM notes WHERE CURRENT OF c"} {
		acc := accessFor(t, pol, "clinician", sql, false)
		if acc.Refusal == nil || acc.Refusal.PgError().Code != "42501" || !strings.Contains(acc.Refusal.Error(), "WHERE CURRENT OF on table public.notes") {
			t.Errorf("%q: refusal %v, want 42501 naming WHERE CURRENT OF and public.notes", sql, acc.Refusal)
		}
	}
}
