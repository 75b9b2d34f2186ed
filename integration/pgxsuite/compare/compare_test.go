package main

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

const module = "github.com/jackc/pgx/v5"

func mustParse(t *testing.T, path string) *Run {
	t.Helper()
	r, err := parseFile(path, module)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	r := mustParse(t, "testdata/proxied.json")

	if want := []string{"pgx", "pgconn"}; !reflect.DeepEqual(r.Packages, want) {
		t.Errorf("Packages = %v, want %v", r.Packages, want)
	}
	want := map[ID]Outcome{
		{"pgx", "TestConnect"}:                 Pass,
		{"pgx", "TestPID"}:                     Fail,
		{"pgx", "TestPgbouncer"}:               Skip,
		{"pgx", "TestFlaky"}:                   Pass,
		{"pgconn", "TestAuth"}:                 Fail,
		{"pgconn", "TestAuth/Unix_socket"}:     Skip,
		{"pgconn", "TestAuth/TLS_client_cert"}: Fail,
		{"pgconn", "TestAuth/SCRAM"}:           Pass,
		{"pgconn", "TestCancel"}:               Missing, // the binary timed out under it
	}
	if !reflect.DeepEqual(r.Tests, want) {
		t.Errorf("Tests =\n%v\nwant\n%v", r.Tests, want)
	}
	if !r.PkgFail["pgx"] || !r.PkgFail["pgconn"] {
		t.Errorf("PkgFail = %v, want both packages failed", r.PkgFail)
	}
	if got, want := r.count("pgconn"), (map[Outcome]int{Pass: 1, Fail: 3, Skip: 1}); !reflect.DeepEqual(got, want) {
		t.Errorf("count(pgconn) = %v, want %v (a test without a result counts as failed)", got, want)
	}
}

func TestParseRejectsMalformedJSON(t *testing.T) {
	_, err := Parse(strings.NewReader("{\"Action\":\"pass\"\n"), module)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v, want a line 1 error", err)
	}
}

func TestShortPackage(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/jackc/pgx/v5":                  "pgx",
		"github.com/jackc/pgx/v5/pgtype/zeronull":  "pgtype/zeronull",
		"github.com/other/thing":                   "github.com/other/thing",
		"github.com/jackc/pgx/v5extra/not-a-child": "github.com/jackc/pgx/v5extra/not-a-child",
	} {
		if got := shortPackage(in, module); got != want {
			t.Errorf("shortPackage(%q) = %q, want %q", in, got, want)
		}
	}
	if got := shortPackage("example.com/tool", "example.com/tool"); got != "tool" {
		t.Errorf("module without a version suffix: got %q", got)
	}
}

func TestNormalizeTest(t *testing.T) {
	in := "TestParseConfigSSLCertMode/servicefile='/tmp/TestParseConfigSSLCertMode2481033304/001/pg_service.conf'_service=test"
	want := "TestParseConfigSSLCertMode/servicefile='/tmp/TestParseConfigSSLCertMode*/001/pg_service.conf'_service=test"
	if got := normalizeTest(in); got != want {
		t.Errorf("normalizeTest = %q, want %q", got, want)
	}
	if got := normalizeTest("TestConnect/Stress_12"); got != "TestConnect/Stress_12" {
		t.Errorf("normalizeTest changed an ordinary name: %q", got)
	}
}

func TestParseExpected(t *testing.T) {
	if _, err := ParseExpected(strings.NewReader("pgx.TestA\n")); err == nil {
		t.Error("a line without a reason was accepted")
	}
	if _, err := ParseExpected(strings.NewReader("pgx.TestA pgx.TestB # two\n")); err == nil {
		t.Error("a line with two tests was accepted")
	}
}

func TestCompare(t *testing.T) {
	f, err := os.Open("testdata/expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exp, err := ParseExpected(f)
	if err != nil {
		t.Fatal(err)
	}
	rep := Compare(mustParse(t, "testdata/direct.json"), mustParse(t, "testdata/proxied.json"), exp)

	got := map[string]string{}
	for _, d := range rep.Differences {
		got[d.ID.String()] = string(d.Proxied) + ": " + d.Reason
	}
	want := map[string]string{
		"pgx.TestPID":                     "fail: ",
		"pgconn.TestAuth":                 "fail: only its expected subtests differ",
		"pgconn.TestAuth/Unix_socket":     "skip: phiguard has no unix socket",
		"pgconn.TestAuth/TLS_client_cert": "fail: client certificates end at phiguard's TLS",
		"pgconn.TestCancel":               "missing: ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Differences =\n%v\nwant\n%v", got, want)
	}
	if rep.Unexplained != 2 || rep.PassedBoth != 2 {
		t.Errorf("Unexplained, PassedBoth = %d, %d; want 2, 2", rep.Unexplained, rep.PassedBoth)
	}
	if len(rep.Improved) != 1 || rep.Improved[0].String() != "pgx.TestFlaky" {
		t.Errorf("Improved = %v, want [pgx.TestFlaky]", rep.Improved)
	}
	if len(rep.Unused) != 1 || rep.Unused[0].Pattern != "pgx.TestNeverDiffers" {
		t.Errorf("Unused = %v", rep.Unused)
	}
}

func TestRunOutput(t *testing.T) {
	var out bytes.Buffer
	failed, err := run(&out, "testdata/direct.json", "testdata/proxied.json", "testdata/expected.txt", module)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("run reported success with unexplained differences")
	}
	s := out.String()
	words := strings.Join(strings.Fields(s), " ")
	for _, want := range []string{
		"pgconn 5/0/0 1/3/1",
		"total 7/1/1 3/4/2",
		"pgconn.TestCancel missing UNEXPLAINED",
		"pgconn.TestAuth/Unix_socket skip expected: phiguard has no unix socket",
	} {
		if !strings.Contains(words, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if lines := strings.Split(strings.TrimSpace(s), "\n"); lines[len(lines)-1] != "pgxsuite: 2 passed, 2 failed" {
		t.Errorf("last line = %q", lines[len(lines)-1])
	}
}
