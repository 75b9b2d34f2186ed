package ehrdemo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
)

// Generated says how many rows Generate made.
type Generated struct {
	Patients, Encounters int64
}

// Generate creates the demo schema, loads the sample's organizations,
// providers and payers, and fills patients and encounters with synthetic
// rows in the Synthea shape: patients of them, and encountersPer encounters
// each, pointing at the sample's providers. Rows are a pure function of
// seed (same seed, same rows) and are streamed with COPY, so 100,000
// patients take seconds. Every name, number and address is made up (Synthea
// style: "Given123 Family456"); no real person's data.
func Generate(ctx context.Context, conn *pgx.Conn, patients, encountersPer int, seed uint64) (Generated, error) {
	var g Generated
	if _, err := conn.PgConn().Exec(ctx, schemaSQL).ReadAll(); err != nil {
		return g, fmt.Errorf("ehrdemo: create schema: %w", err)
	}
	for _, t := range []string{"organizations", "providers", "payers"} {
		if _, err := CopyTable(ctx, conn, t); err != nil {
			return g, fmt.Errorf("ehrdemo: load %s: %w", t, err)
		}
	}
	var refs []string // "org\tprovider"
	rows, err := conn.Query(ctx, "SELECT organization::text || E'\\t' || id::text FROM public.providers ORDER BY id")
	if err != nil {
		return g, err
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return g, err
		}
		refs = append(refs, s)
	}
	if err := rows.Err(); err != nil {
		return g, err
	}
	var payer string
	if err := conn.QueryRow(ctx, "SELECT id::text FROM public.payers ORDER BY id LIMIT 1").Scan(&payer); err != nil {
		return g, err
	}

	tag, err := conn.PgConn().CopyFrom(ctx, generated(func(w *bufio.Writer) { writePatients(w, patients, seed) }),
		"COPY public.patients (id, birthdate, deathdate, ssn, drivers, passport, prefix, first, last, suffix, maiden, marital, race, ethnicity, gender, "+
			"birthplace, address, city, state, county, fips, zip, lat, lon, healthcare_expenses, healthcare_coverage, income) FROM STDIN")
	if err != nil {
		return g, fmt.Errorf("ehrdemo: generate patients: %w", err)
	}
	g.Patients = tag.RowsAffected()
	tag, err = conn.PgConn().CopyFrom(ctx, generated(func(w *bufio.Writer) { writeEncounters(w, patients, encountersPer, seed, refs, payer) }),
		"COPY public.encounters (id, start, stop, patient, organization, provider, payer, encounterclass, code, description, "+
			"base_encounter_cost, total_claim_cost, payer_coverage, reasoncode, reasondescription) FROM STDIN")
	if err != nil {
		return g, fmt.Errorf("ehrdemo: generate encounters: %w", err)
	}
	g.Encounters = tag.RowsAffected()
	if _, err := conn.Exec(ctx, "ANALYZE public.patients, public.encounters"); err != nil {
		return g, err
	}
	return g, nil
}

// generated streams what fill writes, through a pipe.
func generated(fill func(*bufio.Writer)) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<16)
		fill(w)
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

// GeneratedPatientID is the id of generated patient i (0-based).
func GeneratedPatientID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}

var (
	givenNames  = []string{"Alice", "Bob", "Carmen", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Keiko", "Luis"}
	familyNames = []string{"Gleason", "Kohler", "Nguyen", "O'Brien", "Schmidt", "Okafor", "Larsen", "Moreau", "Tanaka", "Silva"}
	streets     = []string{"Kohler Camp", "Maple Ave", "Harbor Rd", "Oak Street", "Pine Ct", "Elm Way"}
	cities      = []string{"Lincoln", "Omaha", "Kearney", "Grand Island", "Norfolk"}
)

func writePatients(w *bufio.Writer, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < n; i++ {
		gender := "F"
		if r.IntN(2) == 0 {
			gender = "M"
		}
		birth := fmt.Sprintf("%04d-%02d-%02d", 1920+r.IntN(104), 1+r.IntN(12), 1+r.IntN(28))
		maiden := `\N`
		if gender == "F" && r.IntN(3) == 0 {
			maiden = familyNames[r.IntN(len(familyNames))] + fmt.Sprint(r.IntN(1000))
		}
		passport := `\N`
		if r.IntN(2) == 0 {
			passport = fmt.Sprintf("X%08dX", i)
		}
		city := cities[r.IntN(len(cities))]
		fmt.Fprintf(w, "%s\t%s\t\\N\t999-%02d-%04d\tS%08d\t%s\t\\N\t%s%d\t%s%d\t\\N\t%s\tM\twhite\tnonhispanic\t%s\t%s  Nebraska  US\t%d %s\t%s\tNebraska\tLancaster County\t31109\t68504\t40.%d\t-96.%d\t%d.%02d\t0.00\t%d\n",
			GeneratedPatientID(i), birth, (i/10000)%100, i%10000, i, passport,
			givenNames[r.IntN(len(givenNames))], r.IntN(1000), familyNames[r.IntN(len(familyNames))], r.IntN(1000),
			maiden, gender, city, 1+r.IntN(999), streets[r.IntN(len(streets))], city,
			r.IntN(1e6), r.IntN(1e6), r.IntN(100000), r.IntN(100), 20000+r.IntN(100000))
	}
}

func writeEncounters(w *bufio.Writer, patients, per int, seed uint64, refs []string, payer string) {
	r := rand.New(rand.NewPCG(seed, 2))
	classes := []string{"wellness", "ambulatory", "outpatient", "emergency"}
	n := 0
	for i := 0; i < patients; i++ {
		for j := 0; j < per; j++ {
			ref := refs[r.IntN(len(refs))]
			day := fmt.Sprintf("%04d-%02d-%02d", 2000+r.IntN(24), 1+r.IntN(12), 1+r.IntN(28))
			fmt.Fprintf(w, "%s\t%sT07:13:55Z\t%sT07:28:55Z\t%s\t%s\t%s\t%s\t410620009\tWell child visit (procedure)\t83.87\t%d.%02d\t0.00\t\\N\t\\N\n",
				fmt.Sprintf("00000000-0000-4000-9000-%012d", n), day, day, GeneratedPatientID(i),
				ref, payer, classes[r.IntN(len(classes))], r.IntN(2000), r.IntN(100))
			n++
		}
	}
}
