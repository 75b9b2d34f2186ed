package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
)

// demoSmoke runs `phiguard demo --smoke`'s checks: each one what a user of
// the demo would try in psql, with the outcome compared against the
// Synthea CSV or the database itself. It returns the first failure.
func demoSmoke(ctx context.Context, out io.Writer, d *demoRun) error {
	fmt.Fprintln(out, "\nSmoke checks:")
	for _, c := range []struct {
		name string
		run  func(context.Context, *demoRun) (string, error)
	}{
		{"dr_alice sees her care team only, in plaintext", smokeClinician},
		{"biller sees every SSN masked", smokeBilling},
		{"biller is refused a column billing denies", smokeBillingDenied},
		{"researcher sees pseudonyms", smokeResearch},
		{"PostgreSQL holds ciphertext", smokeAtRest},
	} {
		detail, err := c.run(ctx, d)
		if err != nil {
			fmt.Fprintf(out, "  FAIL %s: %v\n", c.name, err)
			return fmt.Errorf("smoke check %q: %w", c.name, err)
		}
		fmt.Fprintf(out, "  ok   %s: %s\n", c.name, detail)
	}
	return nil
}

// verifyAudit runs `phiguard audit verify --config ... --closed` on the
// demo's audit directory, as the banner tells the user to.
func (d *demoRun) verifyAudit(out io.Writer) error {
	var res, errOut bytes.Buffer
	if code := runAuditVerify([]string{"--config", d.files.Config, "--closed", d.files.Audit}, &res, &errOut); code != 0 {
		return fmt.Errorf("audit verify: %s%s", strings.TrimSpace(res.String()), strings.TrimSpace(errOut.String()))
	}
	fmt.Fprintf(out, "  ok   the audit trail verifies: %s", res.String())
	return nil
}

// rows runs sql in the simple protocol and returns its rows as text, as
// psql shows them (NULL as ""), so the checks see what a user sees.
func rows(ctx context.Context, url, sql string) ([][]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, r := range res[len(res)-1].Rows {
		row := make([]string, len(r))
		for i, v := range r {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	return out, nil
}

func smokeClinician(ctx context.Context, d *demoRun) (string, error) {
	team, err := rows(ctx, d.directURL(demoOwner), "SELECT patient::text FROM care_teams WHERE clinician = 'dr_alice' ORDER BY 1")
	if err != nil {
		return "", err
	}
	got, err := rows(ctx, d.proxyURL("dr_alice"), "SELECT id, ssn, first, last, birthdate FROM patients ORDER BY id")
	if err != nil {
		return "", err
	}
	if len(team) == 0 || len(got) != len(team) {
		return "", fmt.Errorf("%d patients returned, her care team has %d", len(got), len(team))
	}
	csvSSN, err := syntheaSSNs()
	if err != nil {
		return "", err
	}
	for i, r := range got {
		if r[0] != team[i][0] {
			return "", fmt.Errorf("patient %s is not in her care team", r[0])
		}
		if r[1] != csvSSN[r[0]] || strings.HasPrefix(r[2], keys.Prefix) || !regexp.MustCompile(`^\d{4}-\d\d-\d\d$`).MatchString(r[4]) {
			return "", fmt.Errorf("patient %s: a column is not the plaintext (ssn as in the CSV: %t)", r[0], r[1] == csvSSN[r[0]])
		}
	}
	return fmt.Sprintf("%d of %d patients, e.g. %s %s, born %s", len(got), d.counts["patients"], got[0][2], got[0][3], got[0][4]), nil
}

// everyPatient runs sql through phiguard as user, a role with no row rule
// on patients, and checks it returns every patient.
func everyPatient(ctx context.Context, d *demoRun, user, sql string) ([][]string, error) {
	got, err := rows(ctx, d.proxyURL(user), sql)
	if err == nil && int64(len(got)) != d.counts["patients"] {
		err = fmt.Errorf("%d patients returned, want all %d", len(got), d.counts["patients"])
	}
	return got, err
}

var maskedSSN = regexp.MustCompile(`^\*\*\*-\*\*-\d{4}$`)

func smokeBilling(ctx context.Context, d *demoRun) (string, error) {
	got, err := everyPatient(ctx, d, "biller", "SELECT first, last, ssn FROM patients ORDER BY id")
	if err != nil {
		return "", err
	}
	for _, r := range got {
		if !maskedSSN.MatchString(r[2]) {
			return "", fmt.Errorf("%s %s: the SSN is not masked as ***-**-NNNN", r[0], r[1])
		}
	}
	return fmt.Sprintf("%d patients, e.g. %s %s %s", len(got), got[0][0], got[0][1], got[0][2]), nil
}

func smokeBillingDenied(ctx context.Context, d *demoRun) (string, error) {
	_, err := rows(ctx, d.proxyURL("biller"), "SELECT passport FROM patients")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != string(pgerr.InsufficientPrivilege) {
		return "", fmt.Errorf("SELECT passport: want SQLSTATE 42501, got %v", err)
	}
	return fmt.Sprintf("SELECT passport FROM patients: %s %s", pgErr.Code, pgErr.Message), nil
}

func smokeResearch(ctx context.Context, d *demoRun) (string, error) {
	got, err := everyPatient(ctx, d, "researcher", "SELECT id, first, last FROM patients")
	if err != nil {
		return "", err
	}
	for _, r := range got {
		for _, v := range r {
			if !strings.HasPrefix(v, "psn_") {
				return "", errors.New("a value is not a psn_ pseudonym")
			}
		}
	}
	return fmt.Sprintf("%d patients, e.g. id %s", len(got), got[0][0]), nil
}

func smokeAtRest(ctx context.Context, d *demoRun) (string, error) {
	got, err := rows(ctx, d.directURL(demoOwner), "SELECT ssn, first, birthdate FROM patients WHERE ssn IS NOT NULL")
	if err != nil {
		return "", err
	}
	if len(got) == 0 {
		return "", errors.New("no patient has an SSN")
	}
	for _, r := range got {
		if slices.ContainsFunc(r, func(v string) bool { return !strings.HasPrefix(v, keys.Prefix) }) {
			return "", fmt.Errorf("a stored value of ssn, first or birthdate lacks the %s prefix", keys.Prefix)
		}
	}
	return fmt.Sprintf("%d rows of ssn, first and birthdate are %s cells, e.g. ssn %.40s...", len(got), keys.Prefix, got[0][0]), nil
}

// syntheaSSNs maps each patient id of the embedded CSV to its SSN.
func syntheaSSNs() (map[string]string, error) {
	records, err := ehrdemo.Records("patients")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range records {
		out[r["id"]] = r["ssn"]
	}
	return out, nil
}
