package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam10DateStyleChangedInRequest: phiguard reads a date,
// timestamp, timestamptz or interval value it encrypts or compares (a
// literal at the Query or Parse, a parameter at the Bind) under the
// DateStyle, TimeZone and IntervalStyle the backend last reported
// (ParameterStatus). A SET of one of them earlier in the same Query, or
// earlier in the same pipeline (an Execute before the Sync, a Query sent
// before the previous one's answer), had not been reported when phiguard
// read the value, while PostgreSQL reads it after the SET ran: under
// SET DateStyle = 'SQL, DMY', '02/03/2024' is 2 March for PostgreSQL and
// was encrypted as 3 February (failing before: the four rows stored as
// 2024-02-03 through phiguard, 2024-03-02 directly), and a proxy-side
// WHERE compared with the other date. Now such a value is refused
// (0A000) until the request that may change the settings is answered.
func TestRedTeam10DateStyleChangedInRequest(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt10ds",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"born", "date", "{mode: randomized, key: rt10-pii, type: date}"})
	c := tw.via.PgConn()
	set, ins := "SET DateStyle = 'SQL, DMY'", "INSERT INTO "+tw.enc+" (id, born) VALUES "
	forms := map[int]string{
		1: wireRun(t, c, &pgproto3.Query{String: set + "; " + ins + "(1, '02/03/2024')"}),
		2: wireRun(t, c, &pgproto3.Query{String: "RESET DateStyle"}) +
			wireRun(t, c, &pgproto3.Parse{Query: set}, &pgproto3.Bind{}, &pgproto3.Execute{},
				&pgproto3.Parse{Query: ins + "(2, '02/03/2024')"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		3: wireRun(t, c, &pgproto3.Query{String: "RESET DateStyle"}) +
			wireRun(t, c, &pgproto3.Parse{Query: set}, &pgproto3.Bind{}, &pgproto3.Execute{},
				&pgproto3.Parse{Query: ins + "($1, $2)"}, &pgproto3.Bind{Parameters: [][]byte{[]byte("3"), []byte("02/03/2024")}}, &pgproto3.Execute{},
				&pgproto3.Sync{}),
		4: wireRun(t, c, &pgproto3.Query{String: "RESET DateStyle"}) +
			wireRun(t, c, &pgproto3.Query{String: set}, &pgproto3.Query{String: ins + "(4, '02/03/2024')"}),
		5: wireRun(t, c, &pgproto3.Query{String: "RESET DateStyle"}) +
			wireRun(t, c, &pgproto3.Query{String: set}, &pgproto3.Query{String: "SELECT id FROM " + tw.enc + " WHERE born = '02/03/2024'"}),
	}
	// Each is refused (0A000) or reads the date as PostgreSQL does (2
	// March); none stores or compares 3 February. A Query pipelined
	// behind the SET's (forms 4 and 5) may be read after the SET was
	// answered, and is then right to run.
	march := ""
	for id := 1; id <= 4; id++ {
		out := forms[id]
		if strings.Contains(out, "E 0A000") {
			continue
		}
		// Stored encrypted: read back through phiguard, in binary (not
		// under the session's DateStyle).
		var born time.Time
		err := tw.via.QueryRow(ctx, "SELECT born FROM "+tw.enc+" WHERE id = $1", pgx.QueryExecModeCacheStatement, id).Scan(&born)
		got := born.Format("2006-01-02")
		if err != nil || got != "2024-03-02" {
			t.Errorf("form %d, a date read in the request of a SET DateStyle: stored %q (%v), want 2024-03-02 or a refusal:\n%s", id, got, err, forms[id])
		}
		march += fmt.Sprintf("D %q\n", strconv.Itoa(id))
	}
	// Form 5 compares: run, it finds exactly the rows stored as 2 March
	// (ids in order of insertion, which a table this small returns).
	if out := forms[5]; !strings.Contains(out, "E 0A000") && !strings.Contains(out, "RowDescription\n"+march+"C SELECT") {
		t.Errorf("form 5, a date compared in the request of a SET DateStyle: want the rows of 2 March (%q) or a refusal:\n%s", march, out)
	}
	// A SET in a request of its own, answered: the next request reads
	// under it.
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	tw.exec(t, "INSERT INTO %s (id, born) VALUES (6, '02/03/2024'), ($1, $2)", pgx.QueryExecModeCacheStatement, 7, "04/05/2024")
	for _, mode := range bothModes {
		want, _ := rowsRaw(t, tw.dir, "SELECT id, born FROM "+tw.plain+" WHERE id > 5 AND born < '01/04/2024' ORDER BY id", mode, 0)
		got, err := rowsRaw(t, tw.via, "SELECT id, born FROM "+tw.enc+" WHERE id > 5 AND born < '01/04/2024' ORDER BY id", mode, 0)
		if err != nil || got != want || !strings.Contains(got, "02/03/2024") {
			t.Errorf("%v: after the SET: through phiguard %v\n%s\ndirectly\n%s", mode, err, got, want)
		}
	}
}
