package integration

import (
	"fmt"
	"testing"
)

// TestCountEncryptedAsPostgreSQL: count(col) of an encrypted column, with
// FILTER and GROUP BY a plaintext column, and count(DISTINCT col) of a
// deterministic one give PostgreSQL's answers (Django's Count("ssn"),
// SQLAlchemy's func.count(Patient.birthdate); both were refused with
// 0A000 "function count()"), over NULLs, empty strings and repeated
// values, in both protocols. count(DISTINCT) of a randomized column, whose
// cells all differ, is computed by phiguard, and refused with HAVING.
func TestCountEncryptedAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "count",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"city", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: count-ssn, type: text}"},
		twinColumn{"name", "text", "{mode: randomized, key: count-pii, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: count-pii, type: date}"})
	for _, mode := range bothModes {
		tw.clear(t)
		tw.exec(t, `INSERT INTO %s (id, city, ssn, name, born) VALUES
			(1, 'Oslo', '111', 'Ann', '1980-01-01'), (2, 'Oslo', '111', 'Ann', NULL), (3, 'Lima', '', '', '1990-05-05'),
			(4, 'Lima', NULL, NULL, NULL), (5, 'Oslo', '222', 'Bo', '2000-02-29')`, mode)
		tw.same(t, "SELECT count(ssn), count(name), pg_catalog.count(born), count(DISTINCT ssn), count(*) FROM %s", mode, "counts of encrypted columns")
		tw.same(t, "SELECT city, count(name), count(DISTINCT ssn), count(born) FILTER (WHERE ssn = '111') FROM %s GROUP BY city ORDER BY city", mode, "counts per plaintext group")
		tw.same(t, "SELECT ssn IS NULL, count(born) FROM %s GROUP BY ssn HAVING count(name) > 0 ORDER BY 1, 2", mode, "counts per deterministic group")
		// count(DISTINCT) of a randomized column runs in phiguard
		// (docs/search.md, proxy-side aggregates), also per group; with
		// HAVING it stays refused.
		tw.same(t, "SELECT count(DISTINCT name), count(DISTINCT born) FROM %s", mode, "count(DISTINCT) of randomized columns")
		_, err := tw.via.Exec(testContext(t), fmt.Sprintf("SELECT city, count(DISTINCT name) FROM %s GROUP BY city HAVING count(*) > 0", tw.enc), mode)
		wantPgError(t, err, "0A000")
	}
}
