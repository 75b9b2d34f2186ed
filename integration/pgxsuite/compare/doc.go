// Command compare reads the `go test -json` streams of two runs of the same
// test packages — one against PostgreSQL directly, one through phiguard — and
// prints, per package, how many tests passed, failed and were skipped in each
// run, then every test that passed directly but did not pass through phiguard.
//
// A test "did not pass" when it failed, was skipped, or never reported a
// result (its binary panicked or timed out). Skips count: a test that skips
// only through phiguard has lost coverage, and pgx skips on what the server
// reports about itself. Differences named in the -expected file are reported
// with their reason and do not count as failures.
//
// The last line is "pgxsuite: N passed, M failed", where N is the number of
// tests that passed in both runs and M the number of unexplained differences.
// The exit status is 1 when M > 0.
//
// With -direct only, it summarises that run and M is the number of tests that
// failed against PostgreSQL.
package main
