package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/policy"
)

// oracleRole is one role of testdata/access-policy.yml as the RLS oracle
// checks it: the user who plays it (the row rules' current_user) and the
// plaintext database in which PostgreSQL's own row security and column
// privileges give that user exactly what the role may see.
type oracleRole struct {
	role *policy.Role
	user string
	db   string
	// shuffled is a copy of db with every table's rows in another
	// physical order: a statement whose answer under RLS differs between
	// the two depends on row order or plan, so no answer of phiguard's
	// could be judged against it.
	shuffled string
}

// oracleRoles are the restricted roles of the suite's policy, one user
// each. admin is unrestricted (phiguard only decrypts) and dr_bob plays
// the same role as dr_alice.
var oracleRoleUsers = []struct{ role, user string }{
	{"clinician", "dr_alice"},
	{"billing", "biller"},
	{"research", "researcher"},
	{policy.DefaultRoleName, "walkin"},
}

// oracleEHR is the oracle's side of the differential test: per role a
// database, plus the two plaintext copies (plainCopies) sqlsmith generates
// against and the determinism filter runs in.
type oracleEHR struct {
	fx    *accessEHR
	pol   *policy.Policy
	roles []oracleRole
	// gen is the plaintext EHR (no RLS, no transform) sqlsmith reads the
	// schema of; shuffled holds the same rows in another physical order,
	// so that a statement whose result depends on order, plan, time or
	// database name gives two answers and is dropped.
	gen, shuffled string
}

var oracleOnce struct {
	gosync.Mutex
	o   *oracleEHR
	err error
}

// rlsOracle builds the oracle databases the first time a test asks.
func rlsOracle(t *testing.T) *oracleEHR {
	t.Helper()
	fx := accessFixture(t)
	plainCopies(t)
	oracleOnce.Lock()
	defer oracleOnce.Unlock()
	if oracleOnce.o == nil && oracleOnce.err == nil {
		oracleOnce.o, oracleOnce.err = buildOracle(fx)
	}
	if oracleOnce.err != nil {
		t.Fatalf("RLS oracle: %v", oracleOnce.err)
	}
	return oracleOnce.o
}

func buildOracle(fx *accessEHR) (*oracleEHR, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pol, err := parsePolicy(fx.policyYAML)
	if err != nil {
		return nil, err
	}
	o := &oracleEHR{fx: fx, pol: pol, gen: oracleGenDB, shuffled: oracleShuffledDB}
	for _, ru := range oracleRoleUsers {
		r, ok := pol.Role(ru.role)
		if ru.role == policy.DefaultRoleName {
			r, ok = pol.DefaultRole(), pol.DefaultRole() != nil
		}
		if !ok {
			return nil, fmt.Errorf("the suite's policy has no role %q", ru.role)
		}
		or := oracleRole{role: r, user: ru.user, db: "ehr_rls_" + ru.role, shuffled: "ehr_rls_" + ru.role + "_shuffled"}
		if err := loadPlainEHR(ctx, or.db); err != nil {
			return nil, err
		}
		if err := withSuperuser(ctx, or.db, func(ctx context.Context, su *pgx.Conn) error {
			return restrictForRole(ctx, su, o, or)
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", or.db, err)
		}
		if err := pg.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{or.shuffled}.Sanitize()+" TEMPLATE "+pgx.Identifier{or.db}.Sanitize()); err != nil {
			return nil, err
		}
		if err := withSuperuser(ctx, or.shuffled, shuffleRows); err != nil {
			return nil, fmt.Errorf("%s: %w", or.shuffled, err)
		}
		o.roles = append(o.roles, or)
	}
	return o, nil
}

// loadPlainEHR creates a database holding the suite's EHR in plaintext:
// the demo EHR and the data part of testdata/access-ehr.sql (its grants
// are the encrypted database's, not the oracle's).
func loadPlainEHR(ctx context.Context, db string) error {
	if err := pg.CreateDatabase(ctx, db, ""); err != nil {
		return err
	}
	data, err := accessEHRData()
	if err != nil {
		return err
	}
	return withSuperuser(ctx, db, func(ctx context.Context, su *pgx.Conn) error {
		if _, err := ehrdemo.Load(ctx, su); err != nil {
			return err
		}
		_, err := su.PgConn().Exec(ctx, data).ReadAll()
		return err
	})
}

// accessEHRData is testdata/access-ehr.sql without its grants: the
// tables, rows and objects it adds to the demo EHR.
func accessEHRData() (string, error) {
	ext, err := os.ReadFile("testdata/access-ehr.sql")
	if err != nil {
		return "", err
	}
	const grants = "-- Database privileges are generous on purpose"
	data, _, found := strings.Cut(string(ext), grants)
	if !found {
		return "", fmt.Errorf("testdata/access-ehr.sql: no %q section to leave out", grants)
	}
	return data, nil
}

func withSuperuser(ctx context.Context, db string, f func(context.Context, *pgx.Conn) error) error {
	su, err := pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, db))
	if err != nil {
		return err
	}
	defer su.Close(context.Background())
	return f(ctx, su)
}

// shuffleRows rewrites every table (the public ones and the oracle's
// lists of visible rows) in another physical order, by a hash of the row,
// so that LIMIT without ORDER BY and the like pick other rows than in the
// database it was copied from.
func shuffleRows(ctx context.Context, su *pgx.Conn) error {
	rows, err := su.Query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'oracle') AND c.relkind = 'r' ORDER BY 1`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	sql := "SET session_replication_role = replica;\n"
	for _, q := range tables {
		sql += fmt.Sprintf("CREATE TEMP TABLE shuffle AS SELECT * FROM ONLY %[1]s t ORDER BY md5(t::text); DELETE FROM ONLY %[1]s; INSERT INTO %[1]s SELECT * FROM shuffle; DROP TABLE shuffle;\n", q)
	}
	sql += "RESET session_replication_role;"
	if _, err := su.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
		return err
	}
	if err := execAll(ctx, su, "VACUUM FULL"); err != nil {
		return err
	}
	return execAll(ctx, su, "ANALYZE")
}

// plainTables lists the ordinary tables of the public schema that are not
// inheritance children (phiguard refuses a child of a ruled table).
func plainTables(ctx context.Context, su *pgx.Conn) ([]string, error) {
	rows, err := su.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
		  AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
		ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// restrictForRole turns a plaintext copy into what the role may know,
// with PostgreSQL's own means:
//
//   - rows: the rows each row rule leaves (evaluated once, on plaintext,
//     by the superuser, current_user being the role's user) are listed in
//     oracle.vis_<table>, and an RLS policy for the user admits exactly
//     those;
//   - columns: a masked, pseudonymized or nulled column is rewritten at
//     rest to what phiguard shows (policy.ApplyMask, the same pseudonym
//     key), so that no expression over it can learn more than its shown
//     value; a denied column gets no SELECT privilege;
//   - objects phiguard refuses outright (views, the materialized view,
//     user functions, the inheritance child) are not granted or dropped.
func restrictForRole(ctx context.Context, su *pgx.Conn, o *oracleEHR, or oracleRole) error {
	tables, err := plainTables(ctx, su)
	if err != nil {
		return err
	}
	setup := `DROP VIEW public.patient_summary; DROP MATERIALIZED VIEW public.encounter_counts;
		DROP FUNCTION public.patient_city(uuid); DROP FUNCTION public.all_patient_ids();
		CREATE SCHEMA oracle;`
	// A pseudonym changes a column's type to text: foreign keys between
	// uuid columns would stand in the way (the oracle only reads).
	setup += `DO $$ DECLARE c record; BEGIN
		FOR c IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace LOOP
			EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.t, c.conname);
		END LOOP; END $$;`
	if _, err := su.PgConn().Exec(ctx, setup).ReadAll(); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	policies, err := visibleRows(ctx, su, or)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if err := restrictColumns(ctx, su, o, or, t); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	if err := execAll(ctx, su, policies); err != nil {
		return fmt.Errorf("policies: %w", err)
	}
	return execAll(ctx, su, "ANALYZE")
}

var currentUser = regexp.MustCompile(`(?i)\bcurrent_user\b`)

// visibleRows lists, per row rule, the primary keys of the rows it leaves
// in oracle.vis_<table>, evaluated on plaintext by the superuser with the
// role's user for current_user (a rule reads the tables it names as they
// are, as phiguard's rules do). It returns the statements that then admit
// the user to exactly those rows, to run once the columns are rewritten
// (a column a policy uses cannot change type).
func visibleRows(ctx context.Context, su *pgx.Conn, or oracleRole) (policies string, err error) {
	user := pgx.Identifier{or.user}.Sanitize()
	sql := ""
	policies = "GRANT USAGE ON SCHEMA oracle TO " + user + ";\n"
	for _, rr := range or.role.RowRules() {
		if rr.Table.Schema != "public" {
			return "", fmt.Errorf("row rule on %s: the oracle knows the public schema only", rr.Table)
		}
		var key string
		if err := su.QueryRow(ctx, `SELECT coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), '')
			FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			WHERE i.indisprimary AND i.indrelid = $1::regclass`, "public."+rr.Table.Name).Scan(&key); err != nil {
			return "", fmt.Errorf("primary key of %s: %w", rr.Table, err)
		}
		if key == "" {
			return "", fmt.Errorf("%s has no primary key to list its visible rows by", rr.Table)
		}
		using := currentUser.ReplaceAllString(rr.Using, "CAST("+sqlLiteral(or.user)+" AS name)")
		table := pgx.Identifier{"public", rr.Table.Name}.Sanitize()
		vis := pgx.Identifier{"oracle", "vis_" + rr.Table.Name}.Sanitize()
		sql += fmt.Sprintf("CREATE TABLE %s AS SELECT %s FROM %s WHERE (%s);\n", vis, key, table, using)
		policies += fmt.Sprintf(`GRANT SELECT ON %[1]s TO %[4]s;
			ALTER TABLE %[3]s ENABLE ROW LEVEL SECURITY;
			CREATE POLICY oracle ON %[3]s FOR ALL TO %[4]s USING ((%[2]s) IN (SELECT %[2]s FROM %[1]s));
			`, vis, key, table, user)
	}
	if err := execAll(ctx, su, sql); err != nil {
		return "", fmt.Errorf("row rules: %w", err)
	}
	return policies, nil
}

// execAll runs one or more statements in the simple protocol.
func execAll(ctx context.Context, conn *pgx.Conn, sql string) error {
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// restrictColumns grants the user what the role may see of one table's
// columns, rewriting masked, pseudonymized and nulled columns at rest.
func restrictColumns(ctx context.Context, su *pgx.Conn, o *oracleEHR, or oracleRole, table string) error {
	rows, err := su.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
		pgx.Identifier{"public", table}.Sanitize())
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var granted []string
	for _, col := range cols {
		rule := o.pol.EffectiveColumnRule(or.role, "public", table, col)
		if rule != nil && rule.Action == policy.ActionDeny {
			continue
		}
		granted = append(granted, pgx.Identifier{col}.Sanitize())
		if rule == nil || rule.Action == policy.ActionPlaintext {
			continue
		}
		if err := rewriteColumn(ctx, su, o, table, col, rule); err != nil {
			return fmt.Errorf("%s: %w", col, err)
		}
	}
	user := pgx.Identifier{or.user}.Sanitize()
	q := pgx.Identifier{"public", table}.Sanitize()
	var sql string
	if len(granted) > 0 {
		sql += fmt.Sprintf("GRANT SELECT (%s) ON %s TO %s;", strings.Join(granted, ", "), q, user)
	}
	// Writes as the fixture allows them (rule tables read-only), so that
	// the adversarial suite's rolled-back writes compare too.
	if or.role.Allows(policy.ClassWrite) && table != "care_teams" && table != "consents" {
		sql += fmt.Sprintf("GRANT INSERT, UPDATE, DELETE ON %s TO %s; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %s;", q, user, user)
	}
	if sql == "" {
		return nil
	}
	_, err = su.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// rewriteColumn stores in a column what the role is shown of it: NULL, or
// the mask or pseudonym phiguard computes (the same Go code and key) of
// the value's canonical text. The same column of oracle.vis_<table>, when
// it is part of the key, is rewritten alike so that the RLS policy still
// matches.
func rewriteColumn(ctx context.Context, su *pgx.Conn, o *oracleEHR, table, col string, rule *policy.ColumnRule) error {
	targets := []pgx.Identifier{{"public", table}}
	var vis bool
	if err := su.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2)`,
		"oracle."+pgx.Identifier{"vis_" + table}.Sanitize(), col).Scan(&vis); err != nil {
		return err
	}
	if vis {
		targets = append(targets, pgx.Identifier{"oracle", "vis_" + table})
	}
	c := pgx.Identifier{col}.Sanitize()
	if rule.Action == policy.ActionNull {
		for _, t := range targets {
			if err := execAll(ctx, su, fmt.Sprintf("ALTER TABLE %[1]s ALTER COLUMN %[2]s DROP NOT NULL; UPDATE %[1]s SET %[2]s = NULL", t.Sanitize(), c)); err != nil {
				return err
			}
		}
		return nil
	}
	shown, err := shownValue(o, rule)
	if err != nil {
		return err
	}
	rows, err := su.Query(ctx, fmt.Sprintf("SELECT DISTINCT %s::text FROM %s WHERE %[1]s IS NOT NULL", c, targets[0].Sanitize()))
	if err != nil {
		return err
	}
	values, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if _, err := su.Exec(ctx, "CREATE TEMP TABLE oracle_map (v text PRIMARY KEY, w text NOT NULL)"); err != nil {
		return err
	}
	defer su.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS oracle_map")
	mapped := make([][]any, len(values))
	for i, v := range values {
		mapped[i] = []any{v, shown(v)}
	}
	if _, err := su.CopyFrom(ctx, pgx.Identifier{"oracle_map"}, []string{"v", "w"}, pgx.CopyFromRows(mapped)); err != nil {
		return err
	}
	for _, t := range targets {
		if err := execAll(ctx, su, fmt.Sprintf(`ALTER TABLE %[1]s ALTER COLUMN %[2]s TYPE text USING %[2]s::text;
			UPDATE %[1]s t SET %[2]s = m.w FROM oracle_map m WHERE t.%[2]s = m.v`, t.Sanitize(), c)); err != nil {
			return err
		}
	}
	return nil
}

// shownValue is what phiguard shows of a value under a mask or pseudonym
// rule (guard/access_result.go applyColumnRule).
func shownValue(o *oracleEHR, rule *policy.ColumnRule) (func(string) string, error) {
	switch rule.Action {
	case policy.ActionMasked:
		return func(v string) string { return policy.ApplyMask(rule.Mask, v) }, nil
	case policy.ActionPseudonym:
		psn, err := o.fx.keyring.Pseudonymizer(rule.Key)
		if err != nil {
			return nil, err
		}
		return func(v string) string { return psn.Token([]byte(v)) }, nil
	}
	return nil, fmt.Errorf("no shown value for action %q", rule.Action)
}
