package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
)

// TestFunctionCallGuarded (issue 10, hole 2): the fast-path FunctionCall
// message used to go to the backend unchecked and unaudited, so dr_alice
// read every patient through query_to_xml, changed search_path through
// set_config, and the researcher read care_teams. Now a role with rules is
// refused (0A000, the session goes on), a role without rules runs it, and
// every call has an audit record. The SQL spellings of the same calls are
// refused in both protocols.
func TestFunctionCallGuarded(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	pol, err := parsePolicy(fx.policyYAML)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewFileSink(audit.FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 20})})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, protect: &guard.Protection{Policy: pol, Keyring: fx.keyring, Subjects: fx.subjects}})
	su := accessSuperuser(t)
	oid := func(sig string) uint32 {
		var o uint32
		if err := su.QueryRow(ctx, "SELECT $1::regprocedure::oid", sig).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	queryToXML, setConfig, plus := oid("query_to_xml(text,boolean,boolean,text)"), oid("set_config(text,text,boolean)"), oid("int4pl(integer,integer)")
	text := func(args ...string) [][]byte {
		out := make([][]byte, len(args))
		for i, a := range args {
			out[i] = []byte(a)
		}
		return out
	}
	attempts := []struct {
		user string
		fn   uint32
		args [][]byte
		sql  string // the same call in SQL
	}{
		{"dr_alice", queryToXML, text("select id, zip from patients", "t", "f", ""), "SELECT query_to_xml('select id, zip from patients', true, false, '')"},
		{"dr_alice", setConfig, text("search_path", "pg_temp, public", "f"), "SELECT set_config('search_path', 'pg_temp, public', false)"},
		{"researcher", queryToXML, text("select clinician, patient from care_teams", "t", "f", ""), "SELECT query_to_xml('select clinician, patient from care_teams', true, false, '')"},
		{"biller", plus, text("2", "3"), ""},
	}
	for _, at := range attempts {
		conn := p.as(t, at.user)
		res, err := functionCall(ctx, conn.PgConn(), at.fn, at.args)
		if err == nil || err.Code != "0A000" || !strings.Contains(err.Message, "FunctionCall") {
			t.Errorf("%s: FunctionCall %d: got %q, %v; want a 0A000 refusal", at.user, at.fn, res, err)
		}
		var path string
		if err := conn.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&path); err != nil || path != `"$user", public` {
			t.Errorf("%s: after the refused call: search_path %q, %v", at.user, path, err)
		}
		for _, mode := range []string{simpleMode, extendedMode} {
			if at.sql == "" {
				continue
			}
			if _, err := queryRows(ctx, conn, mode, at.sql); err == nil {
				t.Errorf("%s/%s: %s ran", at.user, mode, at.sql)
			} else {
				checkRefusal(t, err, "42501", "query_to_xml|set_config", false)
			}
		}
		conn.Close(ctx)
	}

	// A role without rules calls functions as before, audited.
	admin := p.as(t, "admin_ann")
	res, perr := functionCall(ctx, admin.PgConn(), plus, text("2", "3"))
	if perr != nil || string(res) != "5" {
		t.Fatalf("admin_ann: FunctionCall int4pl(2, 3): %q, %v", res, perr)
	}
	admin.Close(ctx)

	waitFor(t, 10e9, "the sessions to end", func() bool { return p.metric(t, "phiguard_proxy_connections_active") == 0 })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, err := audit.Files(dir, "audit")
	if err != nil || len(files) != 1 {
		t.Fatalf("audit files: %v %v", files, err)
	}
	recs, _ := readWants(t, files[0])
	var calls []string
	for _, r := range recs {
		if r.Protocol == "function_call" {
			calls = append(calls, r.Event+"/"+r.Decision+"/"+r.SQLState)
		}
	}
	want := []string{"refusal/deny/0A000", "refusal/deny/0A000", "refusal/deny/0A000", "refusal/deny/0A000", "statement/allow/00000"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("function_call records: %v, want %v", calls, want)
	}
	raw, _ := os.ReadFile(files[0])
	if !strings.Contains(string(raw), fmt.Sprintf("phiguard_function_call_oid_%d", queryToXML)) {
		t.Errorf("the records do not name the function's OID %d", queryToXML)
	}
}

// TestUnknownFrontendMessage: a message type the protocol does not have
// ends the session with 08P01 and never reaches the backend.
func TestUnknownFrontendMessage(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	conn := p.app(t)
	pc := conn.PgConn()
	if _, err := pc.Conn().Write([]byte{'z', 0, 0, 0, 4}); err != nil {
		t.Fatal(err)
	}
	msg, err := pc.Frontend().Receive()
	if err != nil {
		t.Fatal(err)
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || er.Code != "08P01" || er.Severity != "FATAL" || !strings.Contains(er.Message, "invalid frontend message type") {
		t.Fatalf("got %#v, want FATAL 08P01", msg)
	}
}

// functionCall sends one FunctionCall with text arguments and a text
// result, and reads the answer up to ReadyForQuery.
func functionCall(ctx context.Context, pc *pgconn.PgConn, fn uint32, args [][]byte) ([]byte, *pgconn.PgError) {
	fe := pc.Frontend()
	fe.Send(&pgproto3.FunctionCall{Function: fn, ArgFormatCodes: []uint16{0}, Arguments: args, ResultFormatCode: 0})
	if err := fe.Flush(); err != nil {
		return nil, &pgconn.PgError{Code: "send", Message: err.Error()}
	}
	var result []byte
	var perr *pgconn.PgError
	for {
		msg, err := fe.Receive()
		if err != nil {
			return nil, &pgconn.PgError{Code: "receive", Message: err.Error()}
		}
		switch m := msg.(type) {
		case *pgproto3.FunctionCallResponse:
			result = append([]byte(nil), m.Result...)
		case *pgproto3.ErrorResponse:
			perr = pgconn.ErrorResponseToPgError(m)
		case *pgproto3.ReadyForQuery:
			return result, perr
		}
	}
}
