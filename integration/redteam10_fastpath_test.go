package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam10FunctionCallChangesOutput: a role without rules may send
// the fast-path FunctionCall message, and set_config called that way
// changes extra_float_digits and bytea_output, which the backend does
// not report (ParameterStatus). phiguard reads them again behind every
// statement that may change them, but a FunctionCall is no statement it
// sees as one: it kept printing encrypted real, double precision and
// bytea under the old settings, where PostgreSQL prints the plaintext
// under the new ones (a different answer).
func TestRedTeam10FunctionCallChangesOutput(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt10fp",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"d", "double precision", "{mode: randomized, key: rt10-pii, type: double precision}"},
		twinColumn{"b", "bytea", "{mode: randomized, key: rt10-pii, type: bytea}"})
	tw.exec(t, `INSERT INTO %s (id, d, b) VALUES (1, 0.1, '\x00ff41'), (2, 0.333333333333333314829616256247, 'ab')`, pgx.QueryExecModeSimpleProtocol)
	var setConfig uint32
	if err := tw.dir.QueryRow(ctx, "SELECT 'set_config(text,text,boolean)'::regprocedure::oid").Scan(&setConfig); err != nil {
		t.Fatal(err)
	}
	for _, change := range [][2]string{{"extra_float_digits", "-4"}, {"bytea_output", "escape"}, {"extra_float_digits", "3"}} {
		for side, conn := range []*pgx.Conn{tw.dir, tw.via} {
			res, err := functionCall(ctx, conn.PgConn(), setConfig, [][]byte{[]byte(change[0]), []byte(change[1]), []byte("f")})
			if err != nil || string(res) != change[1] {
				t.Fatalf("side %d: FunctionCall set_config(%s, %s): %q, %v", side, change[0], change[1], res, err)
			}
		}
		for _, mode := range bothModes {
			tw.same(t, "SELECT id, d, b FROM %s ORDER BY id", mode, fmt.Sprintf("after FunctionCall set_config(%q, %q)", change[0], change[1]))
		}
	}
}
